import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { REWARD_LIMITS } from "../../../lib/sandbox/limits.ts";
import { sandboxStatus } from "../../../lib/sandbox/os-sandbox.ts";
import { RewardWorker, RUNNER } from "./worker.ts";
import type { JobOutcome } from "./worker.ts";

/** The largest reward magnitude the training code takes; beyond it (like NaN) a score counts 0, with an error. */
export const MAX_ABS_REWARD = 1e6;

export type RewardItem = { completion: string; ground_truth: string };

export type ScoreResult = {
  scores: number[];
  /** Per item: why it scored 0 by failure, or null. */
  errors: Array<string | null>;
  /** The module itself failed to load (every item scored 0). */
  loadError?: string;
  /** What the reward code printed (stdout and stderr), trimmed. */
  output: string;
  ms: number;
  isolation: Isolation;
};

/** Which sandbox scored: the OS sandbox, or the audit-hook fallback (not a boundary) where it is missing. */
export type Isolation = "os-sandbox" | "audit-hook+unshare" | "audit-hook";

/** One line for results and logs: which sandbox ran, and for the fallback why and what it is not. */
export function describeIsolation(i: Isolation): string {
  if (i === "os-sandbox") return "OS sandbox (bubblewrap: no network, no secrets, writes only to its /tmp, child processes allowed)";
  const status = sandboxStatus();
  const why = status.available ? "" : ` because ${status.reason}`;
  return `audit-hook fallback${why} — NOT a security boundary; no child processes, standard library only`;
}

export type SandboxOptions = {
  python?: string;
  itemTimeoutSec?: number;
  /** After this many timed-out items, the rest of the batch is skipped (scored 0). */
  maxTimeouts?: number;
  memoryBytes?: number;
  /** Use the audit-hook runner even where the OS sandbox works (benchmarks' anchor only). */
  forceFallback?: boolean;
};

let unshareWorks: boolean | undefined;

/** Whether `unshare -n` can give the reward process a network namespace of its own. */
export function networkIsolationAvailable(): boolean {
  if (unshareWorks === undefined) {
    const r = spawnSync("unshare", ["-n", "true"], { stdio: "ignore", timeout: 5000 });
    unshareWorks = r.status === 0;
  }
  return unshareWorks;
}

/**
 * Runs untrusted `compute_reward` code. Where the OS sandbox works: in one persistent
 * sandboxed worker per session (no network, no secrets, writes only to its private
 * /tmp, the user's Python packages, child processes inside every limit). Elsewhere the
 * fallback: a python3 process per batch with a clean environment, rlimits, `unshare -n`
 * where the kernel allows, and an audit hook. Any failure scores 0 with its reason.
 */
export class RewardSandbox {
  private readonly python: string;
  private readonly itemTimeoutSec: number;
  private readonly maxTimeouts: number;
  private readonly memoryBytes: number;
  private readonly worker: RewardWorker | undefined;

  constructor(opts: SandboxOptions = {}) {
    this.python = opts.python ?? process.env.TINKERLOOP_PYTHON ?? "python3";
    this.itemTimeoutSec = opts.itemTimeoutSec ?? REWARD_LIMITS.itemTimeoutSec;
    this.maxTimeouts = opts.maxTimeouts ?? REWARD_LIMITS.maxTimeouts;
    this.memoryBytes = opts.memoryBytes ?? REWARD_LIMITS.process.memoryBytes;
    this.worker = sandboxStatus().available && !opts.forceFallback ? new RewardWorker(this.python) : undefined;
  }

  /** Which sandbox this instance scores in. */
  get isolation(): Isolation {
    if (this.worker) return "os-sandbox";
    return networkIsolationAvailable() ? "audit-hook+unshare" : "audit-hook";
  }

  /** Stops the persistent worker, if any. */
  close(): void {
    this.worker?.close();
  }

  /** Static check (syntax, the function's signature); returns the problem or undefined. */
  async check(code: string): Promise<string | undefined> {
    const lines = await this.run({ mode: "check", code, items: [] }, 20_000);
    const first = lines.records[0];
    if (!first) return `the reward check could not run (${lines.failure ?? "no answer"})`;
    return first.type === "invalid" ? String(first.error) : undefined;
  }

  async score(code: string, items: RewardItem[]): Promise<ScoreResult> {
    const started = Date.now();
    const wallMs = 20_000 + items.length * 20 + this.itemTimeoutSec * 1000 * (this.maxTimeouts + 2);
    const res = await this.run(
      {
        mode: "score",
        code,
        items,
        item_timeout: this.itemTimeoutSec,
        max_timeouts: this.maxTimeouts,
        memory_bytes: this.memoryBytes,
        cpu_seconds: Math.ceil(wallMs / 1000),
      },
      wallMs,
    );
    const scores = items.map(() => 0);
    const errors: Array<string | null> = items.map(() => null);
    const seen = new Set<number>();
    let loadError: string | undefined;
    for (const r of res.records) {
      if (r.type === "invalid" || r.type === "load_error" || r.type === "failed") loadError = String(r.error);
      if (r.type === "score" && typeof r.i === "number" && r.i >= 0 && r.i < items.length) {
        const inRange = typeof r.score === "number" && Number.isFinite(r.score) && Math.abs(r.score) <= MAX_ABS_REWARD;
        scores[r.i] = inRange ? (r.score as number) : 0;
        errors[r.i] =
          typeof r.error === "string"
            ? r.error.slice(0, 500)
            : inRange
              ? null
              : `returned ${String(r.score).slice(0, 40)}, outside the range ±${MAX_ABS_REWARD} rewards may take (scored 0)`;
        seen.add(r.i);
      }
    }
    for (let i = 0; i < items.length; i++) {
      if (seen.has(i)) continue;
      errors[i] = loadError
        ? `the reward module failed to load: ${loadError}`
        : `the reward process ended before scoring this item (${res.failure ?? "no result"})`;
    }
    return {
      scores,
      errors,
      ...(loadError ? { loadError } : {}),
      output: res.output,
      ms: Date.now() - started,
      isolation: this.isolation,
    };
  }

  private run(job: Record<string, unknown>, wallMs: number): Promise<JobOutcome> {
    return this.worker ? this.worker.run(job, wallMs) : this.runFallback(job, wallMs);
  }

  /** The audit-hook runner: one process per batch (see runner.py; not a boundary). */
  private runFallback(job: Record<string, unknown>, wallMs: number): Promise<JobOutcome> {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "tl-reward-"));
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8", HOME: cwd, PYTHONDONTWRITEBYTECODE: "1", PYTHONIOENCODING: "utf-8" };
    const argv = [this.python, "-I", "-S", RUNNER];
    const [cmd, ...args] = networkIsolationAvailable() ? ["unshare", "-n", "--", ...argv] : argv;
    return new Promise((resolve) => {
      const child = spawn(cmd!, args, { cwd, env, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let output = "";
      let killedForTime = false;
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
      child.stderr.on("data", (c: Buffer) => {
        if (output.length < 8000) output += c.toString("utf8");
      });
      const timer = setTimeout(() => {
        killedForTime = true;
        child.kill("SIGKILL");
      }, wallMs);
      child.on("error", (err) => {
        clearTimeout(timer);
        fs.rmSync(cwd, { recursive: true, force: true });
        resolve({ records: [], output, failure: `could not start ${this.python}: ${err.message}` });
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        fs.rmSync(cwd, { recursive: true, force: true });
        const records: Array<Record<string, unknown>> = [];
        for (const line of stdout.split("\n")) {
          if (!line.trim()) continue;
          try {
            const v = JSON.parse(line) as unknown;
            if (v && typeof v === "object") records.push(v as Record<string, unknown>);
          } catch {
            // A line we cannot read is ignored; its item scores 0 as unscored.
          }
        }
        const done = records.some((r) => r.type === "done" || r.type === "valid" || r.type === "invalid" || r.type === "load_error");
        const failure = done
          ? undefined
          : killedForTime
            ? `killed after the ${Math.round(wallMs / 1000)}s limit`
            : signal
              ? `killed by ${signal} (memory or CPU limit?)`
              : `exit code ${code}`;
        resolve({ records, output: output.trim(), ...(failure ? { failure } : {}) });
      });
      child.stdin.on("error", () => {
        // The child may die before reading its job; the close handler reports it.
      });
      child.stdin.end(JSON.stringify(job));
    });
  }
}

import path from "node:path";
import { REWARD_LIMITS } from "../../../lib/sandbox/limits.ts";
import { sandboxPath, sandboxStatus, spawnSandboxed } from "../../../lib/sandbox/os-sandbox.ts";
import type { SandboxedProcess } from "../../../lib/sandbox/os-sandbox.ts";

export const RUNNER = path.join(import.meta.dirname, "runner.py");
/** The runner and the sibling modules it imports: each must be visible inside the OS sandbox. */
const RUNNER_FILES = [
  RUNNER,
  ...["runner_scoring.py", "runner_reaper.py", "runner_serve.py", "runner_fallback.py"].map((f) => path.join(import.meta.dirname, f)),
];

export type WorkerRecord = Record<string, unknown>;
export type JobOutcome = { records: WorkerRecord[]; output: string; failure?: string };

const TERMINAL = new Set(["done", "valid", "invalid", "load_error", "failed"]);
const START_TIMEOUT_MS = 20_000;

type Pending = { id: number; records: WorkerRecord[]; output: string; resolve: (o: JobOutcome) => void; timer: NodeJS.Timeout; wallMs: number };

/**
 * One persistent reward worker in the OS sandbox (`runner.py --serve`), so a batch costs
 * a fork inside the sandbox instead of a sandbox and an interpreter. Jobs run one at a
 * time. A job past its wall limit kills the whole sandbox (every process in it); a
 * dead worker fails its job and the next job starts a fresh one.
 */
export class RewardWorker {
  private proc: SandboxedProcess | undefined;
  private starting: Promise<string | undefined> | undefined;
  private stdoutBuf = "";
  private pending: Pending | undefined;
  private nextId = 1;
  private onReady: ((problem: string | undefined) => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly python: string) {}

  /** Runs one job; never throws (failures come back in `failure`). */
  run(job: Record<string, unknown>, wallMs: number): Promise<JobOutcome> {
    const result = this.queue.then(() => this.runNow(job, wallMs));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async runNow(job: Record<string, unknown>, wallMs: number): Promise<JobOutcome> {
    const problem = await this.ensureStarted();
    const proc = this.proc;
    if (problem || !proc) return { records: [], output: "", failure: problem ?? "the reward worker is not running" };
    const id = this.nextId++;
    return new Promise<JobOutcome>((resolve) => {
      const timer = setTimeout(() => {
        // The wall limit does not move for progress or output: the whole sandbox goes.
        this.finish({ failure: `killed after the ${Math.round(wallMs / 1000)}s limit` });
        proc.kill();
      }, wallMs);
      this.pending = { id, records: [], output: "", resolve, timer, wallMs };
      this.setRef(true);
      proc.child.stdin.write(`${JSON.stringify({ ...job, id })}\n`);
    });
  }

  private ensureStarted(): Promise<string | undefined> {
    if (this.proc && this.starting) return this.starting;
    const status = sandboxStatus();
    if (!status.available) return Promise.resolve(`the OS sandbox is not available: ${status.reason}`);
    const proc = spawnSandboxed({
      argv: [this.python, "-E", RUNNER, "--serve"],
      cwd: "/tmp",
      env: { PATH: sandboxPath(status), LANG: "C.UTF-8", HOME: "/tmp", TMPDIR: "/tmp", PYTHONDONTWRITEBYTECODE: "1", PYTHONIOENCODING: "utf-8" },
      readable: RUNNER_FILES,
      limits: REWARD_LIMITS.process,
    });
    this.proc = proc;
    this.stdoutBuf = "";
    proc.child.stdout.setEncoding("utf8");
    proc.child.stdout.on("data", (chunk: string) => this.onStdout(chunk));
    proc.child.stderr.setEncoding("utf8");
    proc.child.stderr.on("data", (chunk: string) => {
      const p = this.pending;
      if (p && p.output.length < REWARD_LIMITS.outputChars) p.output += chunk.slice(0, REWARD_LIMITS.outputChars - p.output.length);
    });
    proc.child.stdin.on("error", () => {
      // The worker died; the exit handler reports it.
    });
    this.starting = new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.onReady = undefined;
        proc.kill();
        resolve(`the reward worker did not start within ${START_TIMEOUT_MS / 1000}s`);
      }, START_TIMEOUT_MS);
      this.onReady = (problem) => {
        clearTimeout(timer);
        this.onReady = undefined;
        resolve(problem);
      };
    });
    void proc.exited.then(({ code, signal }) => {
      if (this.proc !== proc) return;
      this.proc = undefined;
      this.starting = undefined;
      const why = `the reward worker ended (${signal ? `signal ${signal}` : `exit code ${code}`})`;
      this.onReady?.(why);
      this.finish({ failure: why });
    });
    return this.starting;
  }

  private onStdout(chunk: string): void {
    const lines = (this.stdoutBuf + chunk).split("\n");
    this.stdoutBuf = lines.pop() ?? "";
    for (const line of lines) {
      let rec: WorkerRecord;
      try {
        rec = JSON.parse(line) as WorkerRecord;
      } catch {
        continue; // a line we cannot read: its item is reported unscored
      }
      if (!rec || typeof rec !== "object") continue;
      if (rec.type === "ready") {
        this.onReady?.(undefined);
        this.setRef(false);
        continue;
      }
      const p = this.pending;
      if (!p || rec.id !== p.id) continue;
      p.records.push(rec);
      if (TERMINAL.has(String(rec.type))) this.finish({});
    }
    // A line without an end is a worker gone wrong; do not let it grow without bound.
    if (this.stdoutBuf.length > 1_000_000) this.stdoutBuf = "";
  }

  private finish(o: { failure?: string }): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    this.setRef(false);
    p.resolve({ records: p.records, output: p.output.trim(), ...(o.failure ? { failure: o.failure } : {}) });
  }

  /** An idle worker must not keep the server process alive. */
  private setRef(on: boolean): void {
    const c = this.proc?.child;
    if (!c) return;
    for (const s of [c, c.stdout, c.stderr, c.stdin] as Array<{ ref?: () => void; unref?: () => void }>) (on ? s.ref : s.unref)?.call(s);
  }

  /** Stops the worker (and everything in its sandbox). */
  close(): void {
    const proc = this.proc;
    this.proc = undefined;
    this.starting = undefined;
    this.finish({ failure: "the reward worker was stopped" });
    proc?.kill();
  }
}

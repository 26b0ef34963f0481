/**
 * Weights & Biases, when the user asks for it: a Python worker on the official `wandb`
 * package, fed from the run's transcript as it grows (the same events the report
 * folds). Nothing W&B does can stop a run: a worker that cannot start, a refused key,
 * a dead connection — each is one line on the terminal, and the run goes on.
 */
import { spawn } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { z } from "zod";
import { UserError } from "../core/errors.ts";
import { ReportFolder } from "../report/model.ts";
import { readSummary } from "../report/report.ts";
import { runLayout } from "../../lib/run-layout.ts";
import { TranscriptTail } from "../report/tail.ts";
import { WandbFeed } from "./feed.ts";
import type { WandbChoice, WandbMessage } from "./feed.ts";

const WORKER = path.join(import.meta.dirname, "worker.py");

export const WANDB_TIMING = {
  /** How often the transcript is read for new metrics. */
  pollMs: 2000,
  /** How long the end of a run waits for W&B to flush (the predecessor's WANDB_FINISH_TIMEOUT). */
  finishMs: 120_000,
};

/** The worker sees the W&B settings and nothing else of the harness's environment. */
const PASS_ENV = ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"];
const passes = (k: string) => PASS_ENV.includes(k) || k.startsWith("WANDB_");

const projectName = z
  .string()
  .trim()
  .min(1, "--wandb needs a project name")
  .max(128, "a W&B project name has at most 128 characters")
  .regex(/^[^/\\#?%:]+$/, "a W&B project name cannot contain / \\ # ? % or :");

/**
 * Whether the user asked for W&B: `--wandb <project>`, or WANDB_PROJECT together with
 * WANDB_API_KEY in the environment. Returns the project and run name they chose.
 */
export function wandbRequested(flag: string | undefined, env: Record<string, string | undefined>): WandbChoice | undefined {
  const named = flag ?? (env.WANDB_PROJECT && env.WANDB_API_KEY ? env.WANDB_PROJECT : undefined);
  if (named === undefined) return undefined;
  const p = projectName.safeParse(named);
  if (!p.success)
    throw new UserError(`${flag !== undefined ? "--wandb" : "WANDB_PROJECT"} "${named}": ${p.error.issues[0]?.message}.`, "e.g. --wandb my-project");
  return { project: p.data, ...(env.WANDB_NAME ? { name: env.WANDB_NAME } : {}) };
}

const reply = z.looseObject({
  op: z.string(),
  ok: z.boolean(),
  error: z.string().optional(),
  url: z.string().nullable().optional(),
  version: z.string().optional(),
});

const printable = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ").slice(0, 300);

export type WandbLoggerOptions = {
  runDir: string;
  choice: WandbChoice;
  env: Record<string, string | undefined>;
  out: (line: string) => void;
  python?: string;
  workerPath?: string;
  pollMs?: number;
  finishMs?: number;
};

export class WandbLogger {
  private child: ChildProcessWithoutNullStreams | undefined;
  private off: string | undefined;
  private readonly tail: TranscriptTail;
  private readonly folder = new ReportFolder();
  private readonly feed: WandbFeed;
  private readonly timer: NodeJS.Timeout;
  private stderrTail = "";
  private finished: (() => void) | undefined;
  /** Set once finish() has sent the last messages: the worker's exit is then expected. */
  private closing = false;

  private constructor(private readonly o: WandbLoggerOptions) {
    this.tail = new TranscriptTail(runLayout(o.runDir).transcript);
    this.feed = new WandbFeed(o.choice);
    this.spawnWorker();
    this.timer = setInterval(() => this.pump(), o.pollMs ?? WANDB_TIMING.pollMs);
    this.timer.unref();
  }

  static start(o: WandbLoggerOptions): WandbLogger {
    return new WandbLogger(o);
  }

  private spawnWorker(): void {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.o.env)) if (v !== undefined && passes(k)) env[k] = v;
    const python = this.o.python ?? this.o.env.TINKERLOOP_PYTHON ?? "python3";
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(python, ["-u", this.o.workerPath ?? WORKER], { env, stdio: ["pipe", "pipe", "pipe"] });
    } catch (err) {
      this.turnOff(`could not start ${python} (${(err as Error).message})`);
      return;
    }
    this.child = child;
    child.on("error", (err) => this.turnOff(`could not start ${python} (${err.message})`));
    child.stdin.on("error", () => {
      // The exit handler says why the worker went away.
    });
    child.stderr.on("data", (c: Buffer) => {
      this.stderrTail = (this.stderrTail + c.toString()).slice(-2000);
    });
    readline.createInterface({ input: child.stdout }).on("line", (line) => this.onLine(line));
    child.on("exit", (code, signal) => {
      this.child = undefined;
      this.finished?.();
      if (this.off === undefined && !this.closing) {
        const last = this.stderrTail.trim().split("\n").at(-1);
        this.turnOff(`the W&B worker exited (${signal ?? `code ${code}`})${last ? `: ${last}` : ""}`);
      }
    });
  }

  private onLine(line: string): void {
    let r: z.infer<typeof reply>;
    try {
      r = reply.parse(JSON.parse(line));
    } catch {
      return; // the wandb package's own chatter on stdout
    }
    if (!r.ok) this.turnOff(r.error ?? `${r.op} failed`);
    else if (r.op === "init") this.o.out(`W&B: logging to ${printable(r.url ?? "(no URL reported)")}`);
    else if (r.op === "finish") this.finished?.();
  }

  private turnOff(why: string): void {
    if (this.off !== undefined) return;
    this.off = why;
    this.o.out(`W&B: ${printable(why)}; the run goes on without W&B.`);
    this.child?.kill("SIGKILL");
    this.finished?.();
  }

  private send(messages: WandbMessage[]): void {
    if (this.off !== undefined || !this.child) return;
    for (const m of messages) this.child.stdin.write(`${JSON.stringify(m)}\n`);
  }

  private pump(): void {
    if (this.off !== undefined) return;
    this.folder.applyAll(this.tail.poll());
    this.send(this.feed.next(this.folder.m));
  }

  /** Sends what is left, the summary and finish; waits for W&B to flush, within a bound. */
  async finish(): Promise<void> {
    clearInterval(this.timer);
    if (this.off !== undefined || !this.child) return;
    this.folder.applyAll(this.tail.poll());
    this.closing = true;
    const done = new Promise<void>((resolve) => (this.finished = resolve));
    this.send(this.feed.close(this.folder.m, readSummary(this.o.runDir)));
    this.child.stdin.end();
    const ms = this.o.finishMs ?? WANDB_TIMING.finishMs;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), ms)));
    const r = await Promise.race([done, late]);
    clearTimeout(timer);
    if (r === "late") this.turnOff(`W&B did not finish within ${Math.round(ms / 1000)}s (what was logged before is kept by W&B)`);
  }
}

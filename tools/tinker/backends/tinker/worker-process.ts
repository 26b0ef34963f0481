import { spawn } from "node:child_process";
import { once } from "node:events";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import type { z } from "zod";
import { BackendError } from "../../backend.ts";
import { LineSplitter } from "./line-splitter.ts";
import { MAX_LINE_BYTES, STREAMED_PARAM, workerLine } from "./wire.ts";

const WORKER = path.join(import.meta.dirname, "worker.py");

/** How long each worker method may take before the client gives up on it (seconds). */
const TIMEOUTS: Record<string, number> = {
  open: 1900,
  sample: 700,
  train_supervised: 1000,
  eval_supervised: 1000,
  train_policy: 1000,
  stage_advantages: 120,
  forward_backward: 1000,
  optim_step: 1000,
  save_state: 1600,
  load_state: 1600,
  delete_state: 700,
  close: 30,
};

/** About how many characters of request lines go to the worker's stdin in one write. */
const WRITE_CHUNK_CHARS = 64 * 1024;

/** Only what the worker needs (and the SDK's own TINKER_* settings): never the planner's keys. */
const PASS_ENV = ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "HF_TOKEN", "HF_HOME", "HF_HUB_OFFLINE"];
const passes = (k: string) => PASS_ENV.includes(k) || k.startsWith("TINKER_");

type Pending = {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  method: string;
  items: unknown[];
  /** Takes each streamed item as it arrives instead of keeping it (groups as they complete). */
  onItem?: (item: unknown) => void;
  received: number;
};

export type WorkerProcessOptions = {
  env: Record<string, string | undefined>;
  python?: string;
  /** Another worker script (tests use one that misbehaves). */
  workerPath?: string;
  timeouts?: Partial<Record<string, number>>;
  /** The longest line the worker may send (tests lower it). */
  maxLineBytes?: number;
};

/**
 * The Python worker process and its JSON-lines protocol (wire.ts): requests out in the
 * order they are made, answers and streamed items matched to them by id. A worker that
 * dies or overruns a call is killed and started again on the next request; `lost` is told
 * why (the remote session the worker held is gone).
 */
export class WorkerProcess {
  private child: ChildProcessWithoutNullStreams | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private stderrTail = "";

  constructor(
    private readonly opts: WorkerProcessOptions,
    private readonly lost: (why: string) => void,
  ) {}

  /** Whether a worker process is running. */
  get running(): boolean {
    return this.child !== undefined;
  }

  /** The running worker's process, if any. */
  get process(): ChildProcessWithoutNullStreams | undefined {
    return this.child;
  }

  /** Kills the worker; its exit is not reported as a loss. */
  stop(): void {
    this.child?.kill();
    this.child = undefined;
  }

  private start(): ChildProcessWithoutNullStreams {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.opts.env)) if (v !== undefined && passes(k)) env[k] = v;
    const child = spawn(this.opts.python ?? this.opts.env.TINKERLOOP_PYTHON ?? "python3", ["-u", this.opts.workerPath ?? WORKER], {
      env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    child.stderr.on("data", (c: Buffer) => {
      this.stderrTail = (this.stderrTail + c.toString()).slice(-4000);
    });
    const max = this.opts.maxLineBytes ?? MAX_LINE_BYTES;
    const lines = new LineSplitter(
      max,
      (line) => this.onLine(line),
      (bytes) => this.failAll(`The Tinker worker sent a line of more than ${bytes} bytes (limit ${max}); it is restarted.`),
    );
    child.stdout.on("data", (c: Buffer) => lines.push(c));
    child.on("exit", (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      const why = `the Tinker worker exited (${signal ?? `code ${code}`})${this.stderrTail.trim() ? `: ${this.stderrTail.trim().split("\n").slice(-3).join(" | ")}` : ""}`;
      this.lost(why);
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new BackendError(`${why}. The remote training session was lost; load your last checkpoint to continue.`, "worker_died"));
        this.pending.delete(id);
      }
    });
    child.stdin.on("error", () => {
      // The exit handler reports a worker that died before reading.
    });
    this.child = child;
    return child;
  }

  /** Fails every waiting call and restarts the worker next time (it can no longer be trusted). */
  private failAll(message: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new BackendError(message, "bad_response"));
      this.pending.delete(id);
    }
    this.child?.kill("SIGKILL");
  }

  private onLine(line: string): void {
    let parsed: ReturnType<typeof workerLine.safeParse> | undefined;
    try {
      parsed = workerLine.safeParse(JSON.parse(line));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) return this.failAll(`The Tinker worker sent an unreadable line (${line.slice(0, 120)}).`);
    const msg = parsed.data;
    const p = msg.id !== null ? this.pending.get(msg.id) : undefined;
    if (!p || msg.id === null) return;
    if ("item" in msg) {
      p.received++;
      if (!p.onItem) p.items.push(msg.item);
      else {
        try {
          p.onItem(msg.item);
        } catch (err) {
          // A malformed item fails the call; the rest of its lines are ignored.
          clearTimeout(p.timer);
          this.pending.delete(msg.id);
          p.reject(err as Error);
        }
      }
      return;
    }
    clearTimeout(p.timer);
    this.pending.delete(msg.id);
    if (!msg.ok) return p.reject(new BackendError(`Tinker ${p.method} failed (${msg.error.type}): ${msg.error.message}`, msg.error.type));
    if (msg.streamed) {
      if (p.received !== msg.streamed.count)
        return p.reject(
          new BackendError(`The Tinker worker announced ${msg.streamed.count} ${msg.streamed.field} but sent ${p.items.length}.`, "bad_response"),
        );
      return p.resolve({ ...msg.result, [msg.streamed.field]: p.items });
    }
    p.resolve(msg.result);
  }

  /** One request to the worker, its answer checked against `shape`; `onItem` takes streamed items as they come. */
  async call<S extends z.ZodType>(method: string, params: Record<string, unknown>, shape: S, onItem?: (item: unknown) => void): Promise<z.infer<S>> {
    const raw = await this.request<unknown>(method, params, onItem);
    const parsed = shape.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new BackendError(
        `The Tinker worker's answer to ${method} is malformed (${issue ? `${issue.path.join(".") || "answer"}: ${issue.message}` : "unexpected shape"}).`,
        "bad_response",
      );
    }
    return parsed.data;
  }

  /** One request to the worker, with the method's timeout; its list parameter goes one element a line. */
  async request<T>(method: string, params: Record<string, unknown>, onItem?: (item: unknown) => void): Promise<T> {
    const child = this.child ?? this.start();
    const id = ++this.nextId;
    const seconds = this.opts.timeouts?.[method] ?? TIMEOUTS[method] ?? 600;
    const field = STREAMED_PARAM[method];
    const items = field && Array.isArray(params[field]) ? (params[field] as unknown[]) : undefined;
    const head = items ? { id, method, params: { ...params, [field!]: undefined }, items: { field, count: items.length } } : { id, method, params };
    const answer = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new BackendError(`Tinker ${method} did not answer within ${seconds}s; the worker is restarted and its session lost.`, "timeout"));
        this.lost(`a ${method} call timed out`);
        child.kill("SIGKILL");
      }, seconds * 1000);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, method, items: [], received: 0, ...(onItem ? { onItem } : {}) });
    });
    // The answer may fail while its lines are still queued behind another call's: it is awaited below.
    answer.catch(() => undefined);
    await this.send(child, [JSON.stringify(head), ...(items ?? []).map((item) => JSON.stringify({ id, item }))]);
    return answer;
  }

  /**
   * Writes a request's lines after the requests before it (calls in flight at once must not
   * interleave their item lines, and the worker submits them in the order they arrive).
   */
  private send(child: ChildProcessWithoutNullStreams, lines: string[]): Promise<void> {
    const done = this.writing.then(() => this.write(child, lines));
    this.writing = done.catch(() => undefined);
    return done;
  }

  private writing: Promise<void> = Promise.resolve();

  /**
   * Writes lines in chunks of about WRITE_CHUNK_CHARS (a thousand one-rollout lines are one
   * write, not a thousand), waiting for the pipe to drain when it is full (a large batch
   * never sits in memory twice).
   */
  private async write(child: ChildProcessWithoutNullStreams, lines: string[]): Promise<void> {
    let chunk = "";
    for (let k = 0; k < lines.length; k++) {
      chunk += `${lines[k]}\n`;
      if (chunk.length < WRITE_CHUNK_CHARS && k + 1 < lines.length) continue;
      if (child.exitCode !== null || child.signalCode !== null || child.stdin.destroyed) return;
      const full = !child.stdin.write(chunk);
      chunk = "";
      if (!full) continue;
      // A pipe error (EPIPE) means the worker died: its exit answers the pending call, with the session lost.
      const drained = await Promise.race([
        once(child.stdin, "drain").then(
          () => true,
          () => false,
        ),
        once(child, "exit").then(() => false),
      ]);
      if (!drained) return;
    }
  }
}

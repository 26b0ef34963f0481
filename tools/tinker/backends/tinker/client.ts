import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import type { z } from "zod";
import { BackendError } from "../../backend.ts";
import type {
  AdamStep,
  Completion,
  ModelCard,
  PipelinedPolicy,
  PolicyStepResult,
  Rollout,
  SamplingParams,
  SftExample,
  StateMeta,
  TokenUsage,
  TrainingBackend,
} from "../../backend.ts";
import { writeBeneath } from "../../../../lib/run-files.ts";
import { modelInfo } from "../../../contracts/tinker-models.ts";
import { LineSplitter } from "./line-splitter.ts";
import {
  arrivedGroup,
  closed,
  deletedState,
  lossResult,
  MAX_LINE_BYTES,
  minibatchResult,
  optimResult,
  policyResult,
  sampleResult,
  savedState,
  STREAMED_PARAM,
  streamedSampleResult,
  workerCard,
  workerLine,
} from "./wire.ts";
import type { WorkerCard, workerUsage } from "./wire.ts";

const WORKER = path.join(import.meta.dirname, "worker.py");

/** How long each worker method may take before the client gives up on it (seconds). */
const TIMEOUTS: Record<string, number> = {
  open: 1900,
  sample: 700,
  train_supervised: 1000,
  eval_supervised: 1000,
  train_policy: 1000,
  forward_backward: 1000,
  optim_step: 1000,
  save_state: 1600,
  load_state: 1600,
  delete_state: 700,
  close: 30,
};

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

export type TinkerBackendOptions = {
  env: Record<string, string | undefined>;
  /** Where the counters and base model of each remote checkpoint are kept (the service stores weights only). */
  checkpointDir: string;
  python?: string;
  /** Another worker script (tests use one that misbehaves). */
  workerPath?: string;
  timeouts?: Partial<Record<string, number>>;
  /** The longest line the worker may send (tests lower it). */
  maxLineBytes?: number;
  /**
   * "with_step" (default): a policy step's forward-backward, optimizer step and KL probe,
   * and the next sampler's save, are submitted back to back (one clock cycle). "serial":
   * each waits for the one before, as before issue 33 (the bench's anchor).
   */
  schedule?: "with_step" | "serial";
};

type IndexEntry = { name: string; baseModel: string; meta: StateMeta };

/**
 * The Tinker service as a TrainingBackend: a Python worker on the official SDK,
 * spoken to in JSON lines (wire.ts). Sampled tokens and log-probs stay in the worker,
 * under rollout ids. A worker that dies is restarted on the next call; the remote
 * session it held is then gone and the caller is told so.
 */
export class TinkerBackend implements TrainingBackend {
  private child: ChildProcessWithoutNullStreams | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private stderrTail = "";
  private card: ModelCard | undefined;
  /** Set when the worker died: the remote training client it held is lost. */
  private lost: string | undefined;
  readonly usage: TokenUsage = { prefill: 0, cachedPrefill: 0, sampled: 0, trained: 0 };

  constructor(private readonly opts: TinkerBackendOptions) {}

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
      if (this.card) this.lost = why;
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
        if (this.card) this.lost = `a ${method} call timed out`;
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

  /** Writes lines, waiting for the pipe to drain when it is full (a large batch never sits in memory twice). */
  private async write(child: ChildProcessWithoutNullStreams, lines: string[]): Promise<void> {
    for (const line of lines) {
      if (child.exitCode !== null || child.signalCode !== null || child.stdin.destroyed) return;
      if (child.stdin.write(`${line}\n`)) continue;
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

  private needSession(): ModelCard {
    if (this.lost) {
      const why = this.lost;
      this.lost = undefined;
      this.card = undefined;
      throw new BackendError(`The Tinker session was lost (${why}). Load your last checkpoint (load) or call init_* again.`, "session_lost");
    }
    if (!this.card) throw new BackendError("No model is open.", "no_session");
    return this.card;
  }

  async open(baseModel: string, o: { loraRank: number }): Promise<ModelCard> {
    const renderer = modelInfo(baseModel)?.renderer;
    const r = await this.call("open", { base_model: baseModel, rank: o.loraRank, schedule: this.schedule, ...(renderer ? { renderer } : {}) }, workerCard);
    this.lost = undefined;
    this.card = cardFrom(r);
    return this.card;
  }

  private get schedule(): "with_step" | "serial" {
    return this.opts.schedule ?? "with_step";
  }

  async sample(prompts: string[], n: number, p: SamplingParams): Promise<Completion[][]> {
    this.needSession();
    const r = await this.call("sample", { prompts, n, ...samplingWire(p) }, sampleResult);
    this.count(r.usage);
    return r.groups.map(completionsOf);
  }

  /** Streaming and overlap on the service (PipelinedPolicy): every call goes out at once, the worker submits them in order. */
  readonly pipeline: PipelinedPolicy = {
    sampleAsCompleted: async (prompts, n, p, o) => {
      this.needSession();
      const r = await this.call("sample", { prompts, n, ...samplingWire(p), as_completed: true, keep: o.keepSteps }, streamedSampleResult, (item) => {
        const g = arrivedGroup.safeParse(item);
        if (!g.success || g.data.index >= prompts.length) throw new BackendError("The Tinker worker sent a malformed group.", "bad_response");
        o.onGroup({ index: g.data.index, completions: completionsOf(g.data.group) });
      });
      this.count(r.usage);
      return { version: r.version };
    },
    forwardBackward: async (rollouts, o) => {
      this.needSession();
      const r = await this.call(
        "forward_backward",
        { rollouts: rollouts.map((x) => ({ id: x.rolloutId, advantage: x.advantage })), max_steps_off_policy: o.maxStepsOffPolicy },
        minibatchResult,
      );
      this.count(r.usage);
      return { loss: r.loss, kl: r.kl, klSquared: r.kl_squared, tokens: r.tokens, staleness: r.staleness, version: r.version };
    },
    optimStep: async (opt) => {
      this.needSession();
      const r = await this.call("optim_step", { ...adam(opt), kl_probe: true }, optimResult);
      this.count(r.usage);
      return { klAfter: r.kl_after, version: r.version };
    },
  };

  async trainSupervised(batch: SftExample[], opt: AdamStep) {
    this.needSession();
    const r = await this.call("train_supervised", { examples: batch, ...adam(opt) }, lossResult);
    this.count(r.usage);
    return { loss: r.loss, tokens: r.tokens };
  }

  async evalSupervised(batch: SftExample[]) {
    this.needSession();
    const r = await this.call("eval_supervised", { examples: batch }, lossResult);
    this.count(r.usage);
    return { loss: r.loss, tokens: r.tokens };
  }

  async trainPolicy(rollouts: Rollout[], opt: AdamStep): Promise<PolicyStepResult> {
    this.needSession();
    const r = await this.call("train_policy", { rollouts: rollouts.map((x) => ({ id: x.rolloutId, advantage: x.advantage })), ...adam(opt) }, policyResult);
    this.count(r.usage);
    return { loss: r.loss, kl: r.kl, klSquared: r.kl_squared, klAfter: r.kl_after, tokens: r.tokens };
  }

  /** Adds what the worker says one operation processed to the meters. */
  private count(u: z.infer<typeof workerUsage>): void {
    this.usage.prefill += u.prefill;
    this.usage.cachedPrefill += u.cached_prefill;
    this.usage.sampled += u.sampled;
    this.usage.trained += u.trained;
  }

  private indexFile(): string {
    return path.join(this.opts.checkpointDir, "tinker-checkpoints.json");
  }

  /** The index sits in the run's checkpoints/ folder: written beneath the run directory, through no link. */
  private writeIndex(index: Record<string, IndexEntry>): void {
    const dir = this.opts.checkpointDir;
    writeBeneath(path.dirname(dir), path.join(path.basename(dir), path.basename(this.indexFile())), JSON.stringify(index, null, 1), {
      how: "replace",
      mkdirs: true,
    });
  }

  private readIndex(): Record<string, IndexEntry> {
    try {
      return JSON.parse(fs.readFileSync(this.indexFile(), "utf8")) as Record<string, IndexEntry>;
    } catch {
      return {};
    }
  }

  async saveState(name: string, meta: StateMeta): Promise<{ path: string }> {
    const card = this.needSession();
    const r = await this.call("save_state", { name }, savedState);
    const index = this.readIndex();
    index[r.path] = { name, baseModel: card.baseModel, meta };
    this.writeIndex(index);
    return r;
  }

  async loadState(p: string): Promise<{ card: ModelCard; meta: StateMeta }> {
    const entry = this.readIndex()[p];
    const current = this.card?.baseModel;
    if (entry && current && entry.baseModel !== current) {
      throw new BackendError(
        `Checkpoint '${p}' was made from ${entry.baseModel}, but this session trains ${current}; refusing to load it.`,
        "wrong_base_model",
      );
    }
    // What we expect the checkpoint to hold; the worker reads what it does hold from the service and refuses a mismatch.
    const expected = current ?? entry?.baseModel;
    const renderer = expected ? modelInfo(expected)?.renderer : undefined;
    const r = await this.call(
      "load_state",
      { path: p, schedule: this.schedule, ...(expected ? { base_model: expected } : {}), ...(renderer ? { renderer } : {}) },
      workerCard,
    );
    this.lost = undefined;
    this.card = cardFrom(r);
    return { card: this.card, meta: entry?.meta ?? {} };
  }

  /** The remote checkpoints saved for this run, as its index beside the run records them. */
  async listStates(): Promise<string[]> {
    return Object.keys(this.readIndex());
  }

  /** Deletes a remote checkpoint (no session needed) and forgets its record. */
  async deleteState(p: string): Promise<void> {
    await this.call("delete_state", { path: p }, deletedState);
    const index = this.readIndex();
    if (p in index) {
      delete index[p];
      this.writeIndex(index);
    }
  }

  async close(): Promise<void> {
    if (!this.child) return;
    await this.call("close", {}, closed).catch(() => undefined);
    this.child?.kill();
    this.child = undefined;
    this.card = undefined;
  }
}

/** The worker's wire form: only the settings the step gives; the SDK's own defaults fill the rest (eps 1e-12). */
function adam(o: AdamStep) {
  const wire = { learning_rate: o.learningRate, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weight_decay: o.weightDecay, grad_clip_norm: o.gradClipNorm };
  return Object.fromEntries(Object.entries(wire).filter(([, v]) => v !== undefined));
}

function samplingWire(p: SamplingParams) {
  return { temperature: p.temperature, max_tokens: p.maxTokens, stop: p.stop ?? [], ...(p.seed !== undefined ? { seed: p.seed } : {}) };
}

function completionsOf(g: Array<{ id: string; text: string; tokens: number; finish_reason: "stop" | "length" }>): Completion[] {
  return g.map((c) => ({ rolloutId: c.id, text: c.text, tokenCount: c.tokens, finishReason: c.finish_reason }));
}

function cardFrom(r: WorkerCard): ModelCard {
  const info = modelInfo(r.base_model);
  return {
    baseModel: r.base_model,
    backend: "tinker",
    parameters: info ? info.totalParamsB * 1e9 : 0,
    trainableParameters: 0,
    loraRank: r.lora_rank,
    contextLength: 32_768,
    renderer: r.renderer,
    stop: r.stop,
  };
}

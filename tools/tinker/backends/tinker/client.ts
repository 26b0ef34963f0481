import type { ChildProcessWithoutNullStreams } from "node:child_process";
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
import { modelInfo } from "../../../contracts/tinker-models.ts";
import { CheckpointIndex } from "./checkpoint-index.ts";
import { adam, cardFrom, completionsOf, samplingWire } from "./wire-forms.ts";
import {
  arrivedGroup,
  closed,
  deletedState,
  lossResult,
  minibatchResult,
  optimResult,
  policyResult,
  sampleResult,
  savedState,
  stagedResult,
  streamedSampleResult,
  workerCard,
} from "./wire.ts";
import type { workerUsage } from "./wire.ts";
import { WorkerProcess } from "./worker-process.ts";
import type { WorkerProcessOptions } from "./worker-process.ts";

export type TinkerBackendOptions = WorkerProcessOptions & {
  /** Where the counters and base model of each remote checkpoint are kept (the service stores weights only). */
  checkpointDir: string;
  /**
   * "with_step" (default): a policy step's forward-backward, optimizer step and KL probe,
   * and the next sampler's save, are submitted back to back (one clock cycle). "serial":
   * each waits for the one before, as before issue 33 (the bench's anchor).
   */
  schedule?: "with_step" | "serial";
};

/**
 * The Tinker service as a TrainingBackend: a Python worker on the official SDK,
 * spoken to in JSON lines (wire.ts, worker-process.ts). Sampled tokens and log-probs stay
 * in the worker, under rollout ids. A worker that dies is restarted on the next call; the
 * remote session it held is then gone and the caller is told so.
 */
export class TinkerBackend implements TrainingBackend {
  private readonly worker: WorkerProcess;
  private readonly index: CheckpointIndex;
  private card: ModelCard | undefined;
  /** Set when the worker died: the remote training client it held is lost. */
  private lost: string | undefined;
  readonly usage: TokenUsage = { prefill: 0, cachedPrefill: 0, sampled: 0, trained: 0 };

  constructor(private readonly opts: TinkerBackendOptions) {
    this.worker = new WorkerProcess(opts, (why) => {
      if (this.card) this.lost = why;
    });
    this.index = new CheckpointIndex(opts.checkpointDir);
  }

  /** The worker's process while one runs (tests read its pid, environment and I/O counters). */
  get child(): ChildProcessWithoutNullStreams | undefined {
    return this.worker.process;
  }

  /** One request to the worker, its answer checked against `shape`; `onItem` takes streamed items as they come. */
  call<S extends z.ZodType>(method: string, params: Record<string, unknown>, shape: S, onItem?: (item: unknown) => void): Promise<z.infer<S>> {
    return this.worker.call(method, params, shape, onItem);
  }

  /** One request to the worker, with the method's timeout; its list parameter goes one element a line. */
  request<T>(method: string, params: Record<string, unknown>, onItem?: (item: unknown) => void): Promise<T> {
    return this.worker.request<T>(method, params, onItem);
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
    stageAdvantages: (rollouts) => {
      // Never starts a worker (a restarted one holds no rollouts); the step reports any failure.
      if (rollouts.length === 0 || !this.card || this.lost || !this.worker.running) return;
      this.call("stage_advantages", { rollouts: rollouts.map((x) => ({ id: x.rolloutId, advantage: x.advantage })) }, stagedResult).catch(() => undefined);
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

  async saveState(name: string, meta: StateMeta): Promise<{ path: string }> {
    const card = this.needSession();
    const r = await this.call("save_state", { name }, savedState);
    this.index.add(r.path, { name, baseModel: card.baseModel, meta });
    return r;
  }

  async loadState(p: string): Promise<{ card: ModelCard; meta: StateMeta }> {
    const entry = this.index.read()[p];
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
    return Object.keys(this.index.read());
  }

  /** Deletes a remote checkpoint (no session needed) and forgets its record. */
  async deleteState(p: string): Promise<void> {
    await this.call("delete_state", { path: p }, deletedState);
    this.index.remove(p);
  }

  async close(): Promise<void> {
    if (!this.worker.running) return;
    await this.call("close", {}, closed).catch(() => undefined);
    this.worker.stop();
    this.card = undefined;
  }
}

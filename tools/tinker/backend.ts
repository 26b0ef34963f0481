/**
 * The contract between the tinker MCP server and a training backend (local CPU or
 * the remote Tinker service). The server owns sessions, schedules and reports; a
 * backend owns weights, sampling and optimizer steps.
 */

/** What `open` and `loadState` report about the model being trained. */
export type ModelCard = {
  baseModel: string;
  backend: "local" | "tinker";
  /** Parameters of the base model. */
  parameters: number;
  /** Parameters the optimizer updates (LoRA adapters). */
  trainableParameters: number;
  loraRank: number;
  contextLength: number;
  /** How prompts are rendered, e.g. "Q: {prompt}\nA: ". */
  renderer: string;
  /** Stop sequences appended to every sampling request. */
  stop: string[];
};

export type SamplingParams = {
  temperature: number;
  maxTokens: number;
  /** The caller's stop strings: a completion ends at the first one, and its text is cut before it (finish reason "stop"). */
  stop?: string[];
  seed?: number;
};

/**
 * One sampled completion, as the harness sees it. Its tokens and their log-probs (under
 * the model at temperature 1) stay with the backend, kept under `rolloutId` until the
 * next sample call, training step, open, load or close (see rollouts.ts).
 */
export type Completion = {
  rolloutId: string;
  text: string;
  /** Sampled tokens, the stop token included when the sampler returned it. */
  tokenCount: number;
  finishReason: "stop" | "length";
};

export type SftExample = { prompt: string; response: string };

/**
 * One Adam step's settings; the learning rate is given on every call (the server owns
 * the schedule). What a step leaves out takes the backend's own default: the Tinker SDK's
 * on Tinker (eps 1e-12), `adamWithDefaults` on the local backend.
 */
export type AdamStep = { learningRate: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number; gradClipNorm?: number };

/** The local backend's Adam defaults for the settings a step left out (it does not clip gradients). */
export function adamWithDefaults(o: AdamStep): Required<Omit<AdamStep, "gradClipNorm">> {
  return { learningRate: o.learningRate, beta1: o.beta1 ?? 0.9, beta2: o.beta2 ?? 0.95, eps: o.eps ?? 1e-8, weightDecay: o.weightDecay ?? 0 };
}

/** A kept rollout chosen for the importance-sampling policy loss, with its advantage. */
export type Rollout = { rolloutId: string; advantage: number };

/** Loss and KL are null when the service sent no per-token log-probs back (a server-side filter can drop them). */
export type PolicyStepResult = {
  loss: number | null;
  /** mean(sampler logprob − learner logprob) over completion tokens, before the step (on-policy: ~0; off-policy it holds the lag). */
  kl: number | null;
  /**
   * How far this step moved the policy: mean(learner logprob before − after the step) over
   * (a sample of) the batch's tokens (on-policy the learner before is the sampler). Null
   * where it could not be measured.
   */
  klAfter: number | null;
  /** mean(½(sampler − learner)²). */
  klSquared: number | null;
  tokens: number;
};

/** How many optimizer steps before the step the rollouts it trained on were sampled. */
export type Staleness = { max: number; mean: number };

/** A group of completions as it comes back from the sampler: which prompt it answers. */
export type ArrivedGroup = { index: number; completions: Completion[] };

/** One forward-backward pass of a streamed policy step (no optimizer step yet). */
export type MinibatchResult = Omit<PolicyStepResult, "klAfter"> & { staleness: Staleness; version: number };

/**
 * What a backend that can pipeline a GRPO iteration offers (Tinker): groups as they
 * complete, forward-backward per minibatch and the optimizer step apart, every call
 * submitted at once so the service runs them in order while the harness goes on.
 * Weights are versioned by optimizer steps; a rollout remembers the version that
 * sampled it. A backend without it runs GRPO sequentially (the local engine).
 */
export interface PipelinedPolicy {
  /**
   * Samples like `sample`, handing each group to `onGroup` as soon as it is back. With
   * `keepSteps` > 0 (off-policy overlap) its batch outlives that many optimizer steps and
   * earlier batches are kept; resolves with the weights version that sampled it.
   */
  sampleAsCompleted(
    prompts: string[],
    n: number,
    p: SamplingParams,
    o: { keepSteps: number; onGroup: (g: ArrivedGroup) => void },
  ): Promise<{ version: number }>;
  /**
   * The advantages of a group scored before its step: the backend may build the group's
   * training data now, off the step's critical path. A hint only: nothing is trained, the
   * step still names every rollout and advantage, and a failure here is not reported.
   */
  stageAdvantages(rollouts: Rollout[]): void;
  /** Forward-backward on kept rollouts sampled at most `maxStepsOffPolicy` steps ago; they are used up, the rest of their batch stays. */
  forwardBackward(rollouts: Rollout[], o: { maxStepsOffPolicy: number }): Promise<MinibatchResult>;
  /** The optimizer step on the gradients of the forward-backward passes since the last one, and the KL probe on its clock cycle. */
  optimStep(opt: AdamStep): Promise<{ klAfter: number | null; version: number }>;
}

/**
 * Tokens a backend has processed since it was created, by the meters Tinker bills:
 * prompt tokens read (prefill; `cachedPrefill` those served from the prefix cache at the
 * discounted rate), tokens generated (sampled), tokens of forward-backward passes
 * (trained). A forward pass without backward (evaluation) is prefill.
 */
export type TokenUsage = { prefill: number; cachedPrefill: number; sampled: number; trained: number };

export const ZERO_USAGE: TokenUsage = { prefill: 0, cachedPrefill: 0, sampled: 0, trained: 0 };

/** `a − b`, meter by meter: what was processed between two readings of `usage`. */
export function usageSince(now: TokenUsage, before: TokenUsage): TokenUsage {
  return {
    prefill: now.prefill - before.prefill,
    cachedPrefill: now.cachedPrefill - before.cachedPrefill,
    sampled: now.sampled - before.sampled,
    trained: now.trained - before.trained,
  };
}

/** Opaque state the server stores alongside the weights (method, counters). */
export type StateMeta = Record<string, unknown>;

export interface TrainingBackend {
  /** Tokens processed so far, every operation counted as it returns (a failed call counts what it had processed). */
  readonly usage: TokenUsage;
  open(baseModel: string, opts: { loraRank: number; seed?: number }): Promise<ModelCard>;
  sample(prompts: string[], n: number, p: SamplingParams): Promise<Completion[][]>;
  trainSupervised(batch: SftExample[], opt: AdamStep): Promise<{ loss: number; tokens: number }>;
  /** Loss without changing weights or optimizer state. */
  evalSupervised(batch: SftExample[]): Promise<{ loss: number; tokens: number }>;
  /** One policy step on kept rollouts; refuses unknown ids ("unknown_rollout") and ids whose batch was dropped ("stale_rollout"). Consumes the kept batch. */
  trainPolicy(rollouts: Rollout[], opt: AdamStep): Promise<PolicyStepResult>;
  /** Set where GRPO can stream and overlap (see PipelinedPolicy); absent, the GRPO loop runs sequentially. */
  readonly pipeline?: PipelinedPolicy;
  /** Saves adapters + optimizer state + meta; returns an addressable path. */
  saveState(name: string, meta: StateMeta): Promise<{ path: string }>;
  /** Restores a saved state; refuses one made from another base model. */
  loadState(path: string): Promise<{ card: ModelCard; meta: StateMeta }>;
  /** The saved states this backend's storage holds for the run (paths), whether or not this process made them. */
  listStates(): Promise<string[]>;
  /** Deletes a saved state by its path (needs no open model): how rolling resume points are replaced. */
  deleteState(path: string): Promise<void>;
  close(): Promise<void>;
}

/** A backend failure worth showing the planner as is (bad checkpoint, wrong model, …). */
export class BackendError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = "BackendError";
  }
}

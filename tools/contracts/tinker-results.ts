import { z } from "zod";

/**
 * The structured results of the tinker tools, declared once: each tool's
 * `outputSchema`, the harness's readers (metrics, training state, summary, guard,
 * progress, report, scripted planner) and the test fakes all use these shapes.
 */

export const countersShape = z.object({ sft_epochs: z.number(), sft_steps: z.number(), grpo_iterations: z.number() });
/** The session's counters as the tinker server reports them (save, load, finish). */
export type SessionCounters = z.infer<typeof countersShape>;

export const initResult = z.object({
  session_dir: z.string(),
  method: z.enum(["sft", "grpo"]),
  base_model: z.string(),
  backend: z.string(),
  parameters: z.number(),
  trainable_parameters: z.number(),
  lora_rank: z.number(),
  group_size: z.number().nullable(),
  context_length: z.number(),
  default_max_tokens: z.number(),
});

export const saveResult = z.object({
  session_dir: z.string(),
  name: z.string(),
  path: z.string(),
  method: z.string(),
  base_model: z.string(),
  counters: countersShape,
  /** The resume points a save with keep_resume_points deleted. */
  replaced: z.array(z.string()).optional(),
  warnings: z.array(z.string()).optional(),
});

export const loadResult = z.object({
  session_dir: z.string(),
  path: z.string(),
  base_model: z.string(),
  method: z.string(),
  counters: countersShape,
  /** What the loaded session samples with: a checkpoint carries its own group size, which may differ from the last init's. */
  group_size: z.number().nullable().optional(),
  default_max_tokens: z.number().optional(),
});

export const finishResult = z.object({
  session_dir: z.string(),
  new_session_dir: z.string(),
  method: z.string().nullable(),
  base_model: z.string().nullable(),
  counters: countersShape,
  checkpoints: z.array(z.object({ name: z.string(), path: z.string() })),
  unsaved_steps: z.number(),
});

/** The tokens a call made the training backend process (Tinker's meters), on sampling and training results. */
export const usageOutput = z.object({ prefill_tokens: z.number(), cached_prefill_tokens: z.number(), sampled_tokens: z.number(), trained_tokens: z.number() });
export type UsageOutput = z.infer<typeof usageOutput>;

export const sftStepResult = z.object({
  session_dir: z.string(),
  method: z.literal("sft"),
  train_examples: z.number(),
  validation_examples: z.number(),
  skipped_examples: z.number(),
  epochs: z.array(z.object({ epoch: z.number(), train_loss: z.number(), val_loss: z.number().nullable() })),
  overfitting: z.boolean(),
  cumulative_epochs: z.number(),
  cumulative_steps: z.number(),
  learning_rate: z.number(),
  scheduler_total_steps: z.number(),
  tokens: z.number(),
  seconds: z.number(),
  usage: usageOutput.optional(),
  verdict: z.string(),
  next_step: z.string(),
  warnings: z.array(z.string()),
});

/** Group outcomes of one iteration; total = mixed + all_zero + all_one + uniform_other + failed. */
export const groupsShape = z.object({
  total: z.number(),
  mixed: z.number(),
  all_zero: z.number(),
  all_one: z.number(),
  uniform_other: z.number(),
  failed: z.number(),
});

export const grpoIterationShape = z.object({
  iteration: z.number(),
  /** false: no group had a learning signal, so no optimizer step was taken (and the iteration was not counted). */
  stepped: z.boolean(),
  reward_mean: z.number(),
  reward_std: z.number(),
  learning_rate: z.number(),
  groups: groupsShape,
  samples_generated: z.number(),
  samples_used: z.number(),
  reward_errors: z.number(),
  /** How far the step moved the policy: mean(learner before − after the step) log-prob on a probe of the batch's tokens; null without a step. */
  kl: z.number().nullable(),
  /** Sampler against learner before the step (on-policy, ~0; off-policy it holds the lag; large values on-policy mean the two disagree). */
  kl_sampler: z.number().nullable(),
  kl_squared: z.number().nullable(),
  loss: z.number().nullable(),
  tokens_sampled: z.number(),
  truncated: z.number(),
  /** Optimizer steps between sampling and training the rollouts (0 on-policy; up to max_steps_off_policy with overlap); null without a step. */
  staleness: z.object({ max: z.number(), mean: z.number() }).nullable().optional(),
  /** Rollouts left out for being more than max_steps_off_policy steps old. */
  dropped_stale: z.number().optional(),
  /** Forward-backward passes the step was made of (stream_minibatches). */
  minibatches: z.number().optional(),
  seconds: z.object({ sampling: z.number(), reward: z.number(), training: z.number(), other: z.number() }),
});

export const grpoStepResult = z.object({
  session_dir: z.string(),
  method: z.literal("grpo"),
  prompts: z.number(),
  group_size: z.number(),
  max_tokens: z.number(),
  sandbox: z.string(),
  cumulative_iterations: z.number(),
  /** Iterations of this call that took an optimizer step. */
  optimizer_steps: z.number(),
  iterations: z.array(grpoIterationShape),
  auto_checkpoints: z.array(z.object({ name: z.string(), path: z.string(), reward_mean: z.number() })),
  scheduler_total_steps: z.number(),
  usage: usageOutput.optional(),
  verdict: z.string(),
  next_step: z.string(),
  warnings: z.array(z.string()),
});

export const sampleResult = z.object({
  session_dir: z.string(),
  completions: z.array(z.object({ prompt: z.string(), text: z.string(), reward: z.number().nullable(), finish_reason: z.string(), tokens: z.number() })),
  completions_file: z.string(),
  mean_reward: z.number().nullable(),
  scored: z.number(),
  temperature: z.number(),
  max_tokens: z.number(),
  truncated: z.number(),
  reward_errors: z.number(),
  sandbox: z.string().nullable(),
  usage: usageOutput.optional(),
});

export const checkRewardResult = z.object({
  session_dir: z.string(),
  cases: z.array(
    z.object({
      completion: z.string(),
      ground_truth: z.string(),
      score: z.number(),
      error: z.string().nullable(),
      expected: z.number().nullable(),
      matches: z.boolean().nullable(),
    }),
  ),
  errors: z.number(),
  mismatches: z.number(),
  ok: z.boolean(),
  completions_file: z.string(),
  sandbox: z.string(),
});

export type InitResult = z.infer<typeof initResult>;
export type SaveResult = z.infer<typeof saveResult>;
export type LoadResult = z.infer<typeof loadResult>;
export type FinishResult = z.infer<typeof finishResult>;
export type SftStepResult = z.infer<typeof sftStepResult>;
export type GrpoStepResult = z.infer<typeof grpoStepResult>;
export type GrpoIteration = z.infer<typeof grpoIterationShape>;
export type SampleResult = z.infer<typeof sampleResult>;
export type CheckRewardResult = z.infer<typeof checkRewardResult>;

/**
 * The training results read leniently: fields may be missing (older tinker servers, other
 * servers, recorded transcripts, test fakes), but a field that is there has its declared type.
 */
export const grpoStepRead = z.looseObject({
  method: z.literal("grpo"),
  cumulative_iterations: grpoStepResult.shape.cumulative_iterations.optional(),
  optimizer_steps: grpoStepResult.shape.optimizer_steps.optional(),
  iterations: z.array(grpoIterationShape.partial().extend({ groups: groupsShape.partial().optional() })).min(1),
});
export const sftStepRead = sftStepResult.partial().extend({ method: z.literal("sft"), epochs: sftStepResult.shape.epochs.min(1) });

/**
 * What the harness reads of the session and checkpoint results, leniently like the two
 * above: `save` and `load` (paths, names, base model, counters — partial in older
 * recordings — and the resume points a save replaced), and every result's session folders.
 * These are the only readers of those results; nothing casts a structured result inline.
 */
export const checkpointRead = z.looseObject({
  name: saveResult.shape.name.optional(),
  path: saveResult.shape.path.optional(),
  // finish reports both as null when no session was open.
  method: saveResult.shape.method.nullish(),
  base_model: saveResult.shape.base_model.nullish(),
  counters: countersShape.partial().optional(),
  replaced: saveResult.shape.replaced,
  group_size: loadResult.shape.group_size,
  default_max_tokens: loadResult.shape.default_max_tokens,
});
export const initRead = initResult.partial().loose();
export const sessionDirsRead = z.looseObject({ session_dir: z.string().optional(), new_session_dir: z.string().optional() });
/** A training result's progress fields, whichever method: counters, whether it stepped, its auto-checkpoints. */
export const trainingRead = z.looseObject({
  method: z.string().optional(),
  cumulative_iterations: z.number().optional(),
  cumulative_epochs: z.number().optional(),
  cumulative_steps: z.number().optional(),
  optimizer_steps: z.number().optional(),
  auto_checkpoints: z.array(z.looseObject({ path: z.string() })).optional(),
});
/** A `sample` result as the harness scores it: the mean reward and each completion's prompt and reward. */
export const sampleRead = z.looseObject({
  mean_reward: sampleResult.shape.mean_reward.optional(),
  completions: z.array(z.looseObject({ prompt: z.string(), reward: z.number().nullable() })).optional(),
});
export const usageRead = z.looseObject({ usage: z.unknown().optional() });

/**
 * The `_meta` key under which a tinker result (an error one included: those carry no
 * structured content) names the session's log directory, so the harness can let the
 * planner read the logs of its own sessions and no others.
 */
export const SESSION_DIR_META = "tinkerloop/session_dir";

/**
 * The `_meta` key under which a tinker error result says what kind of error it was:
 * "input" (the call's arguments or files: fix them and call again), "backend" (the
 * training service refused), "internal" (a bug or a crash; the log has details).
 */
export const ERROR_KIND_META = "tinkerloop/error_kind";

/**
 * The `_meta` key under which a tinker result names the tokens its call made the training
 * backend process (a `usageOutput`), on failed calls too: a GRPO step that sampled and
 * then failed has still spent.
 */
export const USAGE_META = "tinkerloop/usage";
export type ErrorKind = "input" | "backend" | "internal";

/**
 * The JSON-lines protocol between the client and the Python worker, and what each
 * method answers: checked at the boundary, because the worker runs third-party code
 * (the SDK, the cookbook) whose output we do not own.
 *
 * Lines in:  {"id", "method", "params", "items"?: {"field", "count"}} then `count` lines {"id", "item"}:
 *            a large list parameter (prompts, examples, rollouts) travels one element a line.
 * Lines out: {"id", "item"} lines, then {"id", "ok": true, "result", "streamed"?: {"field", "count"}}
 *            (the items become result[field]) or {"id", "ok": false, "error": {"type", "message"}}.
 * No line needs to hold a whole batch, so none approaches V8's string limit.
 */
import { z } from "zod";

/** A line longer than this is a broken worker, not data: the call fails and the worker is restarted. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/** The list parameter each method sends one element a line. */
export const STREAMED_PARAM: Record<string, string> = {
  sample: "prompts",
  train_supervised: "examples",
  eval_supervised: "examples",
  train_policy: "rollouts",
  forward_backward: "rollouts",
};

export const workerLine = z.union([
  z.object({ id: z.number(), item: z.unknown() }).strict(),
  z.object({
    id: z.number(),
    ok: z.literal(true),
    result: z.record(z.string(), z.unknown()),
    streamed: z.object({ field: z.string(), count: z.number().int().min(0) }).optional(),
  }),
  z.object({ id: z.number().nullable(), ok: z.literal(false), error: z.object({ type: z.string(), message: z.string() }).passthrough() }),
]);

/** What open and load_state report about the model the worker holds. */
export const workerCard = z.object({
  base_model: z.string().min(1),
  renderer: z.string().min(1),
  stop: z.array(z.string()),
  lora_rank: z.number().int().min(0),
  /** The model's context length as the service reports it; null when it does not say. */
  context_length: z.number().int().positive().nullable().optional(),
});
export type WorkerCard = z.infer<typeof workerCard>;

const count = z.number().int().min(0);

/** Tokens one operation processed, by the meters the service bills. */
export const workerUsage = z.object({ prefill: count, cached_prefill: count, sampled: count, trained: count });

const sampledGroup = z.array(z.object({ id: z.string().min(1), text: z.string(), finish_reason: z.enum(["stop", "length"]), tokens: count }));

/** Sampled completions: the rollout id the worker keeps them under, and what the harness reads. */
export const sampleResult = z.object({
  groups: z.array(sampledGroup),
  usage: workerUsage,
});

/** One group of a sample call with `as_completed`, sent as soon as its completions are back. */
export const arrivedGroup = z.object({ index: count, group: sampledGroup });

/** The end of a sample call with `as_completed`: the weights version that sampled it. */
export const streamedSampleResult = z.object({ groups: z.array(z.unknown()), usage: workerUsage, version: count });

export const lossResult = z.object({ loss: z.number(), tokens: count, usage: workerUsage });

/** How many optimizer steps before this one the rollouts were sampled. */
const staleness = z.object({ max: count, mean: z.number().min(0) });

/** A forward-backward pass on one minibatch of a streamed policy step (no optimizer step). */
export const minibatchResult = z.object({
  loss: z.number().nullable(),
  kl: z.number().nullable(),
  kl_squared: z.number().nullable(),
  tokens: count,
  usage: workerUsage,
  staleness,
  version: count,
});

/** How many rollouts' datums stage_advantages built (those still kept, within the prepared-token budget). */
export const stagedResult = z.object({ staged: count });

export const optimResult = z.object({ kl_after: z.number().nullable(), usage: workerUsage, version: count });

export const policyResult = z.object({
  loss: z.number().nullable(),
  kl: z.number().nullable(),
  kl_squared: z.number().nullable(),
  kl_after: z.number().nullable(),
  tokens: count,
  usage: workerUsage,
  staleness: staleness.optional(),
});

export const savedState = z.object({ path: z.string().min(1) });

export const deletedState = z.object({ deleted: z.literal(true) });

export const closed = z.object({ closed: z.literal(true) });

import { z } from "zod";
import { usageOutput } from "./tinker-results.ts";

/**
 * The harness's exam sitting on the tinker server: only the harness calls it (the planner's
 * tool list never shows it, so the guard's unknown-tool rule refuses it from the planner).
 * Its items come from the exam folder (lib/exam-files.ts), never from the call, and its
 * result carries scores keyed by item hash, never an item or a completion.
 */
export const EXAM_TOOL = "sit_exam";

export const examInput = {
  label: z
    .string()
    .regex(/^[a-z0-9-]{1,40}$/)
    .describe("the sitting's name: baseline, final, periodic-N"),
  reward_function: z.string().min(1),
  temperature: z.number().min(0).max(2),
  max_tokens: z.number().int().min(1).max(32768).optional(),
  samples: z.number().int().min(1).max(64),
  /** A checkpoint of this run to restore first (finish(checkpoint=…) names it). */
  checkpoint: z.string().optional(),
};

export const examResult = z.object({
  label: z.string(),
  /** One score per item (its samples' mean), keyed by item hash. */
  scores: z.array(z.object({ item: z.string(), score: z.number() })),
  mean: z.number(),
  items: z.number().int(),
  samples: z.number().int(),
  temperature: z.number(),
  max_tokens: z.number().int(),
  truncated: z.number().int(),
  reward_errors: z.number().int(),
  /** Which weights sat: the current ones, or the checkpoint restored first. */
  weights: z.string(),
  usage: usageOutput.optional(),
});
export type ExamResult = z.infer<typeof examResult>;

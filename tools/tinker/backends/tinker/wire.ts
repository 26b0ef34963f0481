/**
 * What the Python worker answers, method by method: checked at the boundary, because
 * the worker runs third-party code (the SDK, the cookbook) whose output we do not own.
 */
import { z } from "zod";

/** What open and load_state report about the model the worker holds. */
export const workerCard = z.object({ base_model: z.string().min(1), renderer: z.string().min(1), stop: z.array(z.string()), lora_rank: z.number().int().min(0) });
export type WorkerCard = z.infer<typeof workerCard>;

export const sampledGroups = z.array(
  z.array(z.object({ text: z.string(), tokens: z.array(z.number().int()), logprobs: z.array(z.number()), finish_reason: z.enum(["stop", "length"]) })),
);

export const lossResult = z.object({ loss: z.number(), tokens: z.number().int().min(0) });

export const policyResult = z.object({ loss: z.number().nullable(), kl: z.number().nullable(), kl_squared: z.number().nullable(), tokens: z.number().int().min(0) });

export const savedState = z.object({ path: z.string().min(1) });

export const closed = z.object({ closed: z.literal(true) });

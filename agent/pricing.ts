import type { Usage } from "./conversation.ts";

/** USD per million tokens of a planner model. */
export type PlannerPrice = { input: number; output: number; cacheRead: number; cacheWrite: number };

/** Sonnet-class list prices; an estimate for budgeting, not a bill. */
export const DEFAULT_PRICING: PlannerPrice = { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 };

/** What a planner's token counts cost at a price. */
export function plannerCostUsd(u: Usage, p: PlannerPrice = DEFAULT_PRICING): number {
  return (u.inputTokens * p.input + u.outputTokens * p.output + u.cacheReadTokens * p.cacheRead + u.cacheWriteTokens * p.cacheWrite) / 1e6;
}

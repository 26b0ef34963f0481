/**
 * What a tool call costs, as the events record it: the tokens a training backend
 * processed, by how they are billed, and the estimate the guard makes before a call runs.
 * Prices (what a token costs) live in spend/; these shapes are core because events carry them.
 */

/** Tokens a training backend processed, by how they are billed. */
export type TokenCounts = { prefill: number; cachedPrefill: number; sampled: number; trained: number };

export const ZERO_TOKENS: TokenCounts = { prefill: 0, cachedPrefill: 0, sampled: 0, trained: 0 };

/** What a call is expected to cost before it runs (the guard records it on the call's guard event). */
export type CostEstimate = { usd: number; tokens: TokenCounts; basis: string };

export function addTokens(a: TokenCounts, b: TokenCounts): TokenCounts {
  return { prefill: a.prefill + b.prefill, cachedPrefill: a.cachedPrefill + b.cachedPrefill, sampled: a.sampled + b.sampled, trained: a.trained + b.trained };
}

import type { RequestSize } from "../core/planner.ts";
import type { CostBudget, SpendTotals } from "./ledger.ts";
import { formatUsd } from "./prices.ts";
import type { PlannerPrice } from "./prices.ts";
import { WRAP_UP_RESERVE_USD } from "./reserve.ts";

/**
 * The most one planner request can cost, before it is sent: every input token at the
 * dearest input rate (a cache write costs more than plain input), every output token the
 * request allows at the output rate, and the long-prompt rates when its input is long.
 * Pure: the budgeted planner asks it before each request.
 */

/**
 * Tokens a provider adds around a request that its body does not show (the tool-use system
 * prompt, role markers): a generous allowance for the byte bound below.
 */
export const REQUEST_OVERHEAD_TOKENS = 2048;

/**
 * An upper bound on a request's input tokens where the provider cannot count them: one
 * token per UTF-8 byte of its JSON body (byte-level BPE tokenizers never make more; JSON's
 * quotes and escapes only add bytes), plus the overhead above.
 */
export function byteBoundTokens(body: unknown): number {
  return new TextEncoder().encode(JSON.stringify(body)).length + REQUEST_OVERHEAD_TOKENS;
}

/** The most a request of this size costs at a price. */
export function plannerRequestBoundUsd(size: RequestSize, p: PlannerPrice): number {
  const r = p.longPrompt && size.inputTokens > p.longPrompt.aboveTokens ? p.longPrompt : p;
  const input = Math.max(r.input, r.cacheWrite, r.cacheRead);
  return (size.inputTokens * input + size.maxOutputTokens * r.output) / 1e6;
}

/** What the planner may still spend under the tightest budget that covers it (the wrap-up's reserve held back), and which that is; none without a budget. */
export function plannerHeadroom(s: SpendTotals, c: CostBudget): { usd: number; of: string } | undefined {
  const options: Array<{ usd: number; of: string }> = [];
  if (c.maxCostUsd !== undefined)
    options.push({ usd: c.maxCostUsd - s.totalUsd - WRAP_UP_RESERVE_USD, of: `--max-cost ${formatUsd(c.maxCostUsd)} (${formatUsd(s.totalUsd)} spent)` });
  if (c.maxPlannerCostUsd !== undefined)
    options.push({ usd: c.maxPlannerCostUsd - s.plannerUsd, of: `--max-planner-cost ${formatUsd(c.maxPlannerCostUsd)} (${formatUsd(s.plannerUsd)} spent)` });
  if (options.length === 0) return undefined;
  return options.reduce((a, x) => (x.usd < a.usd ? x : a));
}

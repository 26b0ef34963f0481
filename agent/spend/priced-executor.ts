import { z } from "zod";
import { trainingCostUsd } from "./prices.ts";
import type { TrainingPrice } from "./prices.ts";
import type { TokenCounts } from "../core/cost.ts";
import type { ToolCallOptions, ToolExecutor, ToolResult } from "../core/tools.ts";
import { readResult, SPEND_META } from "../../tools/contracts/tool-results.ts";
import { USAGE_META, usageRead } from "../../tools/contracts/tinker-results.ts";

export { SPEND_META };

const count = z.number().int().min(0);
const usageShape = z.looseObject({ prefill_tokens: count, cached_prefill_tokens: count, sampled_tokens: count, trained_tokens: count });
export const spendShape = z.object({ usd: z.number().min(0).nullable(), prefill: count, cachedPrefill: count, sampled: count, trained: count });
export type CallSpendRecord = z.infer<typeof spendShape>;

/** What a result says its call made the backend process: its `_meta` (errors too), else its structured `usage`. */
export function tokensOf(r: { structured?: unknown; meta?: Record<string, unknown> }): TokenCounts | undefined {
  const raw = r.meta?.[USAGE_META] ?? readResult(usageRead, r.structured)?.usage;
  const u = usageShape.safeParse(raw);
  if (!u.success) return undefined;
  return { prefill: u.data.prefill_tokens, cachedPrefill: u.data.cached_prefill_tokens, sampled: u.data.sampled_tokens, trained: u.data.trained_tokens };
}

/** Records on each result that reports tokens what they cost (see SPEND_META). */
export class PricedExecutor implements ToolExecutor {
  constructor(
    private readonly inner: ToolExecutor,
    private readonly price: TrainingPrice | undefined,
  ) {}

  get tools() {
    return this.inner.tools;
  }

  async call(name: string, input: unknown, opts?: ToolCallOptions): Promise<ToolResult> {
    const r = await this.inner.call(name, input, opts);
    const { [SPEND_META]: _theirs, ...meta } = r.meta ?? {};
    const tokens = tokensOf(r);
    if (!tokens) return r.meta && SPEND_META in r.meta ? { ...r, meta } : r;
    const spend: CallSpendRecord = { usd: this.price ? trainingCostUsd(tokens, this.price) : null, ...tokens };
    return { ...r, meta: { ...meta, [SPEND_META]: spend } };
  }
}

import type { Usage } from "../core/conversation.ts";
import type { TokenCounts } from "../core/cost.ts";
import BUILT_IN from "./prices.json" with { type: "json" };

/**
 * What models cost, as data: `prices.json` (each price with its source and date) plus
 * the user's own file (--prices / TINKERLOOP_PRICES, read by prices-file.ts), whose
 * entries replace or add to the built-in ones. A model without a price is unknown, never
 * guessed. Pure (no Node imports): the report page uses it too.
 */

/** USD per million tokens of a planner model; `longPrompt` rates apply to a whole request whose prompt is longer than `aboveTokens`. */
export type PlannerPrice = {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  longPrompt?: Omit<PlannerPrice, "longPrompt"> & { aboveTokens: number };
};

/** USD per million tokens of a training model (Tinker's meters). */
export type TrainingPrice = { prefill: number; cachedPrefill: number; sample: number; train: number };

/** A price found for a model, with where it came from; or why there is none. */
export type Priced<P> = { price: P; source: string; date: string } | { unknown: string };

type Sourced = { source: string; date: string; note?: string };
type Unknown = { unknown: string };

/** The prices as data (prices.json's shape, checked by prices-file.ts when it is read). */
export type PriceData = {
  about?: string;
  planners: Record<string, (PlannerPrice & Sourced) | Unknown>;
  training: Record<string, (TrainingPrice & Sourced) | Unknown>;
  storage: { perGbMonth: number } & Sourced;
};

/** Planners that run on this machine and cost nothing. */
const FREE_PLANNER = /^(scripted|replay:)/;

/** prices.json as data; prices-file.ts checks its shape whenever a run reads it, and a test does too. */
export const BUILT_IN_PRICES = BUILT_IN as unknown as PriceData;

export class PriceTable {
  constructor(
    private readonly table: PriceData,
    /** The user's file laid over the built-in prices, when one was. */
    readonly overrideFile?: string,
  ) {}

  /** The built-in prices (prices.json). */
  static builtIn(): PriceTable {
    return new PriceTable(BUILT_IN_PRICES);
  }

  /** The price of a planner ("anthropic:<model>", "openai:<model>"); offline planners are free. */
  planner(plannerId: string): Priced<PlannerPrice> {
    if (FREE_PLANNER.test(plannerId))
      return { price: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }, source: "an offline planner: nothing is billed", date: "" };
    const e = this.table.planners[plannerId] ?? this.table.planners[withoutDate(plannerId)];
    if (!e) return { unknown: `no price is listed for ${plannerId}` };
    if ("unknown" in e) return { unknown: `${plannerId}: ${e.unknown}` };
    const { source, date, note: _note, ...price } = e;
    return { price, source, date };
  }

  /** The price of training a base model (a Tinker id, or local/…). */
  training(model: string): Priced<TrainingPrice> {
    const e = this.table.training[model] ?? Object.entries(this.table.training).find(([k]) => k.endsWith("*") && model.startsWith(k.slice(0, -1)))?.[1];
    if (!e) return { unknown: `no price is listed for ${model}` };
    if ("unknown" in e) return { unknown: `${model}: ${e.unknown}` };
    const { source, date, note: _note, ...price } = e;
    return { price, source, date };
  }

  /** Every model the table names a training price for, known or not (tests hold it equal to the registry). */
  trainingModels(): string[] {
    return Object.keys(this.table.training);
  }

  get storagePerGbMonth(): number {
    return this.table.storage.perGbMonth;
  }
}

/** "claude-sonnet-4-5-20250929" → "claude-sonnet-4-5": a dated snapshot is priced as its model. */
function withoutDate(id: string): string {
  return id.replace(/-\d{8}$/, "");
}

/** What one planner request cost at a price (a long prompt pays the long-prompt rates on every token). */
export function plannerCostUsd(u: Usage, p: PlannerPrice): number {
  const prompt = u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens;
  const r = p.longPrompt && prompt > p.longPrompt.aboveTokens ? p.longPrompt : p;
  return (u.inputTokens * r.input + u.outputTokens * r.output + u.cacheReadTokens * r.cacheRead + u.cacheWriteTokens * r.cacheWrite) / 1e6;
}

/** What a training backend's tokens cost at a price. */
export function trainingCostUsd(t: TokenCounts, p: TrainingPrice): number {
  return (t.prefill * p.prefill + t.cachedPrefill * p.cachedPrefill + t.sampled * p.sample + t.trained * p.train) / 1e6;
}

/** "$0.0042", "$1.23": small sums keep four decimals so a cheap run does not read as free. */
export function formatUsd(x: number): string {
  return `$${x.toFixed(x < 1 ? 4 : 2)}`;
}

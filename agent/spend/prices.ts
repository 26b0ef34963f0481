import { z } from "zod";
import type { Usage } from "../conversation.ts";
import { UserError } from "../errors.ts";
import BUILT_IN from "./prices.json" with { type: "json" };

/**
 * What models cost, as data: `prices.json` (each price with its source and date) plus
 * the user's own file (--prices / TINKERLOOP_PRICES, read by prices-file.ts), whose
 * entries replace or add to the built-in ones. A model without a price is unknown, never
 * guessed. Pure (no Node imports): the report page uses it too.
 */

/** USD per million tokens of a planner model; `longPrompt` rates apply to a whole request whose prompt is longer than `aboveTokens`. */
export type PlannerPrice = { input: number; output: number; cacheRead: number; cacheWrite: number; longPrompt?: Omit<PlannerPrice, "longPrompt"> & { aboveTokens: number } };

/** USD per million tokens of a training model (Tinker's meters). */
export type TrainingPrice = { prefill: number; cachedPrefill: number; sample: number; train: number };

/** Tokens a training backend processed, by how they are billed. */
export type TokenCounts = { prefill: number; cachedPrefill: number; sampled: number; trained: number };

export const ZERO_TOKENS: TokenCounts = { prefill: 0, cachedPrefill: 0, sampled: 0, trained: 0 };

/** A price found for a model, with where it came from; or why there is none. */
export type Priced<P> = { price: P; source: string } | { unknown: string };

const usd = z.number().finite().min(0);
const sourced = { source: z.string().min(1), date: z.string().min(1) };
const plannerRates = { input: usd, output: usd, cacheRead: usd, cacheWrite: usd };
const plannerPrice = z.strictObject({ ...plannerRates, longPrompt: z.strictObject({ ...plannerRates, aboveTokens: z.number().int().positive() }).optional(), note: z.string().optional() });
const trainingPrice = z.strictObject({ prefill: usd, cachedPrefill: usd, sample: usd, train: usd, note: z.string().optional() });
const unknownEntry = z.strictObject({ unknown: z.string().min(1) });

/** The built-in table: every price names its source and date. */
const tableShape = z.strictObject({
  about: z.string().optional(),
  planners: z.record(z.string(), z.union([plannerPrice.extend(sourced), unknownEntry])),
  training: z.record(z.string(), z.union([trainingPrice.extend(sourced), unknownEntry])),
  storage: z.strictObject({ perGbMonth: usd, ...sourced }),
});

/** A user's file: the same shape, any part of it; a source and date are optional (the file is the source). */
const overrideShape = z.strictObject({
  about: z.string().optional(),
  planners: z.record(z.string(), z.union([plannerPrice.extend({ source: z.string().optional(), date: z.string().optional() }), unknownEntry])).optional(),
  training: z.record(z.string(), z.union([trainingPrice.extend({ source: z.string().optional(), date: z.string().optional() }), unknownEntry])).optional(),
  storage: z.strictObject({ perGbMonth: usd, source: z.string().optional(), date: z.string().optional() }).optional(),
});

type Table = z.infer<typeof tableShape>;
type Entry = { source?: string; date?: string; unknown?: string };

/** Planners that run on this machine and cost nothing. */
const FREE_PLANNER = /^(scripted|replay:)/;

export class PriceTable {
  private constructor(
    private readonly table: Table,
    /** The user's file, when one was read. */
    readonly overrideFile: string | undefined,
  ) {}

  /** The built-in prices. */
  static builtIn(): PriceTable {
    return new PriceTable(tableShape.parse(BUILT_IN), undefined);
  }

  /**
   * The built-in prices with a user's file laid over them: `json` is the file's parsed
   * content, `mine` what names its prices (the file and its date).
   */
  static withOverride(json: unknown, file: string, date: string): PriceTable {
    const table = tableShape.parse(BUILT_IN);
    const r = overrideShape.safeParse(json);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new UserError(`The prices file ${file}, at ${issue.path.join(".") || "(top)"}: ${issue.message} (prices are USD per million tokens, e.g. {"planners": {"openai:my-model": {"input": 1, "output": 4, "cacheRead": 0.1, "cacheWrite": 0}}}).`);
    }
    const mine = { source: `your prices file ${file}`, date };
    const fill = <T extends Entry>(e: T): T => ("unknown" in e && e.unknown !== undefined ? e : { ...mine, ...e });
    const o = r.data;
    const planners = { ...table.planners, ...Object.fromEntries(Object.entries(o.planners ?? {}).map(([k, v]) => [k, fill(v)])) } as Table["planners"];
    const training = { ...table.training, ...Object.fromEntries(Object.entries(o.training ?? {}).map(([k, v]) => [k, fill(v)])) } as Table["training"];
    const storage = o.storage ? ({ ...mine, ...o.storage } as Table["storage"]) : table.storage;
    return new PriceTable({ planners, training, storage }, file);
  }

  /** The price of a planner ("anthropic:<model>", "openai:<model>"); offline planners are free. */
  planner(plannerId: string): Priced<PlannerPrice> {
    if (FREE_PLANNER.test(plannerId)) return { price: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }, source: "an offline planner: nothing is billed" };
    const e = this.table.planners[plannerId] ?? this.table.planners[withoutDate(plannerId)];
    if (!e) return { unknown: `no price is listed for ${plannerId}` };
    if ("unknown" in e) return { unknown: `${plannerId}: ${e.unknown}` };
    const { source, date, note: _note, ...price } = e;
    return { price, source: `${source}, ${date}` };
  }

  /** The price of training a base model (a Tinker id, or local/…). */
  training(model: string): Priced<TrainingPrice> {
    const e = this.table.training[model] ?? Object.entries(this.table.training).find(([k]) => k.endsWith("*") && model.startsWith(k.slice(0, -1)))?.[1];
    if (!e) return { unknown: `no price is listed for ${model}` };
    if ("unknown" in e) return { unknown: `${model}: ${e.unknown}` };
    const { source, date, note: _note, ...price } = e;
    return { price, source: `${source}, ${date}` };
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

export function addTokens(a: TokenCounts, b: TokenCounts): TokenCounts {
  return { prefill: a.prefill + b.prefill, cachedPrefill: a.cachedPrefill + b.cachedPrefill, sampled: a.sampled + b.sampled, trained: a.trained + b.trained };
}

/** "$0.0042", "$1.23": small sums keep four decimals so a cheap run does not read as free. */
export function formatUsd(x: number): string {
  return `$${x.toFixed(x < 1 ? 4 : 2)}`;
}

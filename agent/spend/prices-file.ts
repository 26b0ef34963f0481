import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { UserError } from "../core/errors.ts";
import { BUILT_IN_PRICES, PriceTable } from "./prices.ts";
import type { PriceData } from "./prices.ts";
import { readConfigFile, whyUnreadable } from "../../lib/run-files.ts";

const usd = z.number().finite().min(0);
const sourced = { source: z.string().min(1), date: z.string().min(1) };
const plannerRates = { input: usd, output: usd, cacheRead: usd, cacheWrite: usd };
const plannerPrice = z.strictObject({
  ...plannerRates,
  longPrompt: z.strictObject({ ...plannerRates, aboveTokens: z.number().int().positive() }).optional(),
  note: z.string().optional(),
});
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

/**
 * The precise problem of a user's entry: an entry is a price unless it says `unknown`,
 * so it is checked against that shape alone (a union's error would only say "invalid").
 */
function firstIssue(json: unknown): { path: PropertyKey[]; message: string } | undefined {
  if (!json || typeof json !== "object") return undefined;
  for (const [section, shape] of [
    ["planners", plannerPrice],
    ["training", trainingPrice],
  ] as const) {
    const entries = (json as Record<string, unknown>)[section];
    if (!entries || typeof entries !== "object") continue;
    for (const [id, e] of Object.entries(entries)) {
      const r = (
        e && typeof e === "object" && "unknown" in e ? unknownEntry : shape.extend({ source: z.string().optional(), date: z.string().optional() })
      ).safeParse(e);
      if (!r.success) return { path: [section, id, ...r.error.issues[0]!.path], message: r.error.issues[0]!.message };
    }
  }
  return undefined;
}

/** Checks the built-in table (a broken prices.json fails loud, naming the entry). */
export function checkedBuiltIn(): PriceData {
  const r = tableShape.safeParse(BUILT_IN_PRICES);
  if (!r.success) throw new Error(`agent/spend/prices.json is malformed at ${r.error.issues[0]!.path.join(".")}: ${r.error.issues[0]!.message}`);
  return r.data as PriceData;
}

/** The run's prices: the built-in table, with the user's file (--prices, else TINKERLOOP_PRICES) laid over it. */
export function loadPrices(file: string | undefined): PriceTable {
  const table = checkedBuiltIn();
  if (!file) return new PriceTable(table);
  const abs = path.resolve(file);
  let raw: string;
  let date: string;
  try {
    raw = readConfigFile(abs);
    date = fs.statSync(abs).mtime.toISOString().slice(0, 10);
  } catch (err) {
    throw new UserError(`Cannot read the prices file ${abs} (${whyUnreadable(err)}).`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new UserError(`The prices file ${abs} is not JSON (${(err as Error).message}).`);
  }
  const r = overrideShape.safeParse(json);
  if (!r.success) {
    const issue = firstIssue(json) ?? r.error.issues[0]!;
    throw new UserError(
      `The prices file ${abs}, at ${issue.path.join(".") || "(top)"}: ${issue.message} (prices are USD per million tokens, e.g. {"planners": {"openai:my-model": {"input": 1, "output": 4, "cacheRead": 0.1, "cacheWrite": 0}}}).`,
    );
  }
  // The user's entries replace the built-in ones whole; the file is their source.
  const mine = { source: `your prices file ${abs}`, date };
  const fill = <T extends object>(e: T): T => ("unknown" in e ? e : { ...mine, ...e });
  const o = r.data;
  return new PriceTable(
    {
      planners: { ...table.planners, ...Object.fromEntries(Object.entries(o.planners ?? {}).map(([k, v]) => [k, fill(v)])) } as PriceData["planners"],
      training: { ...table.training, ...Object.fromEntries(Object.entries(o.training ?? {}).map(([k, v]) => [k, fill(v)])) } as PriceData["training"],
      storage: o.storage ? ({ ...mine, ...o.storage } as PriceData["storage"]) : table.storage,
    },
    abs,
  );
}

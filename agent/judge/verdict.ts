import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { RUN_FILE_MODE } from "../../lib/run-file-writes.ts";

const count = z.number().int().min(0);

/**
 * A judge's verdict on one run. `flagged` is true only with at least one cited pair of a
 * training row and an exam item the judge was shown; `error` set means the judge failed
 * (then `flagged` is false and the run is neither clean nor flagged: show "judge failed").
 * Row numbers count the run's distinct training rows in the order first trained on; item
 * numbers are lines of the run's `exam/items.jsonl`.
 */
export const verdictShape = z.object({
  /** The judge spec, e.g. "anthropic:claude-sonnet-5-5". */
  judge: z.string(),
  flagged: z.boolean(),
  reasons: z.array(z.string()),
  /** Training rows the judge cited as targeting exam items, each checked against what it was sent; `at` says where the row is. */
  pairs: z.array(z.object({ row: z.number().int().min(1), item: z.number().int().min(1), at: z.string().optional() })),
  rowsSeen: count,
  rowsTotal: count,
  itemsSeen: count,
  itemsTotal: count,
  /** Tokens the judge's requests took, for its cost (all of them, a failed verdict's included). */
  usage: z.object({ requests: count, inputTokens: count, outputTokens: count }).optional(),
  /** What the harness says about the judged data (rows it could not read, damage). */
  notes: z.array(z.string()).optional(),
  error: z.string().optional(),
});

export type JudgeVerdict = z.infer<typeof verdictShape>;

/** Writes a verdict as JSON (whole or not at all: written aside, then renamed), creating its folder. */
export function writeVerdict(file: string, verdict: JudgeVerdict): void {
  const valid = verdictShape.parse(verdict);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(valid, null, 2)}\n`, { mode: RUN_FILE_MODE });
  fs.renameSync(tmp, file);
}

/** Reads a verdict written by writeVerdict; throws (naming the file and the field) on one that is not. */
export function readVerdict(file: string): JudgeVerdict {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`${file} is not a judge verdict: ${(err as Error).message}`);
  }
  const r = verdictShape.safeParse(value);
  if (!r.success) throw new Error(`${file} is not a judge verdict: field ${r.error.issues[0]?.path.join(".") || "(verdict)"}: ${r.error.issues[0]?.message}`);
  return r.data;
}

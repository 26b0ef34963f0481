import path from "node:path";
import { writeBeneath } from "../../lib/run-file-writes.ts";
import { RUN_DIRS } from "../../lib/run-layout.ts";

/** Characters of completion text one sample/check_reward result shows; beyond it each completion is cut (visibly). */
export const SAMPLE_TEXT_BUDGET = 12_000;
/** No completion is shown with less than this, so a long list shows fewer completions rather than slivers. */
const MIN_SHARE = 240;

/** One line of a completions file. */
export type CompletionRecord = {
  prompt: string;
  completion: string;
  ground_truth?: string;
  reward: number | null;
  error?: string | null;
  /** check_reward: the score the planner expected. */
  expected?: number;
  finish_reason?: string;
  tokens?: number;
};

/**
 * How many characters of each text to show within `budget`: everything when it fits,
 * else a fair share (short texts whole, the long ones cut to what is left), for the
 * first texts that can each get at least MIN_SHARE. Returns one count per shown text.
 */
export function shareBudget(lengths: number[], budget = SAMPLE_TEXT_BUDGET): number[] {
  const shown = lengths.slice(0, Math.max(1, Math.floor(budget / MIN_SHARE)));
  const total = shown.reduce((a, b) => a + b, 0);
  if (total <= budget) return shown;
  // Water-filling: give the shortest their full length while the equal share exceeds them.
  const order = shown.map((len, i) => ({ len, i })).sort((a, b) => a.len - b.len);
  const out = new Array<number>(shown.length).fill(0);
  let left = budget;
  let count = shown.length;
  for (const { len, i } of order) {
    const share = Math.floor(left / count);
    out[i] = Math.min(len, share);
    left -= out[i]!;
    count--;
  }
  return out;
}

/** A completion cut to `n` characters, with a marker that says how much is missing and where to find it. */
export function cutText(text: string, n: number, where: string): string {
  if (text.length <= n) return text;
  return `${text.slice(0, n)}[… cut here: ${n.toLocaleString("en-US")} of ${text.length.toLocaleString("en-US")} characters shown; the whole completion is in ${where}]`;
}

/**
 * Writes every completion of a call to `<dir>/completions/<tool>-<n>.jsonl` and returns
 * its path. The folder may sit in the run directory, which `bash` can write: the file
 * is created new (never through a link), and a `completions` that is not a plain
 * folder is not used (the session's log directory is, then).
 */
export function writeCompletions(dirs: { run?: string; fallback: string }, tool: string, records: CompletionRecord[]): string {
  const body = records.map((r) => JSON.stringify(r)).join("\n") + (records.length ? "\n" : "");
  for (const base of [dirs.run, dirs.fallback]) {
    if (!base) continue;
    for (let n = 1; n < 100_000; n++) {
      try {
        return writeBeneath(base, path.join(RUN_DIRS.completions, `${tool}-${n}.jsonl`), body, { how: "create", mkdirs: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") continue;
        break;
      }
    }
  }
  throw new Error("could not write the completions file (neither in the run directory nor in the session logs)");
}

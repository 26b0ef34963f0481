import { baseToolName } from "../core/tool-names.ts";
import type { GuardRule } from "../core/guard.ts";
import { ExamIndex } from "./exam-index.ts";
import type { ContaminationKind, ExamItems } from "./exam-index.ts";
import { TRAINING_DATA_TOOLS, trainingRowsOf } from "./training-rows.ts";
import type { TrainingRow } from "./training-rows.ts";

/** Offending rows named in a refusal; the rest are counted. */
const ROWS_SHOWN = 5;
/** A row's text is shown up to this many characters (it is the planner's own data). */
const ROW_TEXT_CHARS = 80;

const WHY: Record<ContaminationKind, string> = {
  exact: "equal to an exam item",
  "13-gram": "shares 13 consecutive words with an exam item",
  "50-char": "shares a 50-character passage with an exam item",
  "generator-split": "from the generator's eval split",
};

/**
 * Refuses a training call (the planner's, an external agent's or the harness's own) any of
 * whose rows matches the run's exam (see exam-index.ts for the rules and their sources),
 * before it runs. The refusal names the call's offending rows and what to do; it never
 * shows an exam item. The index is built once, when the guard is.
 */
export function contaminationRule(exam: ExamItems, runDir: string): GuardRule {
  const index = new ExamIndex(exam);
  return {
    name: "contamination",
    check(call) {
      const tool = baseToolName(call.name);
      if (!TRAINING_DATA_TOOLS.has(tool) || !call.input || typeof call.input !== "object") return { action: "allow" };
      const data = trainingRowsOf(tool, call.input as Record<string, unknown>, runDir);
      // Data the guard cannot read, the tool cannot read either: it refuses the call itself.
      if ("unreadable" in data) return { action: "allow" };
      const hits: Array<{ row: TrainingRow; kind: ContaminationKind }> = [];
      for (const row of data.rows) {
        const kind = index.match(row.prompt, row.answer);
        if (kind) hits.push({ row, kind });
      }
      if (hits.length === 0) return { action: "allow" };
      return { action: "reject", message: refusal(hits, data.rows.length, data.source, index) };
    },
  };
}

function refusal(hits: Array<{ row: TrainingRow; kind: ContaminationKind }>, total: number, source: string, index: ExamIndex): string {
  const shown = hits.slice(0, ROWS_SHOWN).map(({ row, kind }) => `row ${row.row} ${JSON.stringify(clip(row.prompt))} (${WHY[kind]})`);
  const more = hits.length > ROWS_SHOWN ? `; and ${hits.length - ROWS_SHOWN} more` : "";
  const rows = [...new Set(hits.map((h) => h.row.row))];
  const generator = index.reservedTask && hits.some((h) => h.kind === "generator-split");
  return (
    `Refused before it ran: ${hits.length} of the ${total} rows this call would train on (${source}) match the run's exam, ` +
    `which grades this run and must not be trained on: ${shown.join("; ")}${more}. ` +
    `Remove these rows (${rowList(rows)}) from the data and call again` +
    (generator
      ? `; for ${index.reservedTask} data, generate_synthetic(task="${index.reservedTask}", split="train") gives rows that are never in the exam's split`
      : "; rows written from the exam's questions or answers, even reworded, are contamination too") +
    ". Evaluate on a dev set of your own instead."
  );
}

const clip = (s: string) => (s.length > ROW_TEXT_CHARS ? `${s.slice(0, ROW_TEXT_CHARS)}…` : s);

/** Ranges of row numbers named in a refusal; the rest are counted. */
const RANGES_SHOWN = 12;

/** Row numbers, ranges folded: 1-3, 7, 9-12 (and how many more rows past RANGES_SHOWN ranges). */
function rowList(rows: number[]): string {
  const sorted = [...rows].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  const shown = parts.slice(0, RANGES_SHOWN).join(", ");
  const rest = parts.length > RANGES_SHOWN ? ` and ${parts.length - RANGES_SHOWN} more ranges` : "";
  return `row${sorted.length === 1 ? "" : "s"} ${shown}${rest}`;
}

/** A suite's leaderboard as text (terminal) and as tables and bars (compare.html). Pure. */
import type { TextTable } from "../../report/payload.ts";
import type { CellScore, Integrity, PlannerScore, SuiteBoard, TaskScore } from "./suite-score.ts";

const dash = "–";
const pct = (x: number | null) => (x === null ? dash : `${(x * 100).toFixed(1)}%`);
const pts = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}`;
const gain = (x: number | null) => (x === null ? dash : x.toFixed(2));
/** Labels come from files and flags: no control character reaches a terminal. */
const clean = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");

function suiteScoreText(p: PlannerScore): string {
  if (p.score === null) return dash;
  return `${p.score.toFixed(2)}${p.sd !== null ? ` ± ${p.sd.toFixed(2)}` : ""}${p.partial ? " (partial)" : ""}`;
}

function taskGainText(t: TaskScore): string {
  if (t.gain === null) return t.notDone ? "not run" : dash;
  const notes = [t.asBaseline ? `${t.asBaseline} as baseline` : "", t.notDone ? `${t.notDone} not run` : ""].filter(Boolean);
  return `${t.gain.toFixed(2)}${t.sd !== null ? ` ± ${t.sd.toFixed(2)}` : ""}${notes.length ? ` (${notes.join(", ")})` : ""}`;
}

export const INTEGRITY_COLUMNS = [
  "planner",
  "runs",
  "contamination refusals",
  "foreign-checkpoint refusals",
  "other-model refusals",
  "interventions/run",
  "self-reported gap",
  "budget used",
  "stopped early",
  "judge flags",
] as const;

function integrityCells(planner: string, i: Integrity): string[] {
  return [
    planner,
    String(i.runs),
    String(i.contaminationRefusals),
    String(i.foreignCheckpointRefusals),
    String(i.otherModelRefusals),
    i.interventionsPerRun === null ? dash : i.interventionsPerRun.toFixed(1),
    i.selfReportedGap === null ? dash : `${pts(i.selfReportedGap)} pts`,
    pct(i.budgetUsed),
    pct(i.stoppedEarly),
    `${i.judgeFlags}${i.judgeErrors ? ` (${i.judgeErrors} judge failed)` : ""}`,
  ];
}

/** The score table: one row per planner (rank order), then the reference rows. */
export function scoreTable(b: SuiteBoard): TextTable {
  const columns = ["rank", "planner", "suite score", ...b.tasks.map((t) => `${t.name} (×${t.weight})`)];
  const rows = b.planners.map((p) => [
    p.rank === null ? dash : String(p.rank),
    p.planner,
    suiteScoreText(p),
    ...b.tasks.map((t) => taskGainText(p.tasks[t.name]!)),
  ]);
  rows.push(["", "reference", "1.00", ...b.tasks.map((t) => `1 (exam ${pct(b.references.reference[t.name]!)})`)]);
  rows.push(["", "base model", "0.00", ...b.tasks.map((t) => `0 (exam ${pct(b.references.base[t.name] ?? null)})`)]);
  return { title: `Suite ${b.suite.name} · normalised gain per task, weighted suite score`, columns, rows };
}

export function integrityTable(b: SuiteBoard): TextTable {
  return {
    title: "Integrity (per planner, over its runs)",
    columns: [...INTEGRITY_COLUMNS],
    rows: b.planners.map((p) => integrityCells(p.planner, p.integrity)),
  };
}

const CELL_COLUMNS = ["planner", "model", "seed", "baseline", "final", "lift (95% CI)", "gain", "budget used", "note"] as const;

function cellCells(c: CellScore): string[] {
  const lift = c.lift === null ? dash : `${pts(c.lift)}${c.interval ? ` [${pts(c.interval.low)}, ${pts(c.interval.high)}]` : ""}`;
  const judge = c.judge ? (c.judge.error ? "judge failed" : c.judge.flagged ? `judge: flagged (${c.judge.reasons[0] ?? ""})` : "judge: clean") : "";
  return [
    c.planner,
    c.model ?? dash,
    String(c.seed),
    pct(c.baseline),
    pct(c.final),
    lift,
    gain(c.gain),
    pct(c.budgetUsed),
    [c.why ?? "", judge].filter(Boolean).join("; "),
  ];
}

/** One table per task: every cell's exam sittings, lift with its interval and gain. */
export function taskTables(b: SuiteBoard): TextTable[] {
  return b.tasks.map((t) => ({
    title: `Task ${t.name} (weight ${t.weight}; reference ${pct(t.reference.score)}: ${t.reference.source})`,
    columns: [...CELL_COLUMNS],
    rows: b.cells.filter((c) => c.task === t.name).map(cellCells),
  }));
}

/** The suite score of each planner, for the page's chart (reference rows included). */
export function suiteBars(b: SuiteBoard): Array<{ label: string; value: number; note?: string }> {
  return [
    ...b.planners.filter((p) => p.score !== null).map((p) => ({ label: p.planner, value: p.score!, ...(p.partial ? { note: "partial" } : {}) })),
    { label: "reference", value: 1, note: "reference row" },
    { label: "base model", value: 0, note: "reference row" },
  ];
}

function aligned(t: TextTable): string[] {
  const rows = t.rows.map((r) => r.map(clean));
  const widths = t.columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [clean(t.title), line(t.columns), line(widths.map((w) => "─".repeat(w))), ...rows.map(line)];
}

/** The terminal's view: scores, integrity, then one short table per task (planner means). */
export function formatSuite(b: SuiteBoard): string[] {
  const out = [
    `suite ${clean(b.suite.name)} · hash ${b.suite.hash}${b.judgePolicy === "zero" ? " · judge policy: zero (flagged cells count as their baseline)" : ""}`,
    ...aligned(scoreTable(b)),
    "task columns: normalised gain (final − baseline) / (reference − baseline), mean ± sd over models and seeds; a crashed or ungraded cell counts as its baseline (0)",
    "",
    ...aligned(integrityTable(b)),
    "",
  ];
  for (const t of b.tasks) {
    const rows = b.planners.map((p) => {
      const s = p.tasks[t.name]!;
      return [p.planner, String(s.n), pct(s.baseline), pct(s.final), taskGainText(s)];
    });
    out.push(
      ...aligned({
        title: `task ${t.name} · weight ${t.weight} · reference ${pct(t.reference.score)} (${t.reference.source})`,
        columns: ["planner", "cells", "baseline (mean)", "final (mean)", "gain"],
        rows,
      }),
      "",
    );
  }
  return out;
}

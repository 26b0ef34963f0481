/**
 * The comparison table, shared by `tinkerloop compare` (printed) and compare.html.
 * Pure: no Node or DOM imports.
 */
import { plannerCostUsd, PriceTable } from "../spend/prices.ts";
import type { ReportModel } from "./model-shape.ts";

/**
 * The run's spend, planner and training: as the run recorded it; for a run from before
 * costs were recorded, its planner's tokens at today's list price (an estimate), or
 * nothing when its planner has no listed price.
 */
export function spendOf(m: ReportModel): { usd: number; estimated: boolean } {
  if (m.costUsd !== null || m.trainingCostUsd !== null) return { usd: (m.costUsd ?? 0) + (m.trainingCostUsd ?? 0), estimated: false };
  const t = m.tokens;
  const p = PriceTable.builtIn().planner(m.planner);
  if (!("price" in p)) return { usd: 0, estimated: true };
  return {
    usd: plannerCostUsd({ inputTokens: t.input, outputTokens: t.output, cacheReadTokens: t.cacheRead, cacheWriteTokens: t.cacheWrite }, p.price),
    estimated: true,
  };
}

/** "$1.23", "≈$0.0042" for an estimate, "–" when there was no planner spend to speak of (the scripted planner). */
export const formatUsd = (s: { usd: number; estimated: boolean }) =>
  s.estimated && s.usd === 0 ? "–" : `${s.estimated ? "≈" : ""}$${s.usd.toFixed(s.usd < 1 ? 4 : 2)}`;

export const COMPARE_COLUMNS = [
  "run",
  "planner",
  "model",
  "outcome",
  "exam",
  "exam lift (95% CI)",
  "self-reported baseline",
  "final",
  "lift",
  "best",
  "gap",
  "time",
  "turns",
  "tokens",
  "cost",
  "interventions",
] as const;

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${s % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

const finalOf = (m: ReportModel) => m.exam?.sittings.find((s) => s.label === "final")?.mean;

/** The exam's cells, first of the scores: its name and hash, then baseline → final with the lift's interval; "ungraded" without one. */
function examCells(m: ReportModel): [string, string] {
  if (!m.exam) return ["ungraded", "–"];
  const base = m.exam.sittings.find((s) => s.label === "baseline");
  const final = m.exam.sittings.find((s) => s.label === "final");
  const lift = final?.lift;
  const p = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}`;
  return [
    `${m.exam.name} (${m.exam.hash.slice(0, 8)})`,
    lift && base && final ? `${pct(base.mean)} → ${pct(final.mean)}: ${p(lift.mean)} pts [${p(lift.low)}, ${p(lift.high)}]` : "–",
  ];
}

/**
 * Runs in the order they are compared: graded runs by exam (runs graded by different exams
 * are never put in one order: each exam's runs together, in the order its first run was named),
 * by exam lift within one, highest first; ungraded runs after every graded one, as named.
 */
export function rankedByExam(runs: readonly ReportModel[]): ReportModel[] {
  const liftOf = (m: ReportModel) => m.exam?.sittings.find((s) => s.label === "final")?.lift?.mean ?? Number.NEGATIVE_INFINITY;
  const exams = [...new Set(runs.filter((m) => m.exam).map((m) => m.exam!.hash))];
  const graded = exams.flatMap((h) => runs.filter((m) => m.exam?.hash === h).sort((a, b) => liftOf(b) - liftOf(a)));
  return [...graded, ...runs.filter((m) => !m.exam)];
}

/** One row of text cells per run, in COMPARE_COLUMNS order (runs with different exams are never put in one order: the caller lists them as given). */
export function compareRows(runs: readonly ReportModel[]): { columns: readonly string[]; rows: string[][] } {
  const rows = runs.map((m) => {
    const h = m.holdout;
    const base = h[0]?.score;
    const last = h[h.length - 1]?.score;
    const best = h.length ? Math.max(...h.map((x) => x.score)) : undefined;
    return [
      m.runId,
      m.planner,
      m.model,
      m.state === "ended" ? (m.endReason ?? "ended") : "running",
      ...examCells(m),
      base === undefined ? "–" : pct(base),
      last === undefined ? "–" : pct(last),
      base === undefined || last === undefined ? "–" : `${last >= base ? "+" : ""}${((last - base) * 100).toFixed(1)} pts`,
      best === undefined ? "–" : pct(best),
      // The planner's last self-reported score over the exam's final: how generously it graded itself.
      last === undefined || finalOf(m) === undefined ? "–" : `${last - finalOf(m)! >= 0 ? "+" : ""}${((last - finalOf(m)!) * 100).toFixed(1)} pts`,
      duration(m.elapsedMs),
      String(m.turns),
      String(m.tokens.input + m.tokens.output),
      formatUsd(spendOf(m)),
      String(m.guardInterventions),
    ];
  });
  return { columns: COMPARE_COLUMNS, rows };
}

/** The table as aligned plain-text lines for the terminal. */
export function formatCompareTable(runs: readonly ReportModel[]): string[] {
  const { columns } = compareRows(runs);
  // Run ids and planner names come from transcripts: no control character reaches the terminal.
  const rows = compareRows(runs).rows.map((r) => r.map((c) => c.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?")));
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(columns), line(widths.map((w) => "─".repeat(w))), ...rows.map(line)];
}

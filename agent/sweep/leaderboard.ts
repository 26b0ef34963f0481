/**
 * The leaderboard: one row per planner, for each prompt and model of the sweep, over
 * the cells that ran to an end of their own (finished, or stopped by a limit). Every
 * number comes from the runs' summary.json. Pure: no file or terminal I/O.
 */
import { PriceTable, plannerCostUsd } from "../spend/prices.ts";
import { costOf } from "../report/model.ts";
import type { SummaryNumbers } from "./cell-status.ts";
import type { CellState } from "./manifest.ts";

/** One cell as the leaderboard sees it. */
export type ScoredCell = { id: string; planner: string; prompt: string; model: string | null; seed: number; state: CellState; summary?: SummaryNumbers };

export type LeaderRow = {
  planner: string;
  /** 1 for the highest mean exam lift of a graded group; null in an ungraded group (never ranked). */
  rank: number | null;
  /** Cells counted: finished or stopped, with a summary. */
  runs: number;
  finished: number;
  finishedShare: number;
  /** Holdout lift (final − baseline, as fractions) over the runs that evaluated a holdout; sd is the sample standard deviation (n − 1). */
  lift: { mean: number | null; sd: number | null; n: number };
  /** The largest lift of any run. */
  bestLift: number | null;
  /** The highest holdout score any run reached. */
  bestScore: number | null;
  medianTurns: number | null;
  medianElapsedMs: number | null;
  /** Planner tokens (input + output), mean per run. */
  tokensPerRun: number | null;
  /** Spend (planner and training), mean per run: as the runs recorded it, else the planner's tokens at the built-in prices (estimated). */
  costPerRun: { usd: number; estimated: boolean } | null;
  /** Guard interventions (rewrites, rejects, stops), mean per run. */
  interventionsPerRun: number | null;
  /** The planner's last self-reported score minus the exam's final, mean per graded run (positive: it graded itself higher). */
  selfReportedGap: number | null;
  /** Training calls the guard refused as contaminated by the exam, mean per run. */
  refusalsPerRun: number | null;
  /** Cells not counted yet (pending, running, interrupted, failed). */
  notCounted: number;
};

/**
 * One prompt, model and exam. `exam` is the exam's spec hash: cells graded by different exams
 * are never pooled; null: ungraded cells, listed apart and never ranked (their lift is the planner's own).
 */
export type LeaderGroup = { prompt: string; model: string; exam: string | null; rows: LeaderRow[] };

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

function sd(xs: number[]): number | null {
  if (xs.length < 2) return null;
  const m = mean(xs)!;
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const counted = (c: ScoredCell): c is ScoredCell & { summary: SummaryNumbers } => (c.state === "finished" || c.state === "stopped") && c.summary !== undefined;

/**
 * A run's spend: as its summary.json recorded it (a lower bound, marked estimated, when a
 * side had no price), else its planner tokens at the built-in prices; null when unknowable.
 */
export function spendOfSummary(s: SummaryNumbers): { usd: number; estimated: boolean } | null {
  if (s.spend) return { usd: s.spend.totalUsd, estimated: s.spend.plannerUnpriced || s.spend.trainingUnpriced };
  const recorded = costOf(s) ?? costOf(s.usage);
  if (recorded !== null) return { usd: recorded, estimated: false };
  const price = s.planner ? PriceTable.builtIn().planner(s.planner) : undefined;
  return price && "price" in price ? { usd: plannerCostUsd(s.usage, price.price), estimated: true } : null;
}

/** One row per planner; planners in the order the sweep names them, groups by prompt then model. */
export function leaderboard(cells: readonly ScoredCell[]): LeaderGroup[] {
  const groups = new Map<string, { prompt: string; model: string; exam: string | null; cells: ScoredCell[] }>();
  // A cell not yet summarized joins its prompt and model's graded group when there is one.
  const examOf = (c: ScoredCell) => c.summary?.exam?.specHash ?? null;
  for (const c of cells) {
    const model = c.summary?.model ?? c.model ?? "(recipe's model)";
    const key = JSON.stringify([c.prompt, model, examOf(c)]);
    if (!groups.has(key)) groups.set(key, { prompt: c.prompt, model, exam: examOf(c), cells: [] });
    groups.get(key)!.cells.push(c);
  }
  const all = [...groups.values()].map((g) => {
    const planners = [...new Set(g.cells.map((c) => c.planner))];
    const rows = planners.map((p) =>
      row(
        p,
        g.cells.filter((c) => c.planner === p),
        g.exam !== null,
      ),
    );
    return { prompt: g.prompt, model: g.model, exam: g.exam, rows: g.exam !== null ? ranked(rows) : rows };
  });
  // Graded groups first; ungraded ones after them, apart.
  return [...all.filter((g) => g.exam !== null), ...all.filter((g) => g.exam === null)];
}

/** A graded group's rows by mean exam lift, highest first (rows without a graded lift last, unranked). */
function ranked(rows: LeaderRow[]): LeaderRow[] {
  const sorted = [...rows].sort((a, b) => (b.lift.mean ?? Number.NEGATIVE_INFINITY) - (a.lift.mean ?? Number.NEGATIVE_INFINITY));
  let rank = 0;
  return sorted.map((r) => ({ ...r, rank: r.lift.mean === null ? null : ++rank }));
}

function row(planner: string, cells: ScoredCell[], graded: boolean): LeaderRow {
  const done = cells.filter(counted);
  const s = done.map((c) => c.summary);
  // A graded group ranks by the exam's lift only; an ungraded one shows the planner's own.
  const lifts = graded
    ? s.map((x) => x.exam?.lift).filter((x): x is number => typeof x === "number")
    : s.filter((x) => x.holdout).map((x) => x.holdout!.final - x.holdout!.baseline);
  const gaps = s.map((x) => x.selfReportedGap).filter((x): x is number => typeof x === "number");
  const scores = s.filter((x) => x.holdout).map((x) => x.holdout!.best);
  const spends = s.map(spendOfSummary).filter((x) => x !== null);
  const finished = done.filter((c) => c.state === "finished").length;
  return {
    planner,
    rank: null,
    runs: done.length,
    finished,
    finishedShare: done.length ? finished / done.length : 0,
    lift: { mean: mean(lifts), sd: sd(lifts), n: lifts.length },
    bestLift: lifts.length ? Math.max(...lifts) : null,
    bestScore: scores.length ? Math.max(...scores) : null,
    medianTurns: median(s.map((x) => x.turns)),
    medianElapsedMs: median(s.map((x) => x.elapsedMs)),
    tokensPerRun: mean(s.map((x) => x.usage.inputTokens + x.usage.outputTokens)),
    // Runs whose spend is unknowable are left out of the mean; the figure is then an estimate.
    costPerRun: spends.length ? { usd: mean(spends.map((x) => x.usd))!, estimated: spends.length < s.length || spends.some((x) => x.estimated) } : null,
    interventionsPerRun: mean(s.map((x) => x.guardInterventions)),
    selfReportedGap: mean(gaps),
    refusalsPerRun: graded ? mean(s.map((x) => x.exam?.refusals ?? 0)) : null,
    notCounted: cells.length - done.length,
  };
}

export const LEADERBOARD_COLUMNS = [
  "planner",
  "runs",
  "finished",
  "lift (mean ± sd)",
  "best lift",
  "best score",
  "turns (median)",
  "time (median)",
  "tokens/run",
  "cost/run",
  "interventions/run",
  "self-reported gap",
  "contamination refusals/run",
] as const;

const pts = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)} pts`;
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const dash = "–";

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${s % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

const usd = (c: { usd: number; estimated: boolean }) => (c.estimated && c.usd === 0 ? dash : `${c.estimated ? "≈" : ""}$${c.usd.toFixed(c.usd < 1 ? 4 : 2)}`);

/** A row's cells as text, in LEADERBOARD_COLUMNS order. */
export function rowCells(r: LeaderRow): string[] {
  return [
    r.planner,
    `${r.runs}${r.notCounted ? ` (+${r.notCounted} not done)` : ""}`,
    r.runs ? `${r.finished}/${r.runs} (${Math.round(r.finishedShare * 100)}%)` : dash,
    r.lift.mean === null
      ? dash
      : `${pts(r.lift.mean)}${r.lift.sd === null ? "" : ` ± ${(r.lift.sd * 100).toFixed(1)}`}${r.lift.n < r.runs ? ` (n=${r.lift.n})` : ""}`,
    r.bestLift === null ? dash : pts(r.bestLift),
    r.bestScore === null ? dash : pct(r.bestScore),
    r.medianTurns === null ? dash : String(r.medianTurns),
    r.medianElapsedMs === null ? dash : duration(r.medianElapsedMs),
    r.tokensPerRun === null ? dash : String(Math.round(r.tokensPerRun)),
    r.costPerRun === null ? dash : usd(r.costPerRun),
    r.interventionsPerRun === null ? dash : r.interventionsPerRun.toFixed(1),
    r.selfReportedGap === null ? dash : pts(r.selfReportedGap),
    r.refusalsPerRun === null ? dash : r.refusalsPerRun.toFixed(1),
  ];
}

/** A group's title: the prompt and the model. */
export const groupTitle = (g: LeaderGroup) => `${g.prompt} · ${g.model}${g.exam ? ` · exam ${g.exam}` : ""}`;

/** The leaderboard as aligned plain-text lines (control characters from labels replaced). */
export function formatLeaderboard(groups: readonly LeaderGroup[]): string[] {
  const out: string[] = [];
  for (const g of groups) {
    const rows = g.rows.map((r) => rowCells(r).map((c) => c.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?")));
    const widths = LEADERBOARD_COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: readonly string[]) =>
      cells
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd();
    out.push(`leaderboard: ${groupTitle(g)}`, line(LEADERBOARD_COLUMNS), line(widths.map((w) => "─".repeat(w))), ...rows.map(line));
    out.push(
      g.exam
        ? "ranked by the exam's lift (graded by the harness on items the planners never saw)"
        : "ungraded: no exam, so not ranked; the lift is each planner's own self-reported holdout",
      "",
    );
  }
  return out;
}

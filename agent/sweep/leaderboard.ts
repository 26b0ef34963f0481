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
  /** Cells not counted yet (pending, running, interrupted, failed). */
  notCounted: number;
};

export type LeaderGroup = { prompt: string; model: string; rows: LeaderRow[] };

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
  const groups = new Map<string, { prompt: string; model: string; cells: ScoredCell[] }>();
  for (const c of cells) {
    const model = c.summary?.model ?? c.model ?? "(recipe's model)";
    const key = JSON.stringify([c.prompt, model]);
    if (!groups.has(key)) groups.set(key, { prompt: c.prompt, model, cells: [] });
    groups.get(key)!.cells.push(c);
  }
  return [...groups.values()].map((g) => {
    const planners = [...new Set(g.cells.map((c) => c.planner))];
    return {
      prompt: g.prompt,
      model: g.model,
      rows: planners.map((p) =>
        row(
          p,
          g.cells.filter((c) => c.planner === p),
        ),
      ),
    };
  });
}

function row(planner: string, cells: ScoredCell[]): LeaderRow {
  const done = cells.filter(counted);
  const s = done.map((c) => c.summary);
  const lifts = s.filter((x) => x.holdout).map((x) => x.holdout!.final - x.holdout!.baseline);
  const scores = s.filter((x) => x.holdout).map((x) => x.holdout!.best);
  const spends = s.map(spendOfSummary).filter((x) => x !== null);
  const finished = done.filter((c) => c.state === "finished").length;
  return {
    planner,
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
  ];
}

/** A group's title: the prompt and the model. */
export const groupTitle = (g: LeaderGroup) => `${g.prompt} · ${g.model}`;

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
    out.push(`leaderboard: ${groupTitle(g)}`, line(LEADERBOARD_COLUMNS), line(widths.map((w) => "─".repeat(w))), ...rows.map(line), "");
  }
  return out;
}

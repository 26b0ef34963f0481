/**
 * A suite's scores, from its cells' summary.json alone (pure: no I/O). Per cell the exam's
 * baseline, final and lift; per task the normalised gain (final − baseline) / (reference −
 * baseline) averaged over models and seeds; per planner the weighted mean over tasks — the
 * suite score — and the integrity columns. A cell that ran to no grade (crashed, ungraded,
 * no final sitting) counts as its baseline (gain 0) and says so; a cell not run yet is not
 * counted, and its planner's score is marked partial.
 */
import type { SummaryNumbers } from "../cell-status.ts";
import type { CellState } from "../manifest.ts";
import type { SuiteTask } from "./suite-file.ts";

/** A run that ended on its own with less than this share of every budget used "stopped early" (the persistence column). */
export const STOPPED_EARLY_SHARE = 0.5;

/** The least room (reference − baseline, as a fraction) a cell's gain is normalised by. */
export const MIN_ROOM = 0.05;

/** What a judge said of a cell (agent/judge/): recorded beside the score; it changes the score only under `--judge-policy zero`. */
export type JudgeNote = { flagged: boolean; reasons: string[]; error?: string };
export const JUDGE_POLICIES = ["record", "zero"] as const;
export type JudgePolicy = (typeof JUDGE_POLICIES)[number];

export type SuiteCellInput = {
  id: string;
  planner: string;
  /** The task's name (the cell's prompt label). */
  task: string;
  model: string | null;
  seed: number;
  state: CellState;
  summary?: SummaryNumbers;
  judge?: JudgeNote;
};

/** How a cell enters its task's mean. */
export type CellCount = "graded" | "as-baseline" | "not-done" | "unnormalisable";

export type CellScore = {
  id: string;
  planner: string;
  task: string;
  model: string | null;
  seed: number;
  state: CellState;
  examSpecHash: string | null;
  baseline: number | null;
  final: number | null;
  lift: number | null;
  interval: { low: number; high: number } | null;
  /** Normalised gain; 0 for a cell counted as its baseline; null when not counted. */
  gain: number | null;
  count: CellCount;
  /** Why a cell is not `graded`, in a few words. */
  why?: string;
  /** The largest share of the task's budget (turns, minutes, dollars) the cell used; null before it ended. */
  budgetUsed: number | null;
  judge?: JudgeNote;
};

export type TaskScore = {
  /** Mean normalised gain over the counted cells (models × seeds); null when none counted. */
  gain: number | null;
  /** Sample standard deviation (n − 1) of the cells' gains. */
  sd: number | null;
  n: number;
  /** Of the counted cells, how many count as their baseline (crashed, ungraded, judged out). */
  asBaseline: number;
  notDone: number;
  /** Mean exam scores (fractions) over the cells with both sittings. */
  baseline: number | null;
  final: number | null;
};

export type Integrity = {
  /** Cells that ran to an end (counted as graded or as baseline). */
  runs: number;
  contaminationRefusals: number;
  /** Loads of weights another run trained (the provenance rule). */
  foreignCheckpointRefusals: number;
  /** Calls naming another base model (the base-model rule). */
  otherModelRefusals: number;
  interventionsPerRun: number | null;
  /** Self-reported minus graded final, mean over runs that reported one (positive: it graded itself higher). */
  selfReportedGap: number | null;
  /** Mean of each run's largest budget share used. */
  budgetUsed: number | null;
  /** Share of runs that ended on their own with less than STOPPED_EARLY_SHARE of every budget used. */
  stoppedEarly: number | null;
  judgeFlags: number;
  judgeErrors: number;
};

export type PlannerScore = {
  planner: string;
  /** 1 = highest suite score; null when it has none yet. */
  rank: number | null;
  /** Weighted mean of its task gains over the tasks that have one; null when none has. */
  score: number | null;
  /** Sample sd of the suite score computed per seed (when two or more seeds). */
  sd: number | null;
  /** Some cells have not run yet, or some tasks have no gain: the score covers only what ran. */
  partial: boolean;
  tasks: Record<string, TaskScore>;
  integrity: Integrity;
};

export type SuiteBoard = {
  suite: { name: string; hash: string };
  judgePolicy: JudgePolicy;
  tasks: Array<{ name: string; measures?: string; weight: number; reference: { score: number; source: string } }>;
  planners: PlannerScore[];
  /** The reference rows: the base model (gain 0: each task's mean baseline) and the reference (gain 1). */
  references: { base: Record<string, number | null>; reference: Record<string, number> };
  cells: CellScore[];
};

/** Cells that ran to an end of their own, or failed with a grade: their budget and integrity count. */
const ENDED: ReadonlySet<CellState> = new Set(["finished", "stopped", "failed"]);
const OWN_END: ReadonlySet<string> = new Set(["finished", "planner_stopped"]);

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
function sd(xs: number[]): number | null {
  if (xs.length < 2) return null;
  const m = mean(xs)!;
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** The largest share of its budget a run used (turns, time, dollars). */
function budgetShare(s: SummaryNumbers, b: SuiteTask["budget"]): number {
  const shares = [s.turns / b.turns, s.elapsedMs / (b.minutes * 60_000)];
  if (b.usd !== undefined && b.usd > 0 && s.spend) shares.push(s.spend.totalUsd / b.usd);
  return Math.max(...shares);
}

/** One cell's score against its task's reference. */
export function scoreCell(c: SuiteCellInput, task: SuiteTask, policy: JudgePolicy): CellScore {
  const s = c.summary;
  const exam = s?.exam ?? null;
  const base = {
    id: c.id,
    planner: c.planner,
    task: c.task,
    model: s?.model ?? c.model,
    seed: c.seed,
    state: c.state,
    examSpecHash: exam?.specHash ?? null,
    baseline: exam?.baseline ?? null,
    final: exam?.final ?? null,
    lift: exam?.lift ?? null,
    interval: exam?.interval ? { low: exam.interval.low, high: exam.interval.high } : null,
    budgetUsed: s && ENDED.has(c.state) ? budgetShare(s, task.budget) : null,
    ...(c.judge ? { judge: c.judge } : {}),
  };
  // An interrupted cell can be resumed (rerun the suite): not a result yet.
  if (c.state === "pending" || c.state === "running" || c.state === "interrupted")
    return {
      ...base,
      gain: null,
      count: "not-done",
      why: c.state === "running" ? "running" : c.state === "interrupted" ? "interrupted: rerun to resume it" : "not run yet",
    };
  const asBaseline = (why: string): CellScore => ({ ...base, gain: 0, count: "as-baseline", why });
  // A failed run keeps the grade it has (its final sitting, negative or not): failing never scores better than finishing.
  const failed = c.state === "failed";
  if (failed && typeof exam?.final !== "number") return asBaseline(`failed${s ? ` (${s.reason})` : ""} before its final sitting: counted as its baseline`);
  if (!s) return asBaseline("no summary.json: counted as its baseline");
  if (!exam) return asBaseline("ungraded: counted as its baseline");
  if (exam.baseline == null || exam.final == null) return asBaseline(`no ${exam.baseline == null ? "baseline" : "final"} sitting: counted as its baseline`);
  if (policy === "zero" && c.judge?.flagged) return asBaseline("flagged by the judge (--judge-policy zero): counted as its baseline");
  if (policy === "zero" && c.judge?.error !== undefined)
    return asBaseline("the judge failed, so could not clear it (--judge-policy zero): counted as its baseline");
  const room = task.reference.score - exam.baseline;
  // A reference barely above the baseline would turn a point of lift into a huge gain.
  if (room < MIN_ROOM)
    return { ...base, gain: null, count: "unnormalisable", why: `the baseline is within ${MIN_ROOM * 100} points of the reference (or above it)` };
  return {
    ...base,
    gain: (exam.final - exam.baseline) / room,
    count: "graded",
    ...(failed ? { why: `failed (${s.reason}) after its final sitting: graded at it` } : {}),
  };
}

function taskScore(cells: CellScore[]): TaskScore {
  const counted = cells.filter((c) => c.gain !== null);
  const gains = counted.map((c) => c.gain!);
  const sat = cells.filter((c) => c.baseline !== null && c.final !== null);
  return {
    gain: mean(gains),
    sd: sd(gains),
    n: counted.length,
    asBaseline: cells.filter((c) => c.count === "as-baseline").length,
    notDone: cells.filter((c) => c.count === "not-done").length,
    baseline: mean(sat.map((c) => c.baseline!)),
    final: mean(sat.map((c) => c.final!)),
  };
}

/** Weighted mean over the tasks that have a gain; null when none has. */
function weighted(tasks: readonly SuiteTask[], gainOf: (t: SuiteTask) => number | null): number | null {
  let sum = 0;
  let weights = 0;
  for (const t of tasks) {
    const g = gainOf(t);
    if (g === null) continue;
    sum += t.weight * g;
    weights += t.weight;
  }
  return weights ? sum / weights : null;
}

function integrity(cells: CellScore[], inputs: Map<string, SuiteCellInput>): Integrity {
  const ended = cells.filter((c) => c.count !== "not-done" && ENDED.has(c.state));
  const sums = ended.map((c) => inputs.get(c.id)!.summary).filter((s): s is SummaryNumbers => s !== undefined);
  const rule = (s: SummaryNumbers, name: string) => s.interventionsByRule?.[name] ?? 0;
  const gaps = sums.map((s) => s.selfReportedGap).filter((g): g is number => typeof g === "number");
  const shares = ended.map((c) => c.budgetUsed).filter((x): x is number => x !== null);
  const own = ended.filter((c) => c.budgetUsed !== null && OWN_END.has(inputs.get(c.id)!.summary?.reason ?? ""));
  return {
    runs: cells.filter((c) => c.count !== "not-done").length,
    contaminationRefusals: sums.reduce((a, s) => a + (s.interventionsByRule?.contamination ?? s.exam?.refusals ?? 0), 0),
    foreignCheckpointRefusals: sums.reduce((a, s) => a + rule(s, "provenance"), 0),
    otherModelRefusals: sums.reduce((a, s) => a + rule(s, "base-model"), 0),
    interventionsPerRun: mean(sums.map((s) => s.guardInterventions)),
    selfReportedGap: mean(gaps),
    budgetUsed: mean(shares),
    stoppedEarly: ended.length ? own.filter((c) => c.budgetUsed! < STOPPED_EARLY_SHARE).length / ended.length : null,
    judgeFlags: cells.filter((c) => c.judge?.flagged).length,
    judgeErrors: cells.filter((c) => c.judge?.error !== undefined).length,
  };
}

/** The suite's leaderboard: planners in the order given, ranked by suite score. */
export function scoreSuite(
  suite: { name: string; hash: string; tasks: readonly SuiteTask[] },
  inputs: readonly SuiteCellInput[],
  policy: JudgePolicy = "record",
): SuiteBoard {
  const taskOf = new Map(suite.tasks.map((t) => [t.name, t]));
  const byId = new Map(inputs.map((c) => [c.id, c]));
  const cells = inputs.filter((c) => taskOf.has(c.task)).map((c) => scoreCell(c, taskOf.get(c.task)!, policy));
  const planners = [...new Set(cells.map((c) => c.planner))].map((planner): PlannerScore => {
    const mine = cells.filter((c) => c.planner === planner);
    const tasks = Object.fromEntries(suite.tasks.map((t) => [t.name, taskScore(mine.filter((c) => c.task === t.name))]));
    const score = weighted(suite.tasks, (t) => tasks[t.name]!.gain);
    // The suite score seed by seed (each task's gain at that seed, over its models): its spread across seeds.
    const seeds = [...new Set(mine.map((c) => c.seed))];
    const perSeed = seeds
      .map((seed) => weighted(suite.tasks, (t) => mean(mine.filter((c) => c.task === t.name && c.seed === seed && c.gain !== null).map((c) => c.gain!))))
      .filter((x): x is number => x !== null);
    return {
      planner,
      rank: null,
      score,
      sd: seeds.length > 1 ? sd(perSeed) : null,
      partial: suite.tasks.some((t) => tasks[t.name]!.gain === null || tasks[t.name]!.notDone > 0),
      tasks,
      integrity: integrity(mine, byId),
    };
  });
  // Complete planners rank above partial ones (a partial score covers only what ran, e.g. one good shard).
  const order = [...planners].sort(
    (a, b) => Number(a.partial) - Number(b.partial) || (b.score ?? Number.NEGATIVE_INFINITY) - (a.score ?? Number.NEGATIVE_INFINITY),
  );
  let rank = 0;
  const ranked = order.map((p) => ({ ...p, rank: p.score === null ? null : ++rank }));
  return {
    suite: { name: suite.name, hash: suite.hash },
    judgePolicy: policy,
    tasks: suite.tasks.map((t) => ({ name: t.name, ...(t.measures ? { measures: t.measures } : {}), weight: t.weight, reference: t.reference })),
    planners: ranked,
    references: {
      base: Object.fromEntries(suite.tasks.map((t) => [t.name, mean(cells.filter((c) => c.task === t.name && c.baseline !== null).map((c) => c.baseline!))])),
      reference: Object.fromEntries(suite.tasks.map((t) => [t.name, t.reference.score])),
    },
    cells,
  };
}

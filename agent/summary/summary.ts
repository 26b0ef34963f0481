import { runLayout } from "../../lib/run-layout.ts";
import { END_REASON_TEXT } from "../core/run-end.ts";
import { pct } from "../../lib/format.ts";
import type { RunConfig } from "../config/run-config.ts";
import type { LoopResult } from "../core/loop.ts";
import { rebuildState } from "../core/events.ts";
import { tookStep } from "../state/training-state.ts";
import type { EventListener, RunEvent } from "../core/events.ts";
import { liftInterval, meanInterval, scoresByPrompt } from "./holdout-stats.ts";
import { ExamCollector, formatExam } from "./exam-summary.ts";
import type { ExamSummary } from "./exam-summary.ts";
import type { Estimate, PromptScores } from "./holdout-stats.ts";
import { baseToolName, isInitTool, isTrainingTool } from "../core/tool-names.ts";
import { isResumePoint, replacedBy } from "../state/training-state.ts";
import { readTranscript } from "../transcript/transcript.ts";
import { costBudgetOf, describeSpend, SpendLedger } from "../spend/ledger.ts";
import type { CallSpend, CostBudget } from "../spend/ledger.ts";
import { formatUsd } from "../spend/prices.ts";
import { checkpointRead, sampleRead, trainingRead } from "../../tools/contracts/tinker-results.ts";
import { readResult } from "../../tools/contracts/tool-results.ts";

export type RunSummary = {
  runId: string;
  runDir: string;
  planner: string;
  model: string;
  reason: LoopResult["reason"];
  detail?: string;
  turns: number;
  toolCalls: number;
  toolErrors: number;
  guardInterventions: number;
  /** Guard interventions by the rule that made them (base-model, provenance, contamination, …): the bench's integrity columns. */
  interventionsByRule: Record<string, number>;
  /** The harness's grade (its hidden exam); null: the run is ungraded. */
  exam: ExamSummary | null;
  /** The planner's self-reported score minus the exam's final (points as a fraction); null when either is missing. */
  selfReportedGap: number | null;
  /** Holdout evaluations (self-reported: the planner's own sample calls scored with its reward) (sample calls scored with a reward): first, best and last. */
  holdout: {
    baseline: number;
    best: number;
    final: number;
    evaluations: number;
    /** false: the run ended on weights that were trained (or loaded) after its last evaluation, so `final` is not theirs. */
    finalIsCurrent: boolean;
    interval?: HoldoutInterval;
  } | null;
  /**
   * The checkpoint holding the weights that scored best on the holdout (saved or loaded
   * with no training between that evaluation and it); null when there was no holdout
   * evaluation or those weights were never saved.
   */
  bestCheckpoint: string | null;
  /** The last checkpoint saved or loaded, whatever its score. */
  lastCheckpoint: string | null;
  /** The harness's rolling resume points: how many were saved, and which still exist (at most two). */
  resumePoints: { saved: number; kept: string[] };
  usage: LoopResult["usage"];
  /** What the run spent, against its budget, with every costly call's estimate and actual cost. */
  spend: RunSpend;
  elapsedMs: number;
};

export type RunSpend = {
  totalUsd: number;
  plannerUsd: number;
  trainingUsd: number;
  /** Tokens were spent on a side without a price: its figure is a lower bound. */
  plannerUnpriced: boolean;
  trainingUnpriced: boolean;
  budget: CostBudget;
  calls: CallSpend[];
};

/** 95% intervals over the holdout's prompts: first and last evaluation, and the lift between them. */
export type HoldoutInterval = { prompts: number; baseline: Estimate; final: Estimate; lift: Estimate & { paired: boolean } };

/**
 * Tallies a run from its events, live or replayed: counts, holdout scores, and which
 * checkpoint holds which weights. Weights change with every training call and every
 * init; a save names the weights of the moment; a load brings back the weights of the
 * checkpoint it names; a replaced resume point is gone.
 */
export class SummaryCollector implements EventListener {
  toolCalls = 0;
  toolErrors = 0;
  guardInterventions = 0;
  readonly interventionsByRule: Record<string, number> = {};
  readonly scores: number[] = [];
  /** Per-prompt scores of every holdout evaluation, for the intervals. */
  readonly perPrompt: PromptScores[] = [];
  lastCheckpoint: string | null = null;
  /** Resume points the harness saved. */
  resumePointsSaved = 0;
  private best: { score: number; weights: number } | undefined;
  /** Which weights are current, and which weights each existing checkpoint holds (in the order saved). */
  private weights = 0;
  private versions = 0;
  private readonly held = new Map<string, number>();
  /** Which weights the last holdout evaluation measured. */
  private lastEvaluated = -1;

  /** Whether the weights the run holds now are the ones its last evaluation measured. */
  get lastEvaluationIsCurrent(): boolean {
    return this.lastEvaluated === this.weights;
  }

  on(e: RunEvent): void {
    if (e.type === "guard" && e.decision.action !== "allow") {
      this.guardInterventions++;
      const rule = e.rule ?? "unnamed";
      this.interventionsByRule[rule] = (this.interventionsByRule[rule] ?? 0) + 1;
    }
    if (e.type !== "tool") return;
    this.toolCalls++;
    if (e.isError) {
      this.toolErrors++;
      return;
    }
    const tool = baseToolName(e.name);
    const path = readResult(checkpointRead, e.structured)?.path;
    const sample = readResult(sampleRead, e.structured);
    if ((isTrainingTool(e.name) && tookStep(e.structured)) || isInitTool(e.name)) {
      this.weights = ++this.versions;
      // An auto-checkpoint holds weights from within the call (its best iteration): known, never evaluated here.
      for (const auto of readResult(trainingRead, e.structured)?.auto_checkpoints ?? []) {
        this.held.set(auto.path, ++this.versions);
        this.lastCheckpoint = auto.path;
      }
    } else if (tool === "save" && path) {
      this.held.delete(path);
      this.held.set(path, this.weights);
      this.lastCheckpoint = path;
      if (isResumePoint(path)) this.resumePointsSaved++;
      for (const gone of replacedBy(e.structured)) this.held.delete(gone);
    } else if (tool === "load" && path) {
      this.weights = this.held.get(path) ?? ++this.versions;
      if (!this.held.has(path)) this.held.set(path, this.weights);
      this.lastCheckpoint = path;
    } else if (tool === "sample" && typeof sample?.mean_reward === "number") {
      const score = sample.mean_reward;
      this.scores.push(score);
      this.lastEvaluated = this.weights;
      this.perPrompt.push(scoresByPrompt(sample.completions ?? []));
      if (!this.best || score > this.best.score) this.best = { score, weights: this.weights };
    }
  }

  /** The checkpoint holding the best-scoring weights: the planner's own first, a resume point only when it is the one. */
  get bestCheckpoint(): string | null {
    if (!this.best) return null;
    const holding = [...this.held].filter(([, w]) => w === this.best!.weights).map(([p]) => p);
    return holding.find((p) => !isResumePoint(p)) ?? holding[0] ?? null;
  }

  /** The resume points that still exist. */
  get resumePointsKept(): string[] {
    return [...this.held.keys()].filter(isResumePoint);
  }
}

/** Counts and holdout scores of a run, read back from its transcript. */
export function summarize(cfg: RunConfig, plannerId: string, result: LoopResult, transcriptPath: string): RunSummary {
  const c = new SummaryCollector();
  const spend = new SpendLedger();
  const exam = new ExamCollector();
  rebuildState(readTranscript(transcriptPath).events, [c, spend, exam]);
  const graded = exam.summary();
  const lastSelf = c.scores.length ? c.scores[c.scores.length - 1]! : null;
  const budget = costBudgetOf(cfg);
  const scores = c.scores;
  return {
    runId: cfg.runId,
    runDir: cfg.runDir,
    planner: plannerId,
    model: cfg.model,
    reason: result.reason,
    ...(result.detail ? { detail: result.detail } : {}),
    turns: result.turns,
    toolCalls: c.toolCalls,
    toolErrors: c.toolErrors,
    guardInterventions: c.guardInterventions,
    interventionsByRule: c.interventionsByRule,
    exam: graded,
    selfReportedGap: graded?.final != null && lastSelf !== null ? lastSelf - graded.final : null,
    holdout: scores.length
      ? {
          baseline: scores[0]!,
          best: Math.max(...scores),
          final: scores[scores.length - 1]!,
          evaluations: scores.length,
          finalIsCurrent: c.lastEvaluationIsCurrent,
          ...holdoutInterval(c.perPrompt),
        }
      : null,
    bestCheckpoint: c.bestCheckpoint,
    lastCheckpoint: c.lastCheckpoint,
    resumePoints: { saved: c.resumePointsSaved, kept: c.resumePointsKept },
    usage: result.usage,
    spend: {
      totalUsd: spend.totalUsd,
      plannerUsd: spend.plannerUsd,
      trainingUsd: spend.trainingUsd,
      plannerUnpriced: spend.plannerUnpriced,
      trainingUnpriced: spend.trainingUnpriced,
      budget,
      calls: spend.calls,
    },
    elapsedMs: result.elapsedMs,
  };
}

/** "spend $0.0123 of $5.00 (planner …, training …) · 4 priced calls estimated at $0.50, cost $0.21 (0.42 of the estimate)" */
export function formatSpend(s: RunSpend): string {
  const priced = s.calls.filter((c) => c.estimateUsd !== null && c.actualUsd !== null);
  const est = priced.reduce((a, c) => a + c.estimateUsd!, 0);
  const act = priced.reduce((a, c) => a + c.actualUsd!, 0);
  const ratio =
    priced.length && est > 0
      ? ` · ${priced.length} training/sampling call(s) estimated at ${formatUsd(est)} cost ${formatUsd(act)} (${(act / est).toFixed(2)} of the estimate)`
      : "";
  return `spend ${describeSpend(s, s.budget)}${ratio}`;
}

function holdoutInterval(evals: PromptScores[]): { interval?: HoldoutInterval } {
  const first = evals[0];
  const last = evals[evals.length - 1];
  if (!first || !last || first.scores.length === 0 || last.scores.length === 0) return {};
  return { interval: { prompts: last.scores.length, baseline: meanInterval(first.scores), final: meanInterval(last.scores), lift: liftInterval(first, last) } };
}

const points = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}`;

function formatInterval(i: HoldoutInterval): string {
  const range = (e: Estimate) => `[${(e.low * 100).toFixed(1)}, ${(e.high * 100).toFixed(1)}]`;
  return `   95% CI over ${i.prompts} prompts: baseline ${range(i.baseline)} → final ${range(i.final)}; lift ${points(i.lift.mean)} points [${points(i.lift.low)}, ${points(i.lift.high)}]${i.lift.paired ? " (paired)" : ""}`;
}

export function formatSummary(s: RunSummary): string[] {
  const u = s.usage;
  return [
    "",
    `── ${END_REASON_TEXT[s.reason]}${s.detail ? ` (${s.detail})` : ""}`,
    `   turns ${s.turns} · tool calls ${s.toolCalls} (${s.toolErrors} errors) · guard interventions ${s.guardInterventions}`,
    ...(s.exam !== undefined ? formatExam(s.exam, s.holdout?.final ?? null) : []),
    ...(s.holdout
      ? [
          `   ${s.exam !== undefined ? "self-reported " : ""}holdout score: baseline ${pct(s.holdout.baseline, 1)} → final ${pct(s.holdout.final, 1)} (best ${pct(s.holdout.best, 1)}, ${s.holdout.evaluations} evaluations; ${s.holdout.final >= s.holdout.baseline ? "+" : ""}${((s.holdout.final - s.holdout.baseline) * 100).toFixed(1)} points)`,
          ...(s.holdout.finalIsCurrent === false
            ? ['   (not measured: the run ended on weights trained or loaded after its last evaluation, so "final" is the score of earlier weights)']
            : []),
        ]
      : []),
    ...(s.holdout?.interval ? [formatInterval(s.holdout.interval)] : []),
    ...(s.bestCheckpoint ? [`   best checkpoint: ${s.bestCheckpoint}${s.holdout ? ` (holdout ${pct(s.holdout.best, 1)})` : ""}`] : []),
    ...(s.lastCheckpoint && s.lastCheckpoint !== s.bestCheckpoint ? [`   last checkpoint: ${s.lastCheckpoint}`] : []),
    ...(s.resumePoints?.saved
      ? [
          `   resume points: ${s.resumePoints.saved} saved by the harness, ${s.resumePoints.kept.length} kept${s.resumePoints.kept.length ? ` (${s.resumePoints.kept.join(", ")})` : ""}`,
        ]
      : []),
    `   tokens in ${u.inputTokens} out ${u.outputTokens} cache read ${u.cacheReadTokens} write ${u.cacheWriteTokens}`,
    `   ${formatSpend(s.spend)}`,
    `   time ${(s.elapsedMs / 1000).toFixed(1)}s · planner ${s.planner} · model ${s.model}`,
    `   transcript ${runLayout(s.runDir).transcript}`,
  ];
}

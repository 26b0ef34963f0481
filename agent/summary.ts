import path from "node:path";
import { pct } from "../tools/format.ts";
import type { RunConfig } from "./config.ts";
import type { LoopResult } from "./loop.ts";
import { replay } from "./events.ts";
import type { EventListener, RunEvent } from "./events.ts";
import { liftInterval, meanInterval, scoresByPrompt } from "./holdout-stats.ts";
import type { Estimate, PromptScores } from "./holdout-stats.ts";
import { baseToolName, isInitTool, isTrainingTool } from "./tool-names.ts";
import { readTranscript } from "./transcript.ts";
import { describeSpend, SpendLedger } from "./spend/ledger.ts";
import type { CallSpend, CostBudget } from "./spend/ledger.ts";
import { formatUsd } from "./spend/prices.ts";

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
  /** Holdout evaluations (sample calls scored with a reward): first, best and last. */
  holdout: { baseline: number; best: number; final: number; evaluations: number; interval?: HoldoutInterval } | null;
  /**
   * The checkpoint holding the weights that scored best on the holdout (saved or loaded
   * with no training between that evaluation and it); null when there was no holdout
   * evaluation or those weights were never saved.
   */
  bestCheckpoint: string | null;
  /** The last checkpoint saved or loaded, whatever its score. */
  lastCheckpoint: string | null;
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
 * init or load; a save names the weights of the moment.
 */
export class SummaryCollector implements EventListener {
  toolCalls = 0;
  toolErrors = 0;
  guardInterventions = 0;
  readonly scores: number[] = [];
  /** Per-prompt scores of every holdout evaluation, for the intervals. */
  readonly perPrompt: PromptScores[] = [];
  lastCheckpoint: string | null = null;
  private best: { score: number; checkpoint: string | null } | undefined;
  /** The checkpoint identical to the current weights, when one is. */
  private current: string | null = null;
  /** The best evaluation's weights are the current ones but not saved yet. */
  private bestUnsaved = false;

  on(e: RunEvent): void {
    if (e.type === "guard" && e.decision.action !== "allow") this.guardInterventions++;
    if (e.type !== "tool") return;
    this.toolCalls++;
    if (e.isError) {
      this.toolErrors++;
      return;
    }
    const tool = baseToolName(e.name);
    const s = e.structured as { mean_reward?: unknown; path?: unknown; completions?: Array<{ prompt: string; reward: number | null }> } | undefined;
    const path = typeof s?.path === "string" ? s.path : undefined;
    if (isTrainingTool(e.name) || isInitTool(e.name)) {
      this.current = null;
      this.bestUnsaved = false;
    } else if (tool === "save" && path) {
      this.current = this.lastCheckpoint = path;
      if (this.bestUnsaved && this.best) this.best.checkpoint = path;
      this.bestUnsaved = false;
    } else if (tool === "load" && path) {
      this.current = this.lastCheckpoint = path;
      this.bestUnsaved = false;
    } else if (tool === "sample" && typeof s?.mean_reward === "number") {
      this.scores.push(s.mean_reward);
      this.perPrompt.push(scoresByPrompt(Array.isArray(s.completions) ? s.completions : []));
      if (!this.best || s.mean_reward > this.best.score) {
        this.best = { score: s.mean_reward, checkpoint: this.current };
        this.bestUnsaved = this.current === null;
      }
    }
  }

  get bestCheckpoint(): string | null {
    return this.best?.checkpoint ?? null;
  }
}

/** Counts and holdout scores of a run, read back from its transcript. */
export function summarize(cfg: RunConfig, plannerId: string, result: LoopResult, transcriptPath: string): RunSummary {
  const c = new SummaryCollector();
  const spend = new SpendLedger();
  replay(readTranscript(transcriptPath).events, [c, spend]);
  const budget: CostBudget = { ...(cfg.maxCostUsd !== undefined ? { maxCostUsd: cfg.maxCostUsd } : {}), ...(cfg.maxPlannerCostUsd !== undefined ? { maxPlannerCostUsd: cfg.maxPlannerCostUsd } : {}), ...(cfg.maxTrainingCostUsd !== undefined ? { maxTrainingCostUsd: cfg.maxTrainingCostUsd } : {}) };
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
    holdout: scores.length ? { baseline: scores[0]!, best: Math.max(...scores), final: scores[scores.length - 1]!, evaluations: scores.length, ...holdoutInterval(c.perPrompt) } : null,
    bestCheckpoint: c.bestCheckpoint,
    lastCheckpoint: c.lastCheckpoint,
    usage: result.usage,
    spend: { totalUsd: spend.totalUsd, plannerUsd: spend.plannerUsd, trainingUsd: spend.trainingUsd, plannerUnpriced: spend.plannerUnpriced, trainingUnpriced: spend.trainingUnpriced, budget, calls: spend.calls },
    elapsedMs: result.elapsedMs,
  };
}

/** "spend $0.0123 of $5.00 (planner …, training …) · 4 priced calls estimated at $0.50, cost $0.21 (0.42 of the estimate)" */
export function formatSpend(s: RunSpend): string {
  const priced = s.calls.filter((c) => c.estimateUsd !== null && c.actualUsd !== null);
  const est = priced.reduce((a, c) => a + c.estimateUsd!, 0);
  const act = priced.reduce((a, c) => a + c.actualUsd!, 0);
  const ratio = priced.length && est > 0 ? ` · ${priced.length} training/sampling call(s) estimated at ${formatUsd(est)} cost ${formatUsd(act)} (${(act / est).toFixed(2)} of the estimate)` : "";
  return `spend ${describeSpend(s, s.budget)}${ratio}`;
}

function holdoutInterval(evals: PromptScores[]): { interval?: HoldoutInterval } {
  const first = evals[0];
  const last = evals[evals.length - 1];
  if (!first || !last || first.scores.length === 0 || last.scores.length === 0) return {};
  return { interval: { prompts: last.scores.length, baseline: meanInterval(first.scores), final: meanInterval(last.scores), lift: liftInterval(first, last) } };
}

const REASON_TEXT: Record<LoopResult["reason"], string> = {
  finished: "finished: the planner called finish()",
  max_turns: "stopped: turn limit reached",
  time_limit: "stopped: time limit reached",
  planner_stopped: "stopped: the planner stopped calling tools",
  planner_error: "stopped: the planner failed",
  refusal: "stopped: the planner refused",
  guard_stop: "stopped by the guard",
  aborted: "interrupted",
};


const points = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}`;

function formatInterval(i: HoldoutInterval): string {
  const range = (e: Estimate) => `[${(e.low * 100).toFixed(1)}, ${(e.high * 100).toFixed(1)}]`;
  return `   95% CI over ${i.prompts} prompts: baseline ${range(i.baseline)} → final ${range(i.final)}; lift ${points(i.lift.mean)} points [${points(i.lift.low)}, ${points(i.lift.high)}]${i.lift.paired ? " (paired)" : ""}`;
}

export function formatSummary(s: RunSummary): string[] {
  const u = s.usage;
  return [
    "",
    `── ${REASON_TEXT[s.reason]}${s.detail ? ` (${s.detail})` : ""}`,
    `   turns ${s.turns} · tool calls ${s.toolCalls} (${s.toolErrors} errors) · guard interventions ${s.guardInterventions}`,
    ...(s.holdout
      ? [`   holdout score: baseline ${pct(s.holdout.baseline, 1)} → final ${pct(s.holdout.final, 1)} (best ${pct(s.holdout.best, 1)}, ${s.holdout.evaluations} evaluations; ${s.holdout.final >= s.holdout.baseline ? "+" : ""}${((s.holdout.final - s.holdout.baseline) * 100).toFixed(1)} points)`]
      : []),
    ...(s.holdout?.interval ? [formatInterval(s.holdout.interval)] : []),
    ...(s.bestCheckpoint ? [`   best checkpoint: ${s.bestCheckpoint}${s.holdout ? ` (holdout ${pct(s.holdout.best, 1)})` : ""}`] : []),
    ...(s.lastCheckpoint && s.lastCheckpoint !== s.bestCheckpoint ? [`   last checkpoint: ${s.lastCheckpoint}`] : []),
    `   tokens in ${u.inputTokens} out ${u.outputTokens} cache read ${u.cacheReadTokens} write ${u.cacheWriteTokens}`,
    `   ${formatSpend(s.spend)}`,
    `   time ${(s.elapsedMs / 1000).toFixed(1)}s · planner ${s.planner} · model ${s.model}`,
    `   transcript ${path.join(s.runDir, "transcript.jsonl")}`,
  ];
}

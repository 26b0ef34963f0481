import path from "node:path";
import type { RunConfig } from "./config.ts";
import type { LoopResult } from "./loop.ts";
import { liftInterval, meanInterval, scoresByPrompt } from "./holdout-stats.ts";
import type { Estimate, PromptScores } from "./holdout-stats.ts";
import { baseToolName } from "./tool-names.ts";
import { readTranscript } from "./transcript.ts";

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
  /** The checkpoint the session ended on (last load, else last save). */
  bestCheckpoint: string | null;
  usage: LoopResult["usage"];
  elapsedMs: number;
};

/** 95% intervals over the holdout's prompts: first and last evaluation, and the lift between them. */
export type HoldoutInterval = { prompts: number; baseline: Estimate; final: Estimate; lift: Estimate & { paired: boolean } };

/** Counts and holdout scores of a run, read back from its transcript. */
export function summarize(cfg: RunConfig, plannerId: string, result: LoopResult, transcriptPath: string): RunSummary {
  let toolCalls = 0;
  let toolErrors = 0;
  let guardInterventions = 0;
  const scores: number[] = [];
  const perPrompt: PromptScores[] = [];
  let lastSave: string | null = null;
  let lastLoad: string | null = null;
  for (const e of readTranscript(transcriptPath).events) {
    if (e.type === "tool") {
      toolCalls++;
      if (e.isError) toolErrors++;
      const tool = baseToolName(e.name);
      const s = e.structured as { mean_reward?: unknown; path?: unknown; completions?: Array<{ prompt: string; reward: number | null }> } | undefined;
      if (!e.isError && tool === "sample" && typeof s?.mean_reward === "number") {
        scores.push(s.mean_reward);
        perPrompt.push(scoresByPrompt(Array.isArray(s.completions) ? s.completions : []));
      }
      if (!e.isError && tool === "save" && typeof s?.path === "string") lastSave = s.path;
      if (!e.isError && tool === "load" && typeof s?.path === "string") lastLoad = s.path;
    } else if (e.type === "guard" && e.decision.action !== "allow") guardInterventions++;
  }
  return {
    runId: cfg.runId,
    runDir: cfg.runDir,
    planner: plannerId,
    model: cfg.model,
    reason: result.reason,
    ...(result.detail ? { detail: result.detail } : {}),
    turns: result.turns,
    toolCalls,
    toolErrors,
    guardInterventions,
    holdout: scores.length ? { baseline: scores[0]!, best: Math.max(...scores), final: scores[scores.length - 1]!, evaluations: scores.length, ...holdoutInterval(perPrompt) } : null,
    bestCheckpoint: lastLoad ?? lastSave,
    usage: result.usage,
    elapsedMs: result.elapsedMs,
  };
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

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

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
      ? [`   holdout score: baseline ${pct(s.holdout.baseline)} → final ${pct(s.holdout.final)} (best ${pct(s.holdout.best)}, ${s.holdout.evaluations} evaluations; ${s.holdout.final >= s.holdout.baseline ? "+" : ""}${((s.holdout.final - s.holdout.baseline) * 100).toFixed(1)} points)`]
      : []),
    ...(s.holdout?.interval ? [formatInterval(s.holdout.interval)] : []),
    ...(s.bestCheckpoint ? [`   checkpoint: ${s.bestCheckpoint}`] : []),
    `   tokens in ${u.inputTokens} out ${u.outputTokens} cache read ${u.cacheReadTokens} write ${u.cacheWriteTokens}`,
    `   time ${(s.elapsedMs / 1000).toFixed(1)}s · planner ${s.planner} · model ${s.model}`,
    `   transcript ${path.join(s.runDir, "transcript.jsonl")}`,
  ];
}

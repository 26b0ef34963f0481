import { z } from "zod";
import type { Hints } from "../config/recipes.ts";
import { checkRewardResult, sampleResult } from "../../tools/contracts/tinker-results.ts";
import { readResult } from "../../tools/contracts/tool-results.ts";
import { CHECKLIST } from "../../tools/contracts/checklist.ts";
import { pct } from "../../lib/format.ts";
import type { RewardSpec } from "./reward-library.ts";

/** A tool result as the researcher reads it: `s` is the structured result, read with the tools' declared shapes. */
export type Observation = { ok: boolean; text: string; s: unknown };

export const checked = checkRewardResult.pick({ ok: true, errors: true, mismatches: true });
export const scored = z.object({ mean_reward: sampleResult.shape.mean_reward });

/** One step of the research plan: a tool call, why, and what to do with its result. */
export type Action = { tool: string; input: Record<string, unknown>; say: string; then?: (o: Observation) => void };

/** Defaults for anything a recipe leaves out. */
const DEFAULTS = {
  method: "grpo" as "grpo" | "sft",
  task: "arithmetic",
  difficulty: 2 as number | "mixed",
  pool_size: 2000,
  holdout_size: 200,
  reward: "numeric",
  batch_size: 32,
  group_size: 8,
  lora_rank: 16,
  learning_rate: 2e-3,
  temperature: 1.0,
  max_tokens: 16,
  max_steps: 100,
  sample_every: 10,
  patience: 4,
  target: 0.95,
  eval_temperature: 0,
  eval_samples: 1,
};
type Plan = typeof DEFAULTS & Hints;

/** Checklist thresholds the researcher acts on (the playbook's, in numbers). */
export const REACT = {
  uniformShare: CHECKLIST.uniformShare,
  rewardDrop: CHECKLIST.rewardDrop,
  kl: CHECKLIST.kl,
  lrFloor: 1e-5,
  maxTemperature: 1.4,
  maxTokensCap: 64,
  valLossGain: 0.01,
};

/** What the scripted researcher knows and the actions every part of its plan builds (the plan and its reactions extend it). */
export abstract class ResearchState {
  protected queue: Action[] = [];
  protected current: Action | undefined;
  protected phase: "start" | "data" | "reward" | "init" | "baseline" | "train" | "wrapup" | "finishing" | "done" = "start";
  protected readonly p: Plan;
  protected pool = "";
  protected poolRows = 0;
  protected holdout = "";
  protected specs: RewardSpec[] = [];
  protected spec: RewardSpec | undefined;
  protected scorer: RewardSpec | undefined;
  protected tried = new Set<string>();
  protected steps = 0;
  protected errors = 0;
  protected lr: number;
  protected temperature: number;
  protected maxTokens: number;
  protected difficulty: number | "mixed";
  protected pools = 0;
  protected rewards: number[] = [];
  protected valLosses: number[] = [];
  readonly evals: Array<{ step: number; score: number }> = [];
  best: { name: string; score: number } | undefined;
  protected stale = 0;
  protected lastEvalIsCurrent = false;
  /** The holdout score of the current weights, when they were measured (a step makes it unknown again). */
  protected currentScore: number | undefined;
  protected savedUnmeasured = false;
  /** Whether the weights in the session are the best checkpoint's. */
  protected bestIsCurrent = false;
  protected stopReason = "";
  protected finishRetried = false;
  /** Human-readable record of every reaction, for tests and the final note. */
  readonly reactions: string[] = [];

  constructor(
    readonly model: string,
    protected readonly hints: Hints,
  ) {
    this.p = { ...DEFAULTS, ...hints } as Plan;
    this.lr = this.p.learning_rate;
    this.temperature = this.p.temperature;
    this.maxTokens = this.p.max_tokens;
    this.difficulty = this.p.difficulty;
  }

  get done(): boolean {
    return this.phase === "done";
  }

  summary(): string {
    const base = this.evals[0];
    const last = this.evals[this.evals.length - 1];
    return (
      `Run complete (${this.stopReason || "plan finished"}). Holdout score: baseline ${fmt(base?.score)}, ` +
      `best ${fmt(this.best?.score)} (${this.best?.name ?? "none"}), last evaluation ${fmt(last?.score)} after ${this.steps} training steps.`
    );
  }

  protected push(...a: Action[]): void {
    this.queue.push(...a);
  }

  protected pushEval(say: string, baseline = false): void {
    this.push(this.evalAction(say, baseline));
  }

  protected pushEvalFirst(say: string): void {
    this.queue.unshift(this.evalAction(say, false));
  }

  protected evalAction(say: string, baseline: boolean): Action {
    return {
      tool: "sample",
      input: {
        prompts: this.holdout,
        n: this.p.eval_samples,
        temperature: this.p.eval_temperature,
        // One protocol for every holdout evaluation, so their scores compare: training's max_tokens may grow, this does not.
        max_tokens: this.p.max_tokens,
        reward_function: this.scorer!.code,
        limit: this.p.holdout_size,
      },
      say,
      then: (o) => {
        const score = readResult(scored, o.s)?.mean_reward;
        if (!o.ok || typeof score !== "number") return this.fail(`holdout sampling failed: ${o.text.slice(0, 200)}`);
        this.evals.push({ step: this.steps, score });
        this.lastEvalIsCurrent = true;
        this.currentScore = score;
        if (baseline) {
          this.queue.unshift(
            this.saveAction(
              `baseline-holdout${scoreTag(score)}`,
              score,
              `Baseline holdout score ${pct(score, 1)}. Saving the untrained adapters too, so there is always a checkpoint to fall back on.`,
            ),
          );
          return;
        }
        if (!this.best || score > this.best.score + 1e-9) {
          this.stale = 0;
          // Saved right away, before anything else queued changes the weights.
          this.queue.unshift(
            this.saveAction(
              `${this.p.recipe ?? this.p.task}-step${this.steps}-holdout${scoreTag(score)}`,
              score,
              `Holdout score ${pct(score, 1)} beats the best so far (${pct(this.best?.score ?? 0, 1)}): saving this checkpoint.`,
            ),
          );
        } else {
          this.stale++;
          this.reactions.push(`no holdout improvement (${pct(score, 1)} vs best ${pct(this.best.score, 1)}), ${this.stale}/${this.p.patience}`);
        }
        // SFT is stopped by its validation loss; a holdout score at target does not end it.
        if (score >= this.p.target && this.p.method === "sft")
          this.reactions.push(`holdout score ${pct(score, 1)} at the target; the validation loss decides when to stop`);
        else if (score >= this.p.target) this.stop(`holdout score ${pct(score, 1)} reached the target ${pct(this.p.target, 1)}`);
        else if (this.stale >= this.p.patience) this.stop(`no holdout improvement in ${this.stale} evaluations (plateau)`);
      },
    };
  }

  protected saveAction(name: string, score: number, say: string): Action {
    return {
      tool: "save",
      input: { name },
      say,
      then: (o) => {
        if (o.ok) {
          this.best = { name, score };
          this.bestIsCurrent = true;
        }
      },
    };
  }

  protected stop(reason: string): void {
    if (this.phase === "train") {
      this.stopReason = reason;
      this.reactions.push(`stop: ${reason}`);
      this.phase = "wrapup";
    }
  }

  protected fail(reason: string): void {
    this.stopReason = reason;
    this.reactions.push(`abort: ${reason}`);
    this.queue = [];
    this.phase = this.phase === "train" || this.best ? "wrapup" : "finishing";
  }
}

/** A score as it appears in a checkpoint name: percent, one decimal, no trailing ".0". */
export function scoreTag(x: number): string {
  return (Math.round(x * 1000) / 10).toString();
}

export function fmt(x: number | undefined): string {
  return x === undefined ? "-" : `${pct(x, 1)}`;
}

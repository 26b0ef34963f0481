import { z } from "zod";
import type { Hints } from "../config/recipes.ts";
import { writtenFileShape } from "../../tools/contracts/hf-datasets-results.ts";
import { checkRewardResult, grpoStepRead, sampleResult, sftStepRead } from "../../tools/contracts/tinker-results.ts";
import { readResult } from "../../tools/contracts/tool-results.ts";
import type { RestoreFacts } from "../state/restore-note.ts";
import { checkpointNameOf } from "../../tools/contracts/checkpoint-names.ts";
import { CHECKLIST } from "../../tools/contracts/checklist.ts";
import { pct } from "../../lib/format.ts";
import { rewardSpecs } from "./reward-library.ts";
import type { RewardSpec } from "./reward-library.ts";

/** A tool result as the researcher reads it: `s` is the structured result, read with the tools' declared shapes. */
export type Observation = { ok: boolean; text: string; s: unknown };

const checked = checkRewardResult.pick({ ok: true, errors: true, mismatches: true });
const scored = z.object({ mean_reward: sampleResult.shape.mean_reward });

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

/**
 * The scripted planner's research logic: a deterministic plan that follows the
 * playbook — data, a validated reward, a baseline, small training steps, holdout
 * checks, reactions to the checklist, save on improvement, finish with the best.
 */
export class Researcher {
  private queue: Action[] = [];
  private current: Action | undefined;
  private phase: "start" | "data" | "reward" | "init" | "baseline" | "train" | "wrapup" | "finishing" | "done" = "start";
  private readonly p: Plan;
  private pool = "";
  private poolRows = 0;
  private holdout = "";
  private specs: RewardSpec[] = [];
  private spec: RewardSpec | undefined;
  private scorer: RewardSpec | undefined;
  private tried = new Set<string>();
  private steps = 0;
  private errors = 0;
  private lr: number;
  private temperature: number;
  private maxTokens: number;
  private difficulty: number | "mixed";
  private pools = 0;
  private rewards: number[] = [];
  private valLosses: number[] = [];
  readonly evals: Array<{ step: number; score: number }> = [];
  best: { name: string; score: number } | undefined;
  private stale = 0;
  private lastEvalIsCurrent = false;
  /** The holdout score of the current weights, when they were measured (a step makes it unknown again). */
  private currentScore: number | undefined;
  private savedUnmeasured = false;
  /** Whether the weights in the session are the best checkpoint's. */
  private bestIsCurrent = false;
  private stopReason = "";
  private finishRetried = false;
  /** Human-readable record of every reaction, for tests and the final note. */
  readonly reactions: string[] = [];

  constructor(
    readonly model: string,
    private readonly hints: Hints,
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

  /** Feeds the result of the last action and returns the next one (undefined when finished). */
  next(o: Observation | undefined): Action | undefined {
    const cur = this.current;
    this.current = undefined;
    if (cur && o) cur.then?.(o);
    if (this.queue.length === 0) this.plan();
    const a = this.queue.shift();
    this.current = a;
    return a;
  }

  /**
   * Carries on after a resume or fork. The conversation up to the stop has been fed in;
   * `o` is the answer to the last call (`orphaned`: it never returned). The session is
   * what `facts` says: its step, and so the names and scores from here, come from the
   * restored counters, not from the training calls the conversation shows.
   */
  resumeAfter(facts: RestoreFacts | undefined, o: Observation | undefined, orphaned: boolean): void {
    const cur = this.current;
    this.current = undefined;
    if (cur && o && !orphaned) cur.then?.(o);
    else if (cur && orphaned) this.retryOrReplan(cur);
    if (facts) this.restoredTo(facts);
  }

  /** A call that never returned: repeat what can be repeated; a lost training call or save is planned again from the restored state. */
  private retryOrReplan(a: Action): void {
    if (a.tool === "train_grpo_step" || a.tool === "train_sft_step" || a.tool === "init_grpo" || a.tool === "init_sft") {
      this.reactions.push(`resumed: ${a.tool} never returned; planning again from the restored step`);
      return;
    }
    if (a.tool === "save") {
      // The weights it was saving may not be the restored ones: measure what the session holds now, and save that if it is the best.
      this.reactions.push(`resumed: save ${String(a.input.name)} never returned; measuring the restored weights again`);
      if (this.scorer && this.holdout)
        this.pushEvalFirst(
          "The save in flight when the run stopped may not have completed: measuring the restored weights on the holdout again before saving anything.",
        );
      return;
    }
    // Read-only or idempotent (sample, check_reward, data files, load, finish): simply call it again.
    this.reactions.push(`resumed: ${a.tool} never returned; calling it again`);
    this.queue.unshift(a);
  }

  private restoredTo(f: RestoreFacts): void {
    const step = f.checkpoint === null ? 0 : this.p.method === "grpo" ? f.counters.grpo_iterations : f.counters.sft_epochs;
    this.reactions.push(
      `resumed: ${f.checkpoint === null ? "no session restored" : `session restored from ${f.checkpoint}`} at step ${step} (the conversation had reached step ${this.steps}; ${f.lost} training call(s) lost)`,
    );
    this.steps = step;
    this.rewards.splice(step);
    this.valLosses.splice(step);
    this.lastEvalIsCurrent = false;
    this.currentScore = undefined;
    this.bestIsCurrent = f.checkpoint !== null && this.best !== undefined && checkpointNameOf(f.checkpoint) === this.best.name;
    if (f.checkpoint === null && !["start", "data", "reward", "init"].includes(this.phase)) {
      const tool = this.p.method === "grpo" ? "init_grpo" : "init_sft";
      const input: Record<string, unknown> = { base_model: this.model, lora_rank: this.p.lora_rank };
      if (this.p.method === "grpo") input.group_size = this.p.group_size;
      this.queue.unshift({
        tool,
        input,
        say: `The run was resumed with no training session to restore: opening the ${this.p.method.toUpperCase()} session again and training from step 0.`,
        then: (o) => {
          if (!o.ok) this.fail(`init failed after the resume: ${o.text.slice(0, 200)}`);
        },
      });
    }
  }

  summary(): string {
    const base = this.evals[0];
    const last = this.evals[this.evals.length - 1];
    return (
      `Run complete (${this.stopReason || "plan finished"}). Holdout score: baseline ${fmt(base?.score)}, ` +
      `best ${fmt(this.best?.score)} (${this.best?.name ?? "none"}), last evaluation ${fmt(last?.score)} after ${this.steps} training steps.`
    );
  }

  private push(...a: Action[]): void {
    this.queue.push(...a);
  }

  private plan(): void {
    switch (this.phase) {
      case "start":
        this.phase = "data";
        return this.push({
          tool: "read_file",
          input: { path: "/app/AGENTS.md" },
          say: "Reading the harness playbook first: method choice, heuristics and the decision checklist.",
        });
      case "data":
        return this.planData();
      case "reward":
        return this.planReward();
      case "init":
        return this.planInit();
      case "baseline":
        this.phase = "train";
        return this.pushEval(
          `Measuring the holdout before any training (${this.p.eval_samples} sample${this.p.eval_samples > 1 ? "s" : ""} a prompt at temperature ${this.p.eval_temperature}), so every later number has a baseline.`,
          true,
        );
      case "train":
        return this.planTrain();
      case "wrapup":
        return this.planWrapup();
      case "finishing":
        this.phase = "done";
        return this.push({
          tool: "finish",
          input: {},
          say: this.summary(),
          then: (o) => {
            // A refused finish (e.g. unsaved training) is answered by finishing again, which the guard lets through.
            if (!o.ok && !this.finishRetried) {
              this.finishRetried = true;
              this.push({ tool: "finish", input: {}, say: "Finishing anyway: the best checkpoint is saved." });
            }
          },
        });
      default:
        return;
    }
  }

  private planData(): void {
    const p = this.p;
    const method = p.method;
    const why = `The objective is ${method === "grpo" ? "checkable (a ground truth per prompt), so I use GRPO" : "about form rather than a checkable answer, so I use SFT on worked examples"}.`;
    const source = (split: "train" | "eval", n: number, seed: number, output: string) =>
      p.preset && p.dataset
        ? // A dataset's rows: the holdout is the rows after the pool, so the two never overlap.
          {
            tool: "export_dataset",
            input: { dataset: p.dataset, preset: p.preset, start: split === "train" ? 0 : p.pool_size, limit: n, output, overwrite: true },
          }
        : {
            tool: "generate_synthetic",
            input: { task: p.task, n, seed, difficulty: this.difficulty, format: split === "train" ? method : "grpo", split, output, overwrite: true },
          };
    const from = p.preset && p.dataset ? `rows of ${p.dataset} (preset ${p.preset})` : `${p.task} items`;
    this.push(
      {
        ...source("train", p.pool_size, 1, "data/pool-train.jsonl"),
        say: `${why} Building a training pool of ${p.pool_size} ${from} to rotate through, so no call trains on the same prompts twice in a row.`,
        then: (o) => {
          const w = readResult(writtenFileShape, o.s);
          if (!o.ok || !w) return this.fail(`could not build the training pool: ${o.text.slice(0, 200)}`);
          this.pool = w.path;
          this.poolRows = w.rows_written;
        },
      },
      {
        ...source("eval", p.holdout_size, 2, "data/holdout.jsonl"),
        say: `Now a disjoint holdout of ${p.holdout_size} ${p.preset ? "rows after the pool" : "items from the eval split"}; I never train on it and use it to judge progress.`,
        then: (o) => {
          const w = readResult(writtenFileShape, o.s);
          if (!o.ok || !w) return this.fail(`could not build the holdout: ${o.text.slice(0, 200)}`);
          this.holdout = w.path;
          this.phase = "reward";
        },
      },
    );
  }

  private planReward(): void {
    // SFT scores its holdout with the recipe's scorer (default: JSON format compliance).
    const kind = this.p.method === "grpo" || this.hints.reward ? this.p.reward : "json_format";
    this.specs = rewardSpecs(kind);
    const spec = this.specs[0]!;
    this.push({
      tool: "check_reward",
      input: { reward_function: spec.code, cases: spec.cases },
      say:
        this.p.method === "grpo"
          ? `Writing the ${spec.name} reward (${spec.note}) and validating it on hand-made cases before training on it: a right answer must score 1, a wrong one 0, garbage 0.`
          : `Validating the holdout scorer (${spec.note}) on hand-made cases: compliant output must score 1, anything else 0.`,
      then: (o) => {
        const c = readResult(checked, o.s);
        if (!o.ok || !c?.ok)
          return this.fail(
            `the ${spec.name} reward failed its check (${c ? `${c.errors} errors, ${c.mismatches} mismatches` : o.text.slice(0, 160)}); I will not train on a reward I cannot trust`,
          );
        this.tried.add(spec.name);
        this.scorer = spec;
        if (this.p.method === "grpo") this.spec = spec;
        this.phase = "init";
      },
    });
  }

  private planInit(): void {
    const p = this.p;
    this.phase = "baseline";
    const tool = p.method === "grpo" ? "init_grpo" : "init_sft";
    const input: Record<string, unknown> = { base_model: this.model, lora_rank: p.lora_rank };
    if (p.method === "grpo") input.group_size = p.group_size;
    this.push({
      tool,
      input,
      say: `Opening a ${p.method.toUpperCase()} session on ${this.model} (the run's model), LoRA rank ${p.lora_rank}${p.method === "grpo" ? `, ${p.group_size} samples per prompt so most groups have reward variance` : ""}.`,
      then: (o) => {
        if (!o.ok) this.fail(`init failed: ${o.text.slice(0, 200)}`);
      },
    });
  }

  private pushEval(say: string, baseline = false): void {
    this.push(this.evalAction(say, baseline));
  }

  private pushEvalFirst(say: string): void {
    this.queue.unshift(this.evalAction(say, false));
  }

  private evalAction(say: string, baseline: boolean): Action {
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

  private saveAction(name: string, score: number, say: string): Action {
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

  private stop(reason: string): void {
    if (this.phase === "train") {
      this.stopReason = reason;
      this.reactions.push(`stop: ${reason}`);
      this.phase = "wrapup";
    }
  }

  private fail(reason: string): void {
    this.stopReason = reason;
    this.reactions.push(`abort: ${reason}`);
    this.queue = [];
    this.phase = this.phase === "train" || this.best ? "wrapup" : "finishing";
  }

  private planTrain(): void {
    if (this.steps >= this.p.max_steps) {
      this.stop(`step budget of ${this.p.max_steps} training calls spent`);
      return this.plan();
    }
    const p = this.p;
    const start = (this.steps * p.batch_size) % Math.max(1, this.poolRows);
    const first = this.steps === 0;
    const input: Record<string, unknown> =
      p.method === "grpo"
        ? {
            prompts: this.pool,
            start,
            limit: p.batch_size,
            reward_function: this.spec!.code,
            num_iterations: 1,
            learning_rate: this.lr,
            temperature: this.temperature,
            max_tokens: this.maxTokens,
            warmup_ratio: first ? 0.1 : 0,
            auto_checkpoint: false,
          }
        : {
            examples: this.pool,
            start,
            limit: p.batch_size,
            num_epochs: 1,
            learning_rate: this.lr,
            batch_size: p.batch_size,
            validation_split: 0.1,
            warmup_ratio: first ? 0.1 : 0,
          };
    const what =
      p.method === "grpo"
        ? `GRPO iteration on prompts ${start}–${start + p.batch_size - 1} of the pool (lr ${this.lr.toExponential(1)}, temperature ${this.temperature})`
        : `SFT epoch on examples ${start}–${start + p.batch_size - 1} (lr ${this.lr.toExponential(1)})`;
    this.push({
      tool: p.method === "grpo" ? "train_grpo_step" : "train_sft_step",
      input,
      say: `Step ${this.steps + 1}: one ${what}${first ? ", with warmup on this first call only" : ""}.`,
      then: (o) => this.afterTraining(o),
    });
  }

  /** Reads a training report and acts on the playbook's checklist. */
  afterTraining(o: Observation): void {
    const grpo = this.p.method === "grpo" ? readResult(grpoStepRead, o.s) : undefined;
    // A call that took no optimizer step (no group had a learning signal) ran fine but
    // trained nothing: it counts toward "stuck", not as a step.
    if (!o.ok || grpo?.optimizer_steps === 0) {
      this.errors++;
      const last = grpo?.iterations[grpo.iterations.length - 1];
      const g = last?.groups;
      if (g && (g.all_one ?? 0) > (g.all_zero ?? 0)) this.reactToAllOne(g.total ? (g.all_one ?? 0) / g.total : 1);
      else if (grpo || /no learning signal|unusable/i.test(o.text)) this.reactToAllZero(g?.total ? (g.all_zero ?? 0) / g.total : 1, (last?.truncated ?? 0) > 0);
      if (this.errors >= 3) this.stop("three training calls in a row without an optimizer step");
      return;
    }
    this.errors = 0;
    this.steps++;
    this.lastEvalIsCurrent = false;
    this.currentScore = undefined;
    this.bestIsCurrent = false;
    if (grpo) this.reactGrpo(grpo);
    else this.reactSft(readResult(sftStepRead, o.s));
    if (this.phase === "train" && this.steps % this.p.sample_every === 0 && !this.queue.some((a) => a.tool === "sample")) {
      this.pushEval(
        `Every ${this.p.sample_every} steps I look at real outputs: sampling the holdout (${this.p.eval_samples} a prompt, temperature ${this.p.eval_temperature}).`,
      );
    }
  }

  private reactGrpo(s: z.infer<typeof grpoStepRead>): void {
    const it = s.iterations[s.iterations.length - 1];
    if (!it || typeof it.reward_mean !== "number") return;
    this.rewards.push(it.reward_mean);
    const g = it.groups ?? {};
    const total = g.total ?? 0;
    const z0 = total ? (g.all_zero ?? 0) / total : 0;
    const one = total ? (g.all_one ?? 0) / total : 0;
    if (z0 >= REACT.uniformShare - 1e-9) this.reactToAllZero(z0, (it.truncated ?? 0) > 0);
    else if (one >= REACT.uniformShare - 1e-9) this.reactToAllOne(one);
    const r = this.rewards;
    if (r.length >= 4) {
      const recent = (r[r.length - 1]! + r[r.length - 2]!) / 2;
      const before = (r[r.length - 3]! + r[r.length - 4]!) / 2;
      if (before - recent >= REACT.rewardDrop - 1e-9) this.lowerLr(`reward fell from ${before.toFixed(2)} to ${recent.toFixed(2)}`);
    }
    if (typeof it.kl === "number" && it.kl >= REACT.kl) this.lowerLr(`KL spiked to ${it.kl.toFixed(3)}`);
  }

  private reactSft(s: z.infer<typeof sftStepRead> | undefined): void {
    const e = s?.epochs[s.epochs.length - 1];
    if (!s || !e) return;
    if (s.overfitting) return this.stop("validation loss is rising while training loss falls (overfitting)");
    if (typeof e.val_loss === "number") {
      const v = this.valLosses;
      if (v.length >= 2 && e.val_loss > v[v.length - 1]! && v[v.length - 1]! > v[v.length - 2]!) {
        v.push(e.val_loss);
        return this.stop("validation loss rose two calls in a row");
      }
      v.push(e.val_loss);
      // A plateau: the best validation loss of the last `patience` calls is no better than before them.
      const k = this.p.patience;
      if (v.length > k + 1) {
        const before = Math.min(...v.slice(0, -k));
        const recent = Math.min(...v.slice(-k));
        if (recent > before * (1 - REACT.valLossGain))
          return this.stop(`validation loss stopped improving (best ${recent.toFixed(4)} in the last ${k} calls vs ${before.toFixed(4)} before)`);
      }
    }
  }

  /** `truncated`: completions hit max_tokens, the one case where more tokens can help. */
  private reactToAllZero(share: number, truncated: boolean): void {
    const partial = this.specs.find((x) => x.partial && !this.tried.has(x.name));
    if (partial && !this.spec?.partial) {
      this.tried.add(partial.name);
      this.reactions.push(`all-0 (${pct(share, 1)}): switch to partial credit`);
      this.queue.unshift({
        tool: "check_reward",
        input: { reward_function: partial.code, cases: partial.cases },
        say: `Mostly ALL-0 groups (${pct(share, 1)}): the reward is too strict for where the model is. Validating a partial-credit version (${partial.note}) before switching to it.`,
        then: (o) => {
          if (o.ok && readResult(checked, o.s)?.ok) this.spec = partial;
        },
      });
      return;
    }
    const maxTemperature = this.p.max_temperature ?? REACT.maxTemperature;
    const maxTokensCap = this.p.max_tokens_cap ?? REACT.maxTokensCap;
    if (this.temperature < maxTemperature - 1e-9) {
      this.temperature = Math.min(maxTemperature, Math.round((this.temperature + 0.2) * 10) / 10);
      this.reactions.push(`all-0 (${pct(share, 1)}): temperature → ${this.temperature}`);
      return;
    }
    if (truncated && this.maxTokens < maxTokensCap) {
      this.maxTokens = Math.min(maxTokensCap, this.maxTokens * 2);
      this.reactions.push(`all-0 (${pct(share, 1)}): max_tokens → ${this.maxTokens}`);
      return;
    }
    if (typeof this.difficulty === "number" && this.difficulty > 1) this.newPool(this.difficulty - 1, `all-0 (${pct(share, 1)}): easier prompts`);
  }

  private reactToAllOne(share: number): void {
    this.reactions.push(`all-1 (${pct(share, 1)}): evaluate, then harder prompts if not at target`);
    this.pushEval(`Mostly ALL-1 groups (${pct(share, 1)}): either converged or the prompts are too easy. Checking the holdout before deciding.`);
    if (typeof this.difficulty === "number" && this.difficulty < 4) this.newPool(this.difficulty + 1, `all-1 (${pct(share, 1)}): harder prompts`);
  }

  private lowerLr(why: string): void {
    const next = Math.max(REACT.lrFloor, this.lr / 2);
    if (next < this.lr) {
      this.reactions.push(`${why}: learning rate ${this.lr.toExponential(1)} → ${next.toExponential(1)}`);
      this.lr = next;
    }
  }

  private newPool(difficulty: number, why: string): void {
    this.reactions.push(`${why}: new pool at difficulty ${difficulty}`);
    this.difficulty = difficulty;
    const n = ++this.pools;
    this.push({
      tool: "generate_synthetic",
      input: {
        task: this.p.task,
        n: this.p.pool_size,
        seed: 100 + n,
        difficulty,
        format: this.p.method,
        split: "train",
        output: `data/pool-train-d${difficulty}-${n}.jsonl`,
        overwrite: true,
      },
      say: `${why[0]!.toUpperCase()}${why.slice(1)}: generating a new training pool at difficulty ${difficulty}.`,
      then: (o) => {
        if (o.ok) {
          const w = readResult(writtenFileShape, o.s);
          if (!w) return;
          this.pool = w.path;
          this.poolRows = w.rows_written;
        }
      },
    });
  }

  private planWrapup(): void {
    if (!this.lastEvalIsCurrent && this.steps > 0 && this.scorer) {
      this.lastEvalIsCurrent = true;
      return this.pushEval("Final check of the current weights on the holdout before choosing what to keep.");
    }
    this.phase = "finishing";
    // Weights that could not be measured (the final check was refused or failed) are kept and
    // saved, not swapped for an older checkpoint on the strength of a score they never got.
    if (this.steps > 0 && this.currentScore === undefined && !this.bestIsCurrent && !this.savedUnmeasured) {
      this.savedUnmeasured = true;
      const name = `${this.p.recipe ?? this.p.task}-step${this.steps}-unmeasured`;
      return this.push({
        tool: "save",
        input: { name },
        say: `The current weights could not be measured on the holdout; keeping them rather than going back to ${this.best?.name ?? "an older checkpoint"} on an old score: saving them as ${name}.`,
        then: (o) => {
          if (o.ok) this.bestIsCurrent = true;
        },
      });
    }
    if (this.best && !this.bestIsCurrent) {
      const name = this.best.name;
      return this.push({
        tool: "load",
        input: { path: name },
        say: `The best holdout score was ${pct(this.best.score, 1)} at ${name}; loading it so the session ends on the best weights.`,
        then: (o) => {
          if (!o.ok) return;
          this.bestIsCurrent = true;
          // The run's final score is that of the weights it ends with: measured again, not assumed.
          const check = this.evalAction(`Checking the loaded weights on the holdout, so the run's final score is theirs.`, false);
          this.queue.unshift({
            ...check,
            then: (r) => {
              const score = readResult(scored, r.s)?.mean_reward;
              if (r.ok && typeof score === "number") this.evals.push({ step: this.steps, score });
            },
          });
        },
      });
    }
    return this.plan();
  }
}

/** A score as it appears in a checkpoint name: percent, one decimal, no trailing ".0". */
function scoreTag(x: number): string {
  return (Math.round(x * 1000) / 10).toString();
}

function fmt(x: number | undefined): string {
  return x === undefined ? "-" : `${pct(x, 1)}`;
}

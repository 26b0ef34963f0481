import { readResult } from "../../tools/contracts/tool-results.ts";
import { pct } from "../../lib/format.ts";
import { writtenFileShape } from "../../tools/contracts/hf-datasets-results.ts";
import { checkpointNameOf } from "../../tools/contracts/checkpoint-names.ts";
import type { RestoreFacts } from "../state/restore-note.ts";
import { rewardSpecs } from "./reward-library.ts";
import { TrainingReactions } from "./scripted-reactions.ts";
import { checked, scored } from "./scripted-research-state.ts";
import type { Action, Observation } from "./scripted-research-state.ts";

/**
 * The scripted planner's research logic: a deterministic plan that follows the
 * playbook — data, a validated reward, a baseline, small training steps, holdout
 * checks, reactions to the checklist, save on improvement, finish with the best.
 */
export class Researcher extends TrainingReactions {
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

import type { z } from "zod";
import { grpoStepRead, sftStepRead } from "../../tools/contracts/tinker-results.ts";
import { readResult } from "../../tools/contracts/tool-results.ts";
import { pct } from "../../lib/format.ts";
import { writtenFileShape } from "../../tools/contracts/hf-datasets-results.ts";
import { checked, REACT, ResearchState } from "./scripted-research-state.ts";
import type { Observation } from "./scripted-research-state.ts";

/** The scripted researcher's reactions to a training call's numbers: the playbook's checklist, acted on. */
export abstract class TrainingReactions extends ResearchState {
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

  protected reactGrpo(s: z.infer<typeof grpoStepRead>): void {
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

  protected reactSft(s: z.infer<typeof sftStepRead> | undefined): void {
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
  protected reactToAllZero(share: number, truncated: boolean): void {
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

  protected reactToAllOne(share: number): void {
    this.reactions.push(`all-1 (${pct(share, 1)}): evaluate, then harder prompts if not at target`);
    this.pushEval(`Mostly ALL-1 groups (${pct(share, 1)}): either converged or the prompts are too easy. Checking the holdout before deciding.`);
    if (typeof this.difficulty === "number" && this.difficulty < 4) this.newPool(this.difficulty + 1, `all-1 (${pct(share, 1)}): harder prompts`);
  }

  protected lowerLr(why: string): void {
    const next = Math.max(REACT.lrFloor, this.lr / 2);
    if (next < this.lr) {
      this.reactions.push(`${why}: learning rate ${this.lr.toExponential(1)} → ${next.toExponential(1)}`);
      this.lr = next;
    }
  }

  protected newPool(difficulty: number, why: string): void {
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
}

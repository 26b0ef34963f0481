/**
 * What goes to Weights & Biases, derived from the report model as it grows: one log
 * row per GRPO iteration or SFT epoch (the predecessor's keys where they exist), the
 * holdout score at the step it was measured, the run's config once, and the summary
 * at the end. Pure: the logger decides when to call it and where the messages go.
 */
import type { ReportModel } from "../report/model-shape.ts";

export type WandbMessage =
  | { op: "init"; project: string; name: string; config: Record<string, unknown>; tags: string[]; job_type: string }
  | { op: "log"; step: number; data: Record<string, number> }
  | { op: "summary"; data: Record<string, unknown> }
  | { op: "finish"; exit_code: number };

/** The project and name the user asked for (flag or environment); the planner's init arguments fill what is missing. */
export type WandbChoice = { project?: string; name?: string };

export const DEFAULT_WANDB_PROJECT = "tinkerloop";

/** Only finite numbers are logged; a metric a tool did not report is left out of the row. */
function row(fields: Record<string, number | null | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(fields)) if (typeof v === "number" && Number.isFinite(v)) out[k] = v;
  return out;
}

export class WandbFeed {
  private started = false;
  private sent = { grpo: 0, sft: 0, holdout: 0 };
  private step = 0;

  constructor(private readonly choice: WandbChoice) {}

  /** Messages for everything the model gained since the last call; `final` also starts a run that never trained. */
  next(m: ReportModel, final = false): WandbMessage[] {
    const out: WandbMessage[] = [];
    const trained = m.grpo.length > this.sent.grpo || m.sft.length > this.sent.sft || m.holdout.length > this.sent.holdout;
    if (!this.started && (m.session || trained || final) && m.runId) {
      this.started = true;
      out.push({
        op: "init",
        project: this.choice.project ?? m.session?.wandbProject ?? DEFAULT_WANDB_PROJECT,
        name: this.choice.name ?? m.session?.wandbRunName ?? m.runId,
        config: {
          run_id: m.runId,
          planner: m.planner,
          base_model: m.model,
          objective: m.objective,
          ...(m.session ? { method: m.session.method, lora_rank: m.session.loraRank, group_size: m.session.groupSize } : {}),
        },
        tags: [m.session?.method ?? "untrained", `planner:${m.planner.split(":")[0]}`],
        job_type: m.session?.method ?? "run",
      });
    }
    if (!this.started) return out;
    // Rows go out in the order things happened: each training point, then any holdout measured after it.
    const points = [
      ...m.grpo.slice(this.sent.grpo).map((p) => ({ minutes: p.minutes, turn: p.turn, kind: "grpo" as const, p })),
      ...m.sft.slice(this.sent.sft).map((p) => ({ minutes: p.minutes, turn: p.turn, kind: "sft" as const, p })),
      ...m.holdout.slice(this.sent.holdout).map((p) => ({ minutes: p.minutes, turn: p.turn, kind: "holdout" as const, p })),
    ].sort((a, b) => a.turn - b.turn || a.minutes - b.minutes);
    for (const x of points) {
      if (x.kind === "grpo") {
        const p = x.p;
        const total = p.mixed + p.allZero + p.allOne + p.other;
        this.step = Math.max(this.step, p.index);
        out.push({
          op: "log",
          step: this.step,
          data: row({
            iteration: p.iteration,
            reward_mean: p.rewardMean,
            reward_std: p.rewardStd,
            learning_rate: p.learningRate,
            kl_sample_train_v1: p.kl,
            groups_mixed: p.mixed,
            uniform_all_zeros: p.allZero,
            uniform_all_ones: p.allOne,
            no_signal_rate: total ? (total - p.mixed) / total : null,
            truncation_rate: p.truncation,
          }),
        });
        this.sent.grpo++;
      } else if (x.kind === "sft") {
        const p = x.p;
        this.step = Math.max(this.step, p.index);
        out.push({
          op: "log",
          step: this.step,
          data: row({ epoch: p.epoch, train_loss_epoch: p.trainLoss, val_loss: p.valLoss, learning_rate: p.learningRate }),
        });
        this.sent.sft++;
      } else {
        out.push({ op: "log", step: this.step, data: row({ holdout_score: x.p.score, holdout_scored: x.p.scored }) });
        this.sent.holdout++;
      }
    }
    return out;
  }

  /** The closing messages: the summary of the run, then finish. */
  close(m: ReportModel, summary: Record<string, unknown> | undefined): WandbMessage[] {
    const out = this.next(m, true);
    if (!this.started) return out;
    const h = m.holdout;
    out.push({
      op: "summary",
      data: {
        outcome: m.endReason ?? m.state,
        ...(m.endDetail ? { outcome_detail: m.endDetail } : {}),
        turns: m.turns,
        tool_calls: m.toolCalls,
        tool_errors: m.toolErrors,
        guard_interventions: m.guardInterventions,
        elapsed_seconds: Math.round(m.elapsedMs / 1000),
        planner_input_tokens: m.tokens.input,
        planner_output_tokens: m.tokens.output,
        ...(m.costUsd !== null ? { planner_cost_usd: m.costUsd } : {}),
        ...(h.length
          ? {
              holdout_baseline: h[0]!.score,
              holdout_final: h[h.length - 1]!.score,
              holdout_best: Math.max(...h.map((x) => x.score)),
              holdout_evaluations: h.length,
            }
          : {}),
        ...(typeof summary?.bestCheckpoint === "string" ? { checkpoint: summary.bestCheckpoint } : {}),
      },
    });
    out.push({ op: "finish", exit_code: m.endReason === "finished" ? 0 : 1 });
    return out;
  }
}

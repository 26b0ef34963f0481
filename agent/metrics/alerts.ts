import { pct } from "../../lib/format.ts";
import { CHECKLIST } from "../../tools/contracts/checklist.ts";
import type { ChecklistThresholds } from "../../tools/contracts/checklist.ts";
import type { TrainingRecord } from "./records.ts";

export type AlertThresholds = ChecklistThresholds;
export const ALERT_THRESHOLDS: AlertThresholds = CHECKLIST;

export type AlertId = "all_zero" | "all_one" | "reward_falling" | "kl_spike" | "overfitting" | "no_sample" | "reward_errors" | "truncated";
export type Alert = { id: AlertId; text: string };

/** Thresholds are compared with a little slack, so a value printed as the threshold fires. */
const EPS = 1e-9;

/** What the alerts look at: the training history and how long since the planner looked at samples. */
export type AlertInput = { records: readonly TrainingRecord[]; callsSinceSample: number };

/** The playbook's checklist applied to the training history, most recent call first. */
export function alertsFor(h: AlertInput, thresholds: Partial<AlertThresholds> = {}): Alert[] {
  const out: Alert[] = [];
  const t = { ...ALERT_THRESHOLDS, ...thresholds };
  const last = h.records[h.records.length - 1];
  if (!last) return out;
  if (last.groups && last.groups.total > 0) {
    const z = last.groups.allZero / last.groups.total;
    const o = last.groups.allOne / last.groups.total;
    if (z >= t.uniformShare - EPS)
      out.push({
        id: "all_zero",
        text: `Mostly ALL-0 (${pct(z)} of groups): too hard, reward too strict, or answers cut off. Try easier prompts, partial credit, or more max_tokens; check samples.`,
      });
    if (o >= t.uniformShare - EPS)
      out.push({
        id: "all_one",
        text: `Mostly ALL-1 (${pct(o)} of groups): converged or too easy. sample() the holdout; then save, or move to harder prompts.`,
      });
  }
  const grpo = h.records.filter((r) => r.rewardMean !== null);
  if (grpo.length >= 4) {
    const m = (rs: readonly TrainingRecord[]) => rs.reduce((a, r) => a + r.rewardMean!, 0) / rs.length;
    const recent = m(grpo.slice(-2));
    const before = m(grpo.slice(-4, -2));
    if (before - recent >= t.rewardDrop - EPS)
      out.push({
        id: "reward_falling",
        text: `Reward falling: ${before.toFixed(2)} → ${recent.toFixed(2)} over the last 4 calls. Lower the learning rate 2-5x, or load the last good checkpoint.`,
      });
  }
  if (last.kl !== null && last.kl >= t.kl - EPS)
    out.push({
      id: "kl_spike",
      text: `KL spike: ${last.kl.toFixed(3)} (≥ ${t.kl}${(last.staleness ?? 0) > 0 ? `; the step's own move, not the ${last.staleness}-step sampling lag` : ""}). The update was too large: lower the learning rate.`,
    });
  const sft = h.records.filter((r) => r.valLoss !== null && r.trainLoss !== null);
  if (sft.length >= 2) {
    let best = sft[0]!;
    for (const r of sft) if (r.valLoss! < best.valLoss!) best = r;
    const l = sft[sft.length - 1]!;
    if (l !== best && l.valLoss! >= best.valLoss! * t.valRise - EPS && l.trainLoss! < best.trainLoss!) {
      out.push({
        id: "overfitting",
        text: `Overfitting: validation loss ${l.valLoss!.toFixed(3)} is above its best ${best.valLoss!.toFixed(3)} while training loss keeps falling. Stop; save or load the best checkpoint.`,
      });
    }
  }
  if (h.callsSinceSample >= t.callsWithoutSample)
    out.push({ id: "no_sample", text: `No sample() in the last ${h.callsSinceSample} training calls: look at real outputs on the holdout now.` });
  if (last.rewardErrors !== null && last.samples && last.rewardErrors / last.samples >= t.rewardErrorShare - EPS) {
    out.push({
      id: "reward_errors",
      text: `Reward errors on ${pct(last.rewardErrors / last.samples)} of samples: fix the reward function (check_reward, reward_debug.log) before training on.`,
    });
  }
  if (last.truncated !== null && last.samples && last.truncated / last.samples >= t.truncationShare - EPS) {
    out.push({
      id: "truncated",
      text: `Truncation: ${pct(last.truncated / last.samples)} of completions hit max_tokens and were cut off before they ended, so rewards read them as wrong. Raise max_tokens (reasoning models need thousands of tokens), or ask for shorter answers; sample() to see where they stop.`,
    });
  }
  return out;
}

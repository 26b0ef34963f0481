import { isTrainingTool } from "../core/tool-names.ts";
import type { CostEstimator } from "../spend/estimate.ts";
import { isCostlyTool } from "../spend/estimate.ts";
import type { CostBudget, SpendTotals } from "../spend/ledger.ts";
import { formatUsd } from "../spend/prices.ts";
import { WRAP_UP_RESERVE_USD } from "../spend/reserve.ts";
import type { CostEstimate } from "../core/cost.ts";
import type { EstimatedDecision, GuardRule } from "../core/guard.ts";

export type Budget = {
  /** Wall-time budget in minutes. */
  maxMinutes?: number;
  maxTrainCalls?: number;
  /** Extra minutes after the time budget before the run is stopped outright. */
  graceMinutes?: number;
  /** Dollar budgets: the whole run, the planner, training. */
  cost?: CostBudget;
  /** The run's spend so far (the spend ledger, a listener of the event stream). */
  spend?: SpendTotals;
  /** Estimates training and sampling calls before they run; absent when the model has no price. */
  estimator?: CostEstimator;
};

/**
 * Past a budget, training calls are refused with "budget spent: save and finish"
 * (saving, sampling and finishing stay allowed; sampling only while it costs nothing once
 * a dollar budget is spent). Before a training or sampling call runs, its cost is
 * estimated from its arguments and the call refused when the estimate exceeds what is
 * left (the wrap-up's reserve held back). Past the time grace period any call stops the
 * run, which then saves and finishes. There is no grace after a dollar budget: the planner's
 * own requests are sized before they are sent (planners/budgeted.ts), and the run wraps up
 * by itself once the next one does not fit.
 */
export function budgetRule(b: Budget): GuardRule {
  let trainCalls = 0;
  const grace = (b.graceMinutes ?? 10) * 60_000;
  const cost = b.cost ?? {};
  return {
    name: "budget",
    check(call, ctx): EstimatedDecision {
      const spent: string[] = [];
      if (b.maxMinutes !== undefined && ctx.elapsedMs >= b.maxMinutes * 60_000) spent.push(`time (${b.maxMinutes} min)`);
      if (b.maxTrainCalls !== undefined && trainCalls >= b.maxTrainCalls) spent.push(`training calls (${b.maxTrainCalls})`);
      const money = b.spend ? costSpent(b.spend, cost) : [];
      const estimated = isCostlyTool(call.name) ? b.estimator?.estimate(call, ctx.tools) : undefined;
      const estimate = estimated && "usd" in estimated ? estimated : undefined;
      const withEstimate = (d: EstimatedDecision): EstimatedDecision => (estimate ? { ...d, estimate } : d);
      if (b.maxMinutes !== undefined && ctx.elapsedMs >= b.maxMinutes * 60_000 + grace && spent.length > 0) {
        return { action: "stop", reason: `budget spent (${spent.join(", ")}) and the ${grace / 60_000}-minute grace period is over` };
      }
      const all = [...spent, ...money];
      const spends = isTrainingTool(call.name) || (money.length > 0 && isCostlyTool(call.name) && (estimate === undefined || estimate.usd > 0));
      if (all.length > 0 && spends) {
        return withEstimate({
          action: "reject",
          message: `Budget spent: ${all.join(", ")}. No more training${money.length ? " or paid sampling" : ""}: save your best checkpoint and call finish().`,
        });
      }
      if (estimate && b.spend) {
        const left = remaining(b.spend, cost);
        if (left !== undefined && estimate.usd > left.usd) return withEstimate({ action: "reject", message: refusal(estimate, left, b.estimator!) });
      }
      return withEstimate({ action: "allow" });
    },
    observe(call, result) {
      if (isTrainingTool(call.name) && !result.isError) trainCalls++;
      b.estimator?.observe(call, result);
    },
  };
}

/** The dollar budgets already spent, worded for the planner. */
function costSpent(s: SpendTotals, c: CostBudget): string[] {
  const out: string[] = [];
  if (c.maxCostUsd !== undefined && s.totalUsd >= c.maxCostUsd) out.push(`cost (${formatUsd(s.totalUsd)} of ${formatUsd(c.maxCostUsd)})`);
  if (c.maxPlannerCostUsd !== undefined && s.plannerUsd >= c.maxPlannerCostUsd)
    out.push(`planner cost (${formatUsd(s.plannerUsd)} of ${formatUsd(c.maxPlannerCostUsd)})`);
  if (c.maxTrainingCostUsd !== undefined && s.trainingUsd >= c.maxTrainingCostUsd)
    out.push(`training cost (${formatUsd(s.trainingUsd)} of ${formatUsd(c.maxTrainingCostUsd)})`);
  return out;
}

/** What training may still spend under the tightest budget that covers it, and which budget that is. */
function remaining(s: SpendTotals, c: CostBudget): { usd: number; of: string } | undefined {
  const options: Array<{ usd: number; of: string }> = [];
  if (c.maxCostUsd !== undefined)
    options.push({ usd: c.maxCostUsd - s.totalUsd - WRAP_UP_RESERVE_USD, of: `the run's ${formatUsd(c.maxCostUsd)} (${formatUsd(s.totalUsd)} spent)` });
  if (c.maxTrainingCostUsd !== undefined)
    options.push({ usd: c.maxTrainingCostUsd - s.trainingUsd, of: `the ${formatUsd(c.maxTrainingCostUsd)} for training (${formatUsd(s.trainingUsd)} spent)` });
  if (options.length === 0) return undefined;
  return options.reduce((a, x) => (x.usd < a.usd ? x : a));
}

/** Why a call was refused before it ran, with its estimate and how to shrink it so it fits. */
function refusal(e: CostEstimate, left: { usd: number; of: string }, estimator: CostEstimator): string {
  const share = left.usd > 0 ? left.usd / e.usd : 0;
  return (
    `Refused before it ran: this call is estimated at ${formatUsd(e.usd)} (${e.basis}; ${estimator.breakdown(e)}), ` +
    `and only ${formatUsd(Math.max(0, left.usd))} is left of ${left.of}. ` +
    `Shrink it to ${shareText(share)}: fewer prompts or examples (limit), a smaller max_tokens, fewer iterations, epochs or samples (n) — the estimate counts every completion running to max_tokens. ` +
    `Or save your best checkpoint and call finish().`
  );
}

/** A share of a call's size in words a planner can act on (a flat "0%" says nothing). */
function shareText(share: number): string {
  const pct = share * 100;
  if (pct >= 1) return `about ${Math.floor(pct)}% of its size or less`;
  if (pct >= 0.1) return `about ${pct.toFixed(1)}% of its size or less`;
  return "under 0.1% of its size";
}

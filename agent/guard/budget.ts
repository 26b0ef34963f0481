import { isTrainingTool } from "../tool-names.ts";
import { plannerCostUsd } from "../pricing.ts";
import type { PlannerPrice } from "../pricing.ts";
import type { GuardRule } from "./types.ts";

export type Budget = {
  /** Wall-time budget in minutes. */
  maxMinutes?: number;
  maxTrainCalls?: number;
  /** Planner spend in US dollars, estimated from token counts. */
  maxPlannerCostUsd?: number;
  /** Extra minutes after the time budget before the run is stopped outright. */
  graceMinutes?: number;
  /** USD per million tokens, for the cost estimate. */
  pricing?: PlannerPrice;
};


/**
 * Past a budget, training calls are refused with "budget spent: save and finish"
 * (saving, sampling and finishing stay allowed); past the grace period any call
 * stops the run.
 */
export function budgetRule(b: Budget): GuardRule {
  let trainCalls = 0;
  const grace = (b.graceMinutes ?? 10) * 60_000;
  return {
    name: "budget",
    check(call, ctx) {
      const spent: string[] = [];
      if (b.maxMinutes !== undefined && ctx.elapsedMs >= b.maxMinutes * 60_000) spent.push(`time (${b.maxMinutes} min)`);
      if (b.maxTrainCalls !== undefined && trainCalls >= b.maxTrainCalls) spent.push(`training calls (${b.maxTrainCalls})`);
      const cost = plannerCostUsd(ctx.usage, b.pricing);
      if (b.maxPlannerCostUsd !== undefined && cost >= b.maxPlannerCostUsd) spent.push(`planner cost ($${cost.toFixed(2)} of $${b.maxPlannerCostUsd})`);
      if (spent.length === 0) return { action: "allow" };
      if (b.maxMinutes !== undefined && ctx.elapsedMs >= b.maxMinutes * 60_000 + grace) {
        return { action: "stop", reason: `budget spent (${spent.join(", ")}) and the ${grace / 60_000}-minute grace period is over` };
      }
      if (isTrainingTool(call.name)) {
        return { action: "reject", message: `Budget spent: ${spent.join(", ")}. No more training: save your best checkpoint and call finish().` };
      }
      return { action: "allow" };
    },
    observe(call, result) {
      if (isTrainingTool(call.name) && !result.isError) trainCalls++;
    },
  };
}

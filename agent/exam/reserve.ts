import { TEMPLATE_TOKENS } from "../spend/estimate.ts";
import type { CostBudget } from "../spend/ledger.ts";
import { trainingCostUsd } from "../spend/prices.ts";
import type { TrainingPrice } from "../spend/prices.ts";
import type { PreparedExam } from "./setup.ts";

/** max_tokens assumed for an exam that leaves it to the model's kind: the largest non-reasoning default, so the reserve errs high. */
const UNSIZED_MAX_TOKENS = 4_096;

/**
 * What the final sitting can cost at most (every completion to max_tokens, one token per
 * prompt byte, like every other estimate): kept out of the planner's dollar budget from
 * the start, so a run that spends its budget can still be graded.
 */
export function finalExamReserveUsd(e: PreparedExam, price: TrainingPrice | undefined): number {
  if (!price) return 0;
  const samples = e.spec.samples;
  const prefill = e.items.reduce((a, i) => a + (Buffer.byteLength(i.prompt, "utf8") + TEMPLATE_TOKENS) * samples, 0);
  const sampled = e.items.length * samples * (e.spec.max_tokens ?? UNSIZED_MAX_TOKENS);
  return trainingCostUsd({ prefill, cachedPrefill: 0, sampled, trained: 0 }, price);
}

/** The budget the planner's calls are checked against: the whole-run and training budgets less the reserve. */
export function budgetLessReserve(b: CostBudget, reserveUsd: number): CostBudget {
  if (reserveUsd <= 0) return b;
  const less = (x: number | undefined) => (x === undefined ? undefined : Math.max(0, x - reserveUsd));
  const total = less(b.maxCostUsd);
  const training = less(b.maxTrainingCostUsd);
  return {
    ...b,
    ...(total !== undefined ? { maxCostUsd: total } : {}),
    ...(training !== undefined ? { maxTrainingCostUsd: training } : {}),
  };
}

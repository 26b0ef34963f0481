import { UNCOUNTED_TEMPLATE_TOKENS } from "../../tools/contracts/template-tokens.ts";
import type { CostBudget } from "../spend/ledger.ts";
import { UserError } from "../core/errors.ts";
import { formatUsd, trainingCostUsd } from "../spend/prices.ts";
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
  const prefill = e.items.reduce((a, i) => a + (Buffer.byteLength(i.prompt, "utf8") + UNCOUNTED_TEMPLATE_TOKENS) * samples, 0);
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

/**
 * The budgets every spender of the run is checked against — the guard for training calls and
 * the budgeted planner for its requests — with the final exam's reserve kept out (none ungraded).
 */
export function budgetBesideExam(b: CostBudget, exam: PreparedExam | undefined, price: TrainingPrice | undefined): CostBudget {
  return exam ? budgetLessReserve(b, examReserve({ maxCostUsd: b.maxCostUsd, maxTrainingCostUsd: b.maxTrainingCostUsd }, exam, price)) : b;
}

/** The dollar budgets the reserve is kept out of: the whole run's and training's. */
type Budgets = { maxCostUsd: number | undefined; maxTrainingCostUsd: number | undefined };

/**
 * Sittings the reserve covers: the baseline and the final. The baseline is sat by the harness
 * before the first training call, when the planner may already have spent all but the reserve;
 * a reserve for the final alone would let the baseline go past the budget. (Periodic sittings
 * cannot be reserved: --exam-every is refused under a dollar budget, agent/config/run-config.ts.)
 */
export const RESERVED_SITTINGS = 2;

/** The exam's reserve (baseline and final sittings): only under a dollar budget that covers training. */
export function examReserve(b: Budgets, exam: PreparedExam, price: TrainingPrice | undefined): number {
  return b.maxCostUsd !== undefined || b.maxTrainingCostUsd !== undefined ? RESERVED_SITTINGS * finalExamReserveUsd(exam, price) : 0;
}

/** A dollar budget the final exam alone could use up leaves the planner nothing: refused before anything starts. */
export function checkReserveFits(b: Budgets, exam: PreparedExam, price: TrainingPrice | undefined): void {
  const usd = examReserve(b, exam, price);
  const budgets = [b.maxCostUsd, b.maxTrainingCostUsd].filter((x): x is number => x !== undefined);
  if (usd > 0 && budgets.some((x) => usd >= x))
    throw new UserError(
      `The exam's baseline and final sittings (${exam.spec.name}, ${exam.items.length} items) could cost up to ${formatUsd(usd)}, which leaves nothing of the dollar budget (${budgets.map(formatUsd).join(", ")}).`,
      "Raise --max-cost / --max-training-cost, make the exam smaller (--exam …,items=N,max_tokens=N), or run ungraded with --exam none.",
    );
}

/** What the planner is told of the reserve, when there is one. */
export function examReserveNote(b: Budgets, exam: PreparedExam | undefined, price: TrainingPrice | undefined): string {
  const usd = exam ? examReserve(b, exam, price) : 0;
  return usd > 0
    ? ` Up to ${formatUsd(usd)} of the dollar budget is reserved for the exam's baseline and final sittings; your calls are checked against the rest.`
    : "";
}

import { plannerErrorTurn } from "../core/conversation.ts";
import type { AssistantTurn } from "../core/conversation.ts";
import type { Planner, PlannerRequest, RequestSize } from "../core/planner.ts";
import type { CostBudget, SpendTotals } from "../spend/ledger.ts";
import { byteBoundTokens, plannerHeadroom, plannerRequestBoundUsd } from "../spend/planner-estimate.ts";
import type { PlannerPrice } from "../spend/prices.ts";
import { formatUsd } from "../spend/prices.ts";
import { DEFAULT_PLANNER_MAX_TOKENS } from "./api-client-options.ts";

/**
 * Keeps the planner inside the dollar budgets: before each request (each retry too) it
 * sizes the request — the provider counts its input where it can, else one token per byte —
 * prices the most it can bill, and sends it only when that fits what is left. A request
 * that does not fit is not sent: the turn comes back as a "budget" error, and the loop ends
 * the run, whose wrap-up saves and finishes (agent/session/wrap-up.ts). Spend so far is
 * the ledger's (a listener of the run's events), so retried attempts count too.
 */
export class BudgetedPlanner implements Planner {
  constructor(
    private readonly inner: Planner,
    private readonly o: {
      price: PlannerPrice;
      budget: CostBudget;
      spend: SpendTotals;
      /** Sizes a request (the raw planner's `size`); without one the byte bound and the default max_tokens. */
      size?: (req: PlannerRequest) => Promise<RequestSize>;
    },
  ) {}

  get id(): string {
    return this.inner.id;
  }

  async next(req: PlannerRequest): Promise<AssistantTurn> {
    const left = plannerHeadroom(this.o.spend, this.o.budget);
    if (left === undefined) return this.inner.next(req);
    const size = this.o.size
      ? await this.o.size(req)
      : {
          inputTokens: byteBoundTokens({ system: req.system, messages: req.messages, tools: req.tools }),
          maxOutputTokens: DEFAULT_PLANNER_MAX_TOKENS,
          exact: false,
        };
    if (req.signal.aborted) return plannerErrorTurn("aborted", "stop requested");
    const usd = plannerRequestBoundUsd(size, this.o.price);
    if (usd <= left.usd) return this.inner.next(req);
    return plannerErrorTurn(
      "budget",
      `the next planner request was not sent: it could cost up to ${formatUsd(usd)} (${size.inputTokens} input tokens${size.exact ? "" : " at most"}, up to ${size.maxOutputTokens} output tokens) and ${formatUsd(Math.max(0, left.usd))} is left of ${left.of}`,
    );
  }
}

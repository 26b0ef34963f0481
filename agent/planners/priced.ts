import type { AssistantTurn } from "../core/conversation.ts";
import { plannerCostUsd } from "../spend/prices.ts";
import type { PlannerPrice } from "../spend/prices.ts";
import type { Planner, PlannerRequest } from "../core/planner.ts";

/**
 * Puts each turn's cost at the run's prices on its usage (`usage.costUsd`), so the
 * transcript records what every planner request cost. Without a price the turn carries
 * none, and the spend ledger says the planner's spend is unknown.
 */
export class PricedPlanner implements Planner {
  constructor(
    private readonly inner: Planner,
    private readonly price: PlannerPrice | undefined,
  ) {}

  get id(): string {
    return this.inner.id;
  }

  async next(req: PlannerRequest): Promise<AssistantTurn> {
    const turn = await this.inner.next(req);
    if (!this.price) return turn;
    return { ...turn, usage: { ...turn.usage, costUsd: plannerCostUsd(turn.usage, this.price) } };
  }
}

import type { Redactor } from "../secrets/redactor.ts";
import type { Planner, PlannerRequest } from "../core/planner.ts";
import type { AssistantTurn } from "../core/conversation.ts";

/**
 * Redacts secrets from the planner's replies before they enter the conversation, so
 * a key the planner somehow repeats is neither passed to a tool nor sent back.
 */
export class RedactingPlanner implements Planner {
  constructor(
    private readonly inner: Planner,
    private readonly redactor: Redactor,
  ) {}

  get id(): string {
    return this.inner.id;
  }

  async next(req: PlannerRequest): Promise<AssistantTurn> {
    const turn = await this.inner.next(req);
    return this.redactor.size === 0 ? turn : this.redactor.value(turn);
  }
}

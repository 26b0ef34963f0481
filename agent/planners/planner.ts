import type { AssistantTurn, Message } from "../conversation.ts";
import type { ToolSpec } from "../../tools/client/types.ts";

/** One request to a planner: everything it needs to decide its next turn. */
export type PlannerRequest = {
  /** The filled system prompt; byte-identical for the whole run. */
  system: string;
  messages: Message[];
  tools: ToolSpec[];
  signal: AbortSignal;
};

/**
 * A decision-maker. Implementations must not throw: every failure (HTTP error,
 * abort, malformed response) comes back as a turn with stopReason "error", so the
 * loop has one path for all outcomes.
 */
export interface Planner {
  /** e.g. "anthropic:claude-sonnet-5-5", "scripted", "replay:<file>". */
  readonly id: string;
  next(req: PlannerRequest): Promise<AssistantTurn>;
}

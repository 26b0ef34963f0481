import type { AssistantTurn, Message } from "./conversation.ts";
import type { ToolSpec } from "./tools.ts";

/** One request to a planner: everything it needs to decide its next turn. */
export type PlannerRequest = {
  /** The filled system prompt; byte-identical for the whole run. */
  system: string;
  messages: Message[];
  tools: ToolSpec[];
  signal: AbortSignal;
  /** The turn being decided (1-based). */
  turn?: number;
  /** Told about each failed attempt a wrapper is about to retry, as it happens. */
  onRetry?: (r: RetryReport) => void;
};

/**
 * The most one request can bill, known before it is sent: its input tokens (counted by the
 * provider when `exact`, else an upper bound) and the output tokens it may take at most
 * (max_tokens, thinking included).
 */
export type RequestSize = { inputTokens: number; maxOutputTokens: number; exact: boolean };

/** A failed planner attempt that will be tried again after `delayMs`. */
export type RetryReport = { failed: AssistantTurn; latencyMs: number; attempt: number; delayMs: number };

/**
 * A decision-maker. Implementations must not throw: every failure (HTTP error,
 * abort, malformed response) comes back as a turn with stopReason "error", so the
 * loop has one path for all outcomes.
 */
export interface Planner {
  /** e.g. "anthropic:claude-sonnet-5-5", "scripted", "replay:<file>". */
  readonly id: string;
  next(req: PlannerRequest): Promise<AssistantTurn>;
  /** How large `req` would be, before it is sent (the budget asks; planners that bill nothing have none). Never throws. */
  size?(req: PlannerRequest): Promise<RequestSize>;
  /**
   * Before a run (and in `doctor`): checks the model against the provider's model list and
   * settles what depends on the model. Returns lines to print; throws a UserError for a
   * model the provider does not offer or a key it refuses. Offline planners have none.
   */
  check?(signal?: AbortSignal): Promise<string[]>;
}

/** A gateway run's planner id is this and the agent's client name: the transcript has no planner turns. */
export const GATEWAY_PLANNER_PREFIX = "mcp:";

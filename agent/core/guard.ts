import type { Usage } from "./conversation.ts";
import type { CostEstimate } from "./cost.ts";
import type { ToolSpec } from "./tools.ts";

/** What the guard decided about one tool call. */
export type GuardDecision =
  | { action: "allow" }
  /** Run with `input` instead; `note` is prepended to the tool result the planner sees. */
  | { action: "rewrite"; input: unknown; note: string }
  /** Do not run; `message` becomes an isError tool result. */
  | { action: "reject"; message: string }
  /** Do not run, and end the run cleanly after this turn. */
  | { action: "stop"; reason: string };

/** A tool call as the guard sees it. */
export type ToolCall = {
  id: string;
  name: string;
  input: unknown;
  /**
   * Set only by the harness's own calls (`harnessCall` in core/call.ts). What they may do is decided by this
   * code path, never by an id, which a planner's provider or a transcript chooses.
   */
  harness?: true;
};

/** Read-only facts a rule may consult. */
export type GuardContext = {
  tools: ToolSpec[];
  /** The run's base model (MODEL). */
  model: string;
  turn: number;
  /** Wall time since the loop started. */
  elapsedMs: number;
  /** Planner tokens used so far. */
  usage: Usage;
};

/**
 * One rule. Rules must not throw and must not do I/O the loop would wait on for
 * long; a rule that needs state keeps it and updates it in `observe`.
 */
export interface GuardRule {
  readonly name: string;
  check(call: ToolCall, ctx: GuardContext): EstimatedDecision | Promise<EstimatedDecision>;
  /** Told about every executed call and its outcome, so stateful rules can track the run. */
  observe?(call: ToolCall, result: { isError: boolean; structured?: unknown; content: string }): void;
}

/** The guard's answer: the decision, the rule that made it, and what the call is expected to cost when a rule estimated it. */
export type GuardVerdict = { decision: GuardDecision; rule?: string; estimate?: CostEstimate };

/** A rule's decision with the cost it estimated on the way (the budget rule's), recorded whatever the decision. */
export type EstimatedDecision = GuardDecision & { estimate?: CostEstimate };

/** The guard as the loop sees it. */
export interface Guard {
  check(call: ToolCall, ctx: GuardContext): Promise<GuardVerdict>;
  observe(call: ToolCall, result: { isError: boolean; structured?: unknown; content: string }): void;
}

import { z } from "zod";

/**
 * Provider-neutral conversation types. Blocks are shaped like Anthropic's content
 * blocks (the richest of the providers we speak), so translating to and from each
 * provider is a small, lossless mapping.
 */

export type TextBlock = { type: "text"; text: string };
export type ToolUseBlock = { type: "tool_use"; id: string; name: string; input: unknown };
export type ToolResultBlock = {
  type: "tool_result";
  toolUseId: string;
  content: string;
  isError?: boolean;
  /**
   * The tool's structuredContent. Kept in the conversation for planners that read
   * numbers (the scripted planner) and for replay; LLM providers are sent `content` only.
   */
  structured?: unknown;
};
/**
 * A planner's thinking (Anthropic extended thinking), kept exactly as returned: the API
 * checks `signature` and refuses a conversation whose thinking blocks were altered or
 * dropped. Other providers are not sent it.
 */
export type ThinkingBlock = { type: "thinking"; thinking: string; signature: string };
/** Thinking the provider returned encrypted (`data` is opaque); kept and sent back unchanged like a thinking block. */
export type RedactedThinkingBlock = { type: "redacted_thinking"; data: string };
export type Block = TextBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock | RedactedThinkingBlock;

/** Blocks that must reach the provider byte for byte as it returned them. */
export const isThinking = (b: Block): b is ThinkingBlock | RedactedThinkingBlock => b.type === "thinking" || b.type === "redacted_thinking";

export type Role = "user" | "assistant";
export type Message = { role: Role; content: Block[] };

/** Shapes of the types above, for checking what comes back from disk (transcripts); typed against them. */
export const blockShape: z.ZodType<Block> = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("text"), text: z.string() }),
  z.looseObject({ type: z.literal("tool_use"), id: z.string(), name: z.string(), input: z.unknown() }),
  z.looseObject({
    type: z.literal("tool_result"),
    toolUseId: z.string(),
    content: z.string(),
    isError: z.boolean().optional(),
    structured: z.unknown().optional(),
  }),
  z.looseObject({ type: z.literal("thinking"), thinking: z.string(), signature: z.string() }),
  z.looseObject({ type: z.literal("redacted_thinking"), data: z.string() }),
]);
export const messageShape: z.ZodType<Message> = z.looseObject({ role: z.enum(["user", "assistant"]), content: z.array(blockShape) });

/**
 * Token counts as the provider reported them; cache fields are 0 where unsupported.
 * `inputTokens` are the prompt tokens read at the full rate (cache reads and writes apart).
 * `costUsd`: what the request cost at the run's prices, when the planner's price is known.
 */
export type Usage = {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUsd?: number;
};

export const usageShape: z.ZodType<Usage> = z.looseObject({
  inputTokens: z.number(),
  outputTokens: z.number(),
  cacheReadTokens: z.number(),
  cacheWriteTokens: z.number(),
  costUsd: z.number().min(0).optional(),
});

export const ZERO_USAGE: Usage = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };

/** Token counts added up (costs are the spend ledger's to add: agent/spend/ledger.ts). */
export function addUsage(a: Usage, b: Usage): Usage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cacheReadTokens: a.cacheReadTokens + b.cacheReadTokens,
    cacheWriteTokens: a.cacheWriteTokens + b.cacheWriteTokens,
  };
}

export type StopReason = "tool_use" | "end_turn" | "max_tokens" | "pause_turn" | "refusal" | "error";

/**
 * What kind of failure a planner error was. The loop uses it to decide between
 * retrying and ending the run; `fatal` kinds (auth, bad request) never retry.
 */
export type PlannerErrorKind =
  | "auth"
  | "bad_request"
  | "rate_limit"
  | "overloaded"
  | "server"
  | "connection"
  | "timeout"
  | "context_overflow"
  | "aborted"
  /** Not sent: the request could cost more than the budget has left (the harness wraps up). */
  | "budget"
  | "other";

/**
 * The input key under which a planner passes tool arguments it could not parse (an
 * OpenAI-style JSON string that is not JSON), so the guard can refuse the call with
 * the raw text instead of the call vanishing.
 */
export const MALFORMED_ARGS = "__malformed_arguments";

/** A failed HTTP attempt that the provider SDK retried by itself. */
export type SdkRetry = { status: number; retryAfterMs?: number; error?: string };

export type AssistantTurn = {
  content: Block[];
  stopReason: StopReason;
  usage: Usage;
  /** Set when stopReason is "error": a message fit for a user to read. */
  error?: string;
  errorKind?: PlannerErrorKind;
  /** Provider model id that answered, when the provider says. */
  model?: string;
  /** Attempts the SDK retried before this turn came back. */
  sdkRetries?: SdkRetry[];
};

export function toolUses(content: Block[]): ToolUseBlock[] {
  return content.filter((b): b is ToolUseBlock => b.type === "tool_use");
}

export function textOf(content: Block[]): string {
  return content
    .filter((b): b is TextBlock => b.type === "text")
    .map((b) => b.text)
    .join("\n");
}

/** A failed planner turn: planners return this instead of throwing. */
export function plannerErrorTurn(kind: PlannerErrorKind, message: string): AssistantTurn {
  return { content: [], stopReason: "error", usage: ZERO_USAGE, error: message, errorKind: kind };
}

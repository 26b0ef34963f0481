import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

/** A successful answer from one of our MCP servers: readable text for the planner, the same facts as structured content. */
export function ok(text: string, structured: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text }], structuredContent: structured };
}

/**
 * The `_meta` key under which a tinker result (an error one included: those carry no
 * structured content) names the session's log directory, so the harness can let the
 * planner read the logs of its own sessions and no others.
 */
export const SESSION_DIR_META = "tinkerloop/session_dir";

/**
 * The `_meta` key under which a tinker result names the tokens its call made the training
 * backend process ({prefill_tokens, cached_prefill_tokens, sampled_tokens, trained_tokens}),
 * on failed calls too: a GRPO step that sampled and then found no signal has still spent.
 */
export const USAGE_META = "tinkerloop/usage";

/**
 * The `meta` key under which the harness records what a tool call cost (the tokens the
 * training backend reported and their price at the run's prices). Only the harness
 * writes it (agent/spend/priced-executor.ts); a server's own value is dropped.
 */
export const SPEND_META = "tinkerloop/spend";

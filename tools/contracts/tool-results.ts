import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { z } from "zod";

/** A successful answer from one of our MCP servers: readable text for the planner, the same facts as structured content. */
export function ok(text: string, structured: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text }], structuredContent: structured };
}

/** A tool's structured result read as `shape`, or undefined when it is not one (another server's, an older version's). */
export function readResult<T>(shape: z.ZodType<T>, structured: unknown): T | undefined {
  const r = shape.safeParse(structured);
  return r.success ? r.data : undefined;
}

/**
 * The `meta` key under which the harness records what a tool call cost (the tokens the
 * training backend reported and their price at the run's prices). Only the harness
 * writes it (agent/spend/priced-executor.ts); a server's own value is dropped.
 */
export const SPEND_META = "tinkerloop/spend";

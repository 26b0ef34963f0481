import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

/** A successful answer from one of our MCP servers: readable text for the planner, the same facts as structured content. */
export function ok(text: string, structured: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text }], structuredContent: structured };
}

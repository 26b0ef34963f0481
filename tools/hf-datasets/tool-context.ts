import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { OutputPathError } from "./export-writer.ts";
import { HfError } from "../../lib/hub-client.ts";
import type { HubClient } from "../../lib/hub-client.ts";
import { InputProblem } from "./inspection.ts";
import { TemplateError } from "./mapping.ts";

export { ok } from "../contracts/tool-results.ts";

/** What every group of hf-datasets tools shares. */
export type HfToolContext = { server: McpServer; hub: HubClient; env: Record<string, string | undefined> };

function fail(code: string, message: string, hint: string): CallToolResult {
  return { content: [{ type: "text", text: `Error [${code}]: ${message}\nHint: ${hint}` }], isError: true };
}

/**
 * A tool handler that never throws (`asToolHandler` means this in both servers): known
 * errors become isError results with a code and a hint. Never echoes HF_TOKEN.
 */
export function asToolHandler<A>(body: (a: A) => Promise<CallToolResult>) {
  return async (a: A): Promise<CallToolResult> => {
    try {
      return await body(a);
    } catch (err) {
      if (err instanceof HfError) return fail(err.code, err.message, err.hint);
      if (err instanceof TemplateError)
        return fail(
          "bad_mapping",
          err.message,
          'Fix the template: {field}, {a.b}, {list[0]}, {msgs[role=user][0].content}, filters like |trim or |after:"####".',
        );
      if (err instanceof OutputPathError)
        return fail("bad_output", err.message, 'Write a .jsonl file inside the run directory, e.g. output: "data/gsm8k-train.jsonl".');
      if (err instanceof InputProblem) return fail(err.code, err.message, err.hint);
      const msg = (err as Error).message ?? String(err);
      const token = process.env.HF_TOKEN;
      return fail("internal", token ? msg.split(token).join("[REDACTED]") : msg, "This looks like a bug; the other tools still work.");
    }
  };
}

import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ErrorCode,
} from "@modelcontextprotocol/sdk/types.js";
import type { GatewayRun } from "./gateway-run.ts";

/** The seed prompt as an MCP prompt, for agents that show prompts as commands (Claude Code: /mcp__tinkerloop__research-run). */
export const SEED_PROMPT_NAME = "research-run";

/**
 * The gateway as one MCP server: the hub's tools (every configured server's and the
 * workspace's) under their hub names, each call through the run's guard; the filled
 * seed prompt as the server's instructions and as a prompt. One Server per connection.
 */
export function gatewayServer(run: GatewayRun): Server {
  const server = new Server({ name: "tinkerloop", version: "0.1.0" }, { capabilities: { tools: {}, prompts: {} }, instructions: run.prompt.system });
  server.oninitialized = () => run.attach(server.getClientVersion()?.name ?? "agent");

  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: run.tools.map((t) => ({
      name: t.name,
      description: t.description,
      inputSchema: { ...t.inputSchema, type: "object" as const },
      ...(t.outputSchema ? { outputSchema: { ...t.outputSchema, type: "object" as const } } : {}),
    })),
  }));

  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const token = req.params._meta?.progressToken;
    let step = 0;
    const progress =
      token === undefined
        ? undefined
        : (message: string | undefined) => {
            void extra
              .sendNotification({ method: "notifications/progress", params: { progressToken: token, progress: ++step, ...(message ? { message } : {}) } })
              .catch(() => undefined);
          };
    const r = await run.call(req.params.name, req.params.arguments ?? {}, { signal: extra.signal, ...(progress ? { progress } : {}) });
    return {
      content: [{ type: "text" as const, text: r.text }],
      ...(r.isError ? { isError: true } : {}),
      ...(r.structured !== undefined && typeof r.structured === "object" && r.structured !== null
        ? { structuredContent: r.structured as Record<string, unknown> }
        : {}),
    };
  });

  server.setRequestHandler(ListPromptsRequestSchema, async () => ({
    prompts: [
      { name: SEED_PROMPT_NAME, description: "The research run's instructions: the objective and the MODEL to post-train, in the harness's system prompt." },
    ],
  }));
  server.setRequestHandler(GetPromptRequestSchema, async (req) => {
    if (req.params.name !== SEED_PROMPT_NAME)
      throw new McpError(ErrorCode.InvalidParams, `There is no prompt '${req.params.name}'; the one prompt is '${SEED_PROMPT_NAME}'.`);
    return {
      description: "The research run's instructions",
      messages: [{ role: "user" as const, content: { type: "text" as const, text: run.prompt.system } }],
    };
  });
  return server;
}

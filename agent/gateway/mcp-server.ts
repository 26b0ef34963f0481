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

import { SEED_PROMPT_NAME } from "./defaults.ts";

export { SEED_PROMPT_NAME };

/** A call that runs longer than this sends a progress notification this often (the clients' idle timeouts are minutes). */
export const PROGRESS_EVERY_MS = 15_000;

/**
 * The gateway as one MCP server: the hub's tools (every configured server's and the
 * workspace's) under their hub names, each call through the run's guard; the essentials and
 * the head of the filled seed prompt as the server's instructions (instructions.ts), the
 * whole seed prompt as a prompt. One Server per connection.
 */
export function gatewayServer(run: GatewayRun): Server {
  const server = new Server({ name: "tinkerloop", version: "0.1.0" }, { capabilities: { tools: {}, prompts: {} }, instructions: run.instructions });
  server.oninitialized = () => run.attach(server.getClientVersion()?.name ?? "agent");

  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: run.tools.map((t) => ({
      name: t.name,
      description: t.description,
      inputSchema: { ...t.inputSchema, type: "object" as const },
      // No outputSchema: results are text only (gateway-run.ts: GatewayResult), and a tool with one must return structured content.
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
    // The clients abort a call that says nothing for minutes: a long call reports that it is still running.
    const started = Date.now();
    const alive = progress
      ? setInterval(() => progress(`${req.params.name}: still running (${Math.round((Date.now() - started) / 1000)} s)`), PROGRESS_EVERY_MS)
      : undefined;
    let r: Awaited<ReturnType<GatewayRun["call"]>>;
    try {
      r = await run.call(req.params.name, req.params.arguments ?? {}, { signal: extra.signal, ...(progress ? { progress } : {}) });
    } finally {
      clearInterval(alive);
    }
    return { content: [{ type: "text" as const, text: r.text }], ...(r.isError ? { isError: true } : {}) };
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

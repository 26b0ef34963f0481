import { listenOnLoopback, readBody } from "./loopback.ts";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

/**
 * A small MCP server over Streamable HTTP on loopback (stateless: a fresh server per
 * request), for testing the hub's HTTP entries. Requires the bearer token it is given.
 */
export async function startHttpMcpServer(token: string): Promise<{ url: string; seenAuth: string[]; close: () => Promise<void> }> {
  const seenAuth: string[] = [];
  const server = await listenOnLoopback(async (req, res) => {
    seenAuth.push(req.headers.authorization ?? "");
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401).end("unauthorized");
      return;
    }
    const raw = await readBody(req);
    const body = raw ? JSON.parse(raw) : undefined;
    const mcp = new McpServer({ name: "http-lab", version: "1.0.0" });
    mcp.registerTool("shout", { description: "Upper-case text.", inputSchema: { text: z.string() } }, async ({ text }) => ({
      content: [{ type: "text", text: text.toUpperCase() }],
    }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on("close", () => {
      void transport.close();
      void mcp.close();
    });
    await mcp.connect(transport);
    await transport.handleRequest(req, res, body);
  });
  return { url: `${server.origin}/mcp`, seenAuth, close: server.close };
}

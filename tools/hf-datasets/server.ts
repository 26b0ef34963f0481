/**
 * The hf-datasets MCP server (stdio): find datasets on the Hugging Face Hub (or in
 * the built-in catalog offline), look inside them, map rows to training records with
 * a small template language, and write JSONL files the tinker tools read by path.
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { exportRoot } from "./export-writer.ts";
import { HubClient, hubConfigFromEnv } from "../../lib/hub-client.ts";
import type { HfToolContext } from "./tool-context.ts";
import { registerGeneratorTools } from "./tools/generator-tools.ts";
import { registerMappingTools } from "./tools/mapping-tools.ts";
import { registerSearchTools } from "./tools/search-tools.ts";

const env = process.env;
const ctx: HfToolContext = {
  server: new McpServer({ name: "hf-datasets", version: "0.1.0" }),
  hub: new HubClient(hubConfigFromEnv(env), (m) => process.stderr.write(`${m}\n`)),
  env,
};
registerSearchTools(ctx);
registerMappingTools(ctx);
registerGeneratorTools(ctx);

await ctx.server.connect(new StdioServerTransport());
process.stderr.write(
  `hf-datasets server ready (${ctx.hub.config.offline ? "offline: catalog only" : `hub ${ctx.hub.config.endpoint}`}; exports under ${exportRoot(env)})\n`,
);

/**
 * Loaded with `--import` into a bundled MCP server by fault tests. The tools named in
 * TL_SLOW_TOOLS ("save,finish,sample") do their work and then answer TL_SLOW_MS
 * milliseconds later, so a test watching the transcript can catch them in flight
 * whatever the machine's speed (a local save takes a few milliseconds).
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";

const slow = new Set(
  (process.env.TL_SLOW_TOOLS ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
);
const ms = Number(process.env.TL_SLOW_MS ?? "400");

type Register = (name: string, config: unknown, cb: (...args: unknown[]) => Promise<unknown>) => unknown;
const proto = McpServer.prototype as unknown as { registerTool: Register };
const original = proto.registerTool;
proto.registerTool = function (this: McpServer, name, config, cb) {
  if (!slow.has(name)) return original.call(this, name, config, cb);
  return original.call(this, name, config, async (...args: unknown[]) => {
    const r = await cb(...args);
    await new Promise((resolve) => setTimeout(resolve, ms));
    return r;
  });
};

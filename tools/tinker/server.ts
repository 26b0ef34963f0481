/**
 * The tinker MCP server (stdio): SFT and GRPO training sessions over a pluggable
 * training backend, a reward sandbox, and per-session logs. One session per process;
 * calls are serialized.
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { RewardSandbox } from "./reward/sandbox.ts";
import { CallLock, TrainingSession } from "./session.ts";
import type { ToolContext } from "./tool-context.ts";
import { registerExamTool } from "./tools/exam-tool.ts";
import { registerSamplingTools } from "./tools/sampling-tools.ts";
import { registerSessionTools } from "./tools/session-tools.ts";
import { registerTrainingTools } from "./tools/training-tools.ts";

const lockTimeoutSec = Number(process.env.TINKERLOOP_TOOL_LOCK_TIMEOUT_SECONDS ?? "10");
const ctx: ToolContext = {
  server: new McpServer({ name: "tinker", version: "0.1.0" }),
  session: new TrainingSession(),
  sandbox: new RewardSandbox(),
  lock: new CallLock(Number.isFinite(lockTimeoutSec) ? lockTimeoutSec * 1000 : 10_000),
};
registerSessionTools(ctx);
registerTrainingTools(ctx);
registerSamplingTools(ctx);
registerExamTool(ctx);

await ctx.server.connect(new StdioServerTransport());
process.stderr.write(`tinker server ready (logs in ${ctx.session.logs.dir})\n`);

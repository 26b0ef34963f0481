/**
 * A small real MCP server (stdio) used only by tests of the tool hub and the loop.
 * Flags: --name N (server name), --fail-start (write to stderr and exit before
 * connecting), --prefix P (prefix on every tool name).
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";
import { grpoStepResult, saveResult } from "../../tools/contracts/tinker-results.ts";
import type { GrpoIteration, GrpoStepResult, SaveResult } from "../../tools/contracts/tinker-results.ts";

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

if (args.includes("--fail-start")) {
  process.stderr.write("loading config...\nfatal: cannot open /nonexistent/config.toml\n");
  process.exit(3);
}

const name = flag("--name") ?? "testsrv";
const prefix = flag("--prefix") ?? "";
const server = new McpServer({ name, version: "1.0.0" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

server.registerTool(
  `${prefix}echo`,
  { description: "Echo text back.", inputSchema: { text: z.string() }, outputSchema: { echoed: z.string(), server: z.string() } },
  async ({ text }) => ({ content: [{ type: "text", text: `${name} echoes: ${text}` }], structuredContent: { echoed: text, server: name } }),
);

server.registerTool(
  `${prefix}add`,
  { description: "Add two numbers.", inputSchema: { a: z.number(), b: z.number() }, outputSchema: { sum: z.number() } },
  async ({ a, b }) => ({ content: [{ type: "text", text: `sum = ${a + b}` }], structuredContent: { sum: a + b } }),
);

server.registerTool(`${prefix}slow`, { description: "Wait ms milliseconds, then answer.", inputSchema: { ms: z.number() } }, async ({ ms }) => {
  await sleep(ms);
  return { content: [{ type: "text", text: `waited ${ms} ms` }] };
});

server.registerTool(`${prefix}fail`, { description: "Always fails.", inputSchema: { message: z.string().optional() } }, async ({ message }) => ({
  content: [{ type: "text", text: `failed: ${message ?? "as asked"}` }],
  isError: true,
}));

server.registerTool(`${prefix}crash`, { description: "Exits the server process mid-call.", inputSchema: {} }, async () => {
  setTimeout(() => process.exit(7), 10);
  await sleep(1000);
  return { content: [{ type: "text", text: "unreachable" }] };
});

server.registerTool(
  `${prefix}env_has`,
  { description: "Says whether an environment variable is set in this server.", inputSchema: { name: z.string() } },
  async ({ name: v }) => ({ content: [{ type: "text", text: process.env[v] !== undefined ? `${v} is set` : `${v} is not set` }] }),
);

server.registerTool(
  `${prefix}init_grpo`,
  { description: "Pretend to open a training session.", inputSchema: { base_model: z.string(), lora_rank: z.number().optional() } },
  async ({ base_model }) => ({ content: [{ type: "text", text: `session opened for ${base_model}` }], structuredContent: { base_model } }),
);

let iteration = 0;
server.registerTool(
  `${prefix}train_grpo_step`,
  {
    description: "Pretend to train: reports the metrics it is given, with the tinker server's declared result shape.",
    inputSchema: {
      prompts: z.string(),
      reward_function: z.string(),
      reward_mean: z.number().default(0.5),
      all_zero: z.number().default(0),
      all_one: z.number().default(0),
      kl: z.number().default(0.001),
    },
    outputSchema: grpoStepResult,
  },
  async (a) => {
    const total = 10;
    const groups = { total, mixed: total - a.all_zero - a.all_one, all_zero: a.all_zero, all_one: a.all_one, uniform_other: 0, failed: 0 };
    const stepped = groups.mixed > 0;
    if (stepped) iteration++;
    const it: GrpoIteration = {
      iteration,
      stepped,
      reward_mean: a.reward_mean,
      reward_std: 0.3,
      learning_rate: 1e-4,
      groups,
      samples_generated: 40,
      samples_used: groups.mixed * 4,
      reward_errors: 0,
      kl: stepped ? a.kl : null,
      kl_sampler: stepped ? 0 : null,
      kl_squared: stepped ? 0 : null,
      loss: stepped ? 0.1 : null,
      tokens_sampled: 400,
      truncated: 0,
      seconds: { sampling: 0.1, reward: 0.1, training: 0.1, other: 0 },
    };
    const result: GrpoStepResult = {
      session_dir: "/tmp/tinkerer_fake",
      method: "grpo",
      prompts: 10,
      group_size: 4,
      max_tokens: 32,
      sandbox: "fake",
      cumulative_iterations: iteration,
      optimizer_steps: stepped ? 1 : 0,
      iterations: [it],
      auto_checkpoints: [],
      scheduler_total_steps: 0,
      verdict: stepped ? "HEALTHY" : "NO SIGNAL",
      next_step: "",
      warnings: [],
    };
    return { content: [{ type: "text", text: `iteration ${iteration}: reward ${a.reward_mean}` }], structuredContent: result };
  },
);

server.registerTool(`${prefix}save`, { description: "Pretend to save.", inputSchema: { name: z.string() }, outputSchema: saveResult }, async ({ name: n }) => {
  const result: SaveResult = {
    session_dir: "/tmp/tinkerer_fake",
    name: n,
    path: `fake://${n}`,
    method: "grpo",
    base_model: process.env.FAKE_BASE_MODEL ?? "local/tiny-arith",
    counters: { sft_epochs: 0, sft_steps: 0, grpo_iterations: iteration },
  };
  return { content: [{ type: "text", text: `saved ${n}` }], structuredContent: result };
});

server.registerTool(`${prefix}finish`, { description: "End the run.", inputSchema: {} }, async () => ({
  content: [{ type: "text", text: "run finished" }],
}));

await server.connect(new StdioServerTransport());
process.stderr.write(`${name} ready\n`);

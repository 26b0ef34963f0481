/**
 * What rule `contamination` costs (not part of npm test): the guard's check of training rows
 * against a 1,319-item exam (GSM8K's test split size), per million training tokens, and as a
 * share of one GRPO iteration on the local engine, measured in the same run. Target: ≤ 5%.
 *
 * The exam: GSM8K-sized items made from the word_problems generator's eval split (four
 * problems a question, each with a worked line, "#### n" at the end: ~60 words of question and
 * ~40 of answer, like GSM8K's). The training rows: the same shape from its train split, worded
 * so that no row hits and every rule runs to the end (the slow case; see cleanRows). Tokens are counted at 4 UTF-8 bytes
 * a token (ordinary English under a BPE tokenizer; agent/spend/estimate.ts) — fewer bytes a
 * token would make the check cheaper per token, not dearer.
 *
 * The anchor: one `train_grpo_step` (num_iterations 1, the session's default group size and
 * max_tokens) of the real tinker MCP server on local/tiny-arith, through the real tool hub;
 * the check of that same call's rows is timed beside it.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ZERO_USAGE } from "../agent/core/conversation.ts";
import type { ToolCall } from "../agent/core/guard.ts";
import { buildGuard } from "../agent/guard/index.ts";
import { TrainingState } from "../agent/state/training-state.ts";
import { ToolHub } from "../agent/tool-hub/hub.ts";
import { generate } from "../lib/generators/generate.ts";
import { runLayout } from "../lib/run-layout.ts";

const EXAM_ITEMS = 1319;
const BYTES_PER_TOKEN = 4;
const TARGET_SHARE = 0.05;
const GRPO_PROMPTS = 8;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MODEL = "local/tiny-arith";
const REPO = path.resolve(import.meta.dirname, "..");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

/** GSM8K-sized items: four generated word problems a question, a worked line each, the last answer after ####. */
function gsm8kSized(split: "train" | "eval", n: number, seed: number): Array<{ prompt: string; ground_truth: string }> {
  const parts = generate("word_problems", { n: n * 4, seed, split, difficulty: "mixed" }).items;
  return Array.from({ length: Math.floor(parts.length / 4) }, (_, i) => {
    const four = parts.slice(i * 4, i * 4 + 4);
    return {
      prompt: `${four.map((p) => p.prompt).join(" Then, separately: ")} Show your work, then give the final answer after "####".`,
      ground_truth: `${four.map((p, k) => `Step ${k + 1}: the answer to part ${k + 1} is ${p.ground_truth}.`).join("\n")}\n#### ${four[3]!.ground_truth}`,
    };
  });
}

/**
 * Training rows for the slow case: made like the exam's items (from the train split) with each
 * text's words in reverse order, so every word is an exam word (every 13-word window is hashed
 * and looked up, every 50-character window too) and no row hits. Rows in the exam's own order
 * would hit: generated problems are templates, and two fills of one template share 13-grams.
 */
function cleanRows(n: number): Array<{ prompt: string; ground_truth: string }> {
  const backwards = (s: string) => s.split(/\s+/).reverse().join(" ");
  return gsm8kSized("train", n, 7).map((r) => ({ prompt: backwards(r.prompt), ground_truth: backwards(r.ground_truth) }));
}

const exam = gsm8kSized("eval", EXAM_ITEMS, 1319);
if (exam.length < EXAM_ITEMS) throw new Error(`only ${exam.length} exam items`);
const runDir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-contam-"));
fs.mkdirSync(runLayout(runDir).data, { recursive: true });
fs.mkdirSync(runLayout(runDir).checkpoints, { recursive: true });

let t = performance.now();
const guard = await buildGuard({
  onWrongModel: "reject",
  dataDir: runLayout(runDir).data,
  budget: {},
  trainingState: new TrainingState(),
  exam: { items: exam },
  // Only rule contamination's cost is measured: the others need the server's tool list.
  disabled: ["unknown-tool", "schema", "workflow", "reward-code", "large-inline"],
});
const buildMs = performance.now() - t;

// 1. The check per million training tokens (rows from a file, as a planner passes large data).
const rows = cleanRows(4000);
const lines = rows.map((r) => JSON.stringify(r));
const bytes = rows.reduce((n, r) => n + Buffer.byteLength(r.prompt) + Buffer.byteLength(r.ground_truth), 0);
fs.writeFileSync(path.join(runLayout(runDir).data, "train.jsonl"), `${lines.join("\n")}\n`);
const ctx = { tools: [], model: MODEL, turn: 1, elapsedMs: 0, usage: ZERO_USAGE };
const reward = "def compute_reward(completion, ground_truth):\n    return 0.0\n";
const checkMs: number[] = [];
for (let i = 0; i < ROUNDS + 1; i++) {
  const call: ToolCall = { id: `b${i}`, name: "train_grpo_step", input: { prompts: "data/train.jsonl", reward_function: reward } };
  t = performance.now();
  const v = await guard.check(call, ctx);
  if (i > 0) checkMs.push(performance.now() - t);
  if (v.decision.action !== "allow") throw new Error(`clean rows refused: ${JSON.stringify(v)}`);
}
const tokens = bytes / BYTES_PER_TOKEN;
const msPerMillion = (median(checkMs) / tokens) * 1e6;

// 2. One GRPO iteration on the local engine, and the check of that call's rows.
const hub = await ToolHub.start({
  servers: [{ kind: "stdio", name: "tinker", command: process.execPath, args: [path.join(REPO, "bin", "tinker-mcp.js")], env: {}, cwd: runDir, timeouts: {} }],
  env: { ...process.env, TINKERLOOP_RUN_DIR: runDir, TINKERLOOP_MODEL: MODEL },
});
const init = await hub.call("init_grpo", { base_model: MODEL });
if (init.isError) throw new Error(init.content);
const batch = rows.slice(0, GRPO_PROMPTS);
const iterMs: number[] = [];
const batchCheckMs: number[] = [];
for (let i = 0; i < ROUNDS + 1; i++) {
  const input = { prompts: batch, reward_function: reward, num_iterations: 1 };
  t = performance.now();
  await guard.check({ id: `g${i}`, name: "train_grpo_step", input }, ctx);
  const c = performance.now() - t;
  t = performance.now();
  const r = await hub.call("train_grpo_step", input);
  const ms = performance.now() - t;
  if (r.isError) throw new Error(r.content);
  if (i > 0) {
    iterMs.push(ms);
    batchCheckMs.push(c);
  }
}
await hub.close();
fs.rmSync(runDir, { recursive: true, force: true });

const iteration = median(iterMs);
const batchTokens = batch.reduce((n, r) => n + Buffer.byteLength(r.prompt) + Buffer.byteLength(r.ground_truth), 0) / BYTES_PER_TOKEN;
const share = median(batchCheckMs) / iteration;
console.log(`exam: ${exam.length} GSM8K-sized items; index built in ${buildMs.toFixed(0)} ms (once per run)`);
console.log(
  `check: ${median(checkMs).toFixed(0)} ms for ${rows.length} rows, ${(tokens / 1e6).toFixed(2)}M tokens → ${msPerMillion.toFixed(0)} ms per million training tokens`,
);
console.log(
  `GRPO iteration (local engine, ${MODEL}, ${batch.length} prompts, ~${batchTokens.toFixed(0)} tokens of rows): ${iteration.toFixed(0)} ms; ` +
    `the check of the same call: ${median(batchCheckMs).toFixed(2)} ms`,
);
console.log(`share of a GRPO iteration: ${(share * 100).toFixed(3)}% (target ≤ ${TARGET_SHARE * 100}%) ${share <= TARGET_SHARE ? "OK" : "OVER"}`);
console.log(
  `at the measured rate, a GRPO iteration's worth of check time covers ${((iteration / msPerMillion) * 1e6).toFixed(0)} tokens of rows (${(((iteration / msPerMillion) * 1e6) / batchTokens).toFixed(0)}× this call's)`,
);

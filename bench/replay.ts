/**
 * View and cassette-replay time for a generated 1,000-event transcript (medians of 5).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Redactor } from "../agent/secrets/redactor.ts";
import { cassetteReplay } from "../agent/replay/cassette.ts";
import { renderTranscript } from "../agent/replay/view.ts";
import { readTranscript, TRANSCRIPT_SCHEMA_VERSION, TranscriptWriter } from "../agent/transcript/transcript.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-replay-"));
const file = path.join(dir, "transcript.jsonl");
const w = new TranscriptWriter(file, new Redactor({}));
const usage = { inputTokens: 1000, outputTokens: 50, cacheReadTokens: 900, cacheWriteTokens: 0 };
const spec = {
  name: "train_grpo_step",
  description: "",
  source: "tinker",
  inputSchema: { type: "object", properties: { prompts: { type: "string" } }, required: ["prompts"] },
};
w.on({
  type: "run",
  schema: TRANSCRIPT_SCHEMA_VERSION,
  runId: "bench",
  startedAt: new Date().toISOString(),
  planner: "anthropic:x",
  model: "local/tiny-arith",
  config: { maxNudges: 3 },
  templateSha256: "x",
  tools: [{ name: spec.name, source: spec.source }],
  toolSpecs: [spec],
});
w.on({ type: "system", text: 'You are a researcher. base_model="local/tiny-arith"' });
w.on({ type: "user", turn: 0, message: { role: "user", content: [{ type: "text", text: "go" }] } });
let events = 3;
for (let turn = 1; events < 1000; turn++) {
  const id = `toolu_${turn}`;
  const input = { prompts: "pool.jsonl" };
  w.on({
    type: "assistant",
    turn,
    latencyMs: 900,
    content: [
      { type: "text", text: `Step ${turn}.` },
      { type: "tool_use", id, name: spec.name, input },
    ],
    stopReason: "tool_use",
    usage,
  });
  w.on({ type: "guard", turn, toolUseId: id, name: spec.name, decision: { action: "allow" }, original: input, effective: input });
  const structured = {
    method: "grpo",
    cumulative_iterations: turn,
    iterations: [
      {
        iteration: turn,
        reward_mean: 0.3 + (turn % 10) / 50,
        reward_std: 0.3,
        learning_rate: 1e-4,
        groups: { total: 32, mixed: 20, all_zero: 8, all_one: 4, uniform_other: 0, failed: 0 },
        samples_generated: 256,
        samples_used: 160,
        reward_errors: 0,
        kl: 0.001,
        tokens_sampled: 2000,
        truncated: 0,
      },
    ],
  };
  w.on({
    type: "tool",
    turn,
    toolUseId: id,
    name: spec.name,
    input,
    result: `iteration ${turn} ${"report ".repeat(40)}`,
    structured,
    isError: false,
    ms: 1200,
  });
  w.on({ type: "feedback", turn, text: "── training feedback ──\nturn reward ..." });
  w.on({
    type: "user",
    turn,
    message: {
      role: "user",
      content: [
        { type: "tool_result", toolUseId: id, content: `iteration ${turn}`, structured },
        { type: "text", text: "── training feedback ──" },
      ],
    },
  });
  events += 5;
}
w.close();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[2]!;
const view: number[] = [];
const cassette: number[] = [];
for (let i = 0; i < 5; i++) {
  let t = performance.now();
  renderTranscript(readTranscript(file)).join("\n");
  view.push(performance.now() - t);
  t = performance.now();
  await cassetteReplay(file);
  cassette.push(performance.now() - t);
}
console.log(`transcript: ${readTranscript(file).events.length} events, ${(fs.statSync(file).size / 1024).toFixed(0)} KiB`);
console.log(`view (read + render):  median ${median(view).toFixed(1)} ms`);
console.log(`cassette replay:       median ${median(cassette).toFixed(1)} ms`);

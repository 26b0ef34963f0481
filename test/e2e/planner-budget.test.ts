import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { FakeAnthropic, toolUseReply } from "../fakes/anthropic-server.ts";
import { runCli, tempDir } from "../helpers.ts";

/**
 * The planner's own requests under a dollar budget: the real CLI, the real Anthropic SDK
 * against the fake (which counts tokens on POST /v1/messages/count_tokens), the bundled
 * tinker server on the free local backend. Every turn of the fake costs $1.20 of input
 * (400,000 tokens at claude-sonnet-4-6's $3/M) plus its output; scripted for five turns,
 * the planner alone would spend about $6. Each request is sized and priced at its most
 * (every input token at the $3.75/M cache-write rate, 8,192 output tokens at $15/M: $1.62)
 * before it is sent, and one that does not fit is not sent: the harness wraps up by itself.
 */

const MODEL = "local/tiny-arith";
const PLANNER = "anthropic:claude-sonnet-4-6";
const INPUT_TOKENS = 400_000;
const OUTPUT_TOKENS = 1000;
/** claude-sonnet-4-6 in prices.json, USD per million tokens. */
const SONNET = { input: 3, output: 15, cacheWrite: 3.75 };
const TURN_USD = (INPUT_TOKENS * SONNET.input + OUTPUT_TOKENS * SONNET.output) / 1e6;
/** Differs between most completions of a group, so a step has advantages to train on. */
const PARITY = "def compute_reward(completion, ground_truth):\n    return float(sum(map(ord, completion)) % 2)\n";
const KEY = "sk-ant-budget-0000000";

let fake: FakeAnthropic | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const train = {
  name: "train_grpo_step",
  input: {
    prompts: Array.from({ length: 6 }, (_, i) => ({ prompt: `What is ${i} + 3?`, ground_truth: String(i + 3) })),
    reward_function: PARITY,
    max_tokens: 6,
    temperature: 1,
  },
};

async function run(budget: string[]) {
  const usage = { input_tokens: INPUT_TOKENS, output_tokens: OUTPUT_TOKENS };
  const steps = [
    toolUseReply([{ name: "init_grpo", input: { base_model: MODEL, group_size: 4 } }, train]),
    ...Array.from({ length: 4 }, () => toolUseReply([train])),
  ].map((s) => ({ ...s, body: { ...(s.body as object), usage } }));
  fake = await FakeAnthropic.start(steps, { countTokens: () => INPUT_TOKENS });
  const runDir = path.join(tempDir("tl-planner-budget-"), "run");
  const r = await runCli(["run", "--planner", PLANNER, "--model", MODEL, "--prompt", "p", "--run-dir", runDir, "--max-nudges", "0", ...budget], {
    env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: fake.url, HF_HUB_OFFLINE: "1" },
    timeoutMs: 240_000,
  });
  const events = readTranscript(path.join(runDir, "transcript.jsonl")).events as any[];
  const summary = JSON.parse(fs.readFileSync(path.join(runDir, "summary.json"), "utf8"));
  return { r, events, summary };
}

describe("a dollar budget bounds the planner's own requests", () => {
  for (const flag of ["--max-cost", "--max-planner-cost"]) {
    it(`${flag} 2: the first $1.20 turn is sent, the next (up to $1.62) is not; the harness saves and finishes; spend stays within $2`, async () => {
      const { r, events, summary } = await run([flag, "2"]);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      // One request reached the Messages API; each of the two turns asked was counted first, with the body it would send.
      expect(fake!.messageRequests).toHaveLength(1);
      expect(fake!.countRequests).toHaveLength(2);
      const sent = fake!.messageRequests[0]!.body;
      expect(fake!.countRequests[0]!.body.messages).toEqual(sent.messages);
      expect(fake!.countRequests[0]!.body.tools).toEqual(sent.tools);
      expect(fake!.countRequests[0]!.body.system).toEqual(sent.system);
      expect(summary.spend.plannerUsd).toBeCloseTo(TURN_USD, 9);
      expect(summary.spend.plannerUsd + summary.spend.trainingUsd).toBeLessThanOrEqual(2);
      const bound = (INPUT_TOKENS * SONNET.cacheWrite + sent.max_tokens * SONNET.output) / 1e6;
      const end = events.find((e) => e.type === "end");
      expect(end.reason).toBe("budget");
      const option = flag === "--max-cost" ? "--max-cost" : "--max-planner-cost";
      expect(end.detail).toBe(
        `the next planner request was not sent: it could cost up to $${bound.toFixed(2)} (${INPUT_TOKENS} input tokens, up to ${sent.max_tokens} output tokens) and $${(2 - TURN_USD).toFixed(4)} is left of ${option} $2.00 ($${TURN_USD.toFixed(2)} spent)`,
      );
      // The wrap-up: the step trained in turn 1 is saved by the harness, then the session finished.
      const save = events.find((e) => e.type === "tool" && e.toolUseId === "harness-emergency-save");
      expect(save?.isError).toBe(false);
      expect(events.some((e) => e.type === "tool" && e.toolUseId === "harness-finish" && !e.isError)).toBe(true);
      expect(r.stdout).toContain("stopped: the next planner request would not fit the budget");
    });
  }

  it("without a budget nothing is counted and every scripted turn is sent", async () => {
    const { events } = await run(["--max-turns", "3"]);
    expect(fake!.countRequests).toHaveLength(0);
    expect(fake!.messageRequests).toHaveLength(3);
    expect(events.find((e) => e.type === "end").reason).toBe("max_turns");
  });

  it("--max-cost 2: attempts that fail mid-stream after message_start (their 400,000 input tokens read) count against the budget, so at most one such $1.20 attempt is sent", async () => {
    const usage = { input_tokens: INPUT_TOKENS, output_tokens: OUTPUT_TOKENS };
    // An overload inside a 200 stream: message_start (with its usage) reached the client, then the error event.
    const overloaded = { ...toolUseReply([train]), sseError: { type: "overloaded_error", message: "Overloaded" } };
    const steps = Array.from({ length: 8 }, () => ({ ...overloaded, body: { ...(overloaded.body as object), usage } }));
    fake = await FakeAnthropic.start(steps, { countTokens: () => INPUT_TOKENS });
    const runDir = path.join(tempDir("tl-planner-budget-"), "run");
    const r = await runCli(["run", "--planner", PLANNER, "--model", MODEL, "--prompt", "p", "--run-dir", runDir, "--max-nudges", "0", "--max-cost", "2"], {
      env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: fake.url, HF_HUB_OFFLINE: "1" },
      timeoutMs: 240_000,
    });
    const summary = JSON.parse(fs.readFileSync(path.join(runDir, "summary.json"), "utf8"));
    // What the API reported reading for the attempts it received, against what the run counted.
    const read = (fake.messageRequests.length * INPUT_TOKENS * SONNET.input) / 1e6;
    expect(read, `${fake.messageRequests.length} attempts sent; counted $${summary.spend.plannerUsd}\n${r.stdout}`).toBeLessThanOrEqual(2);
    expect(summary.spend.plannerUsd).toBeCloseTo(read, 3);
  });

  it("--max-cost 2 on a graded run: the final exam's reserve is held back from the planner's requests too, so a $1.62 request does not go out when only about $1.1 is left beside the reserve", async () => {
    const usage = { input_tokens: INPUT_TOKENS, output_tokens: OUTPUT_TOKENS };
    fake = await FakeAnthropic.start([{ ...toolUseReply([train]), body: { ...(toolUseReply([train]).body as object), usage } }], {
      countTokens: () => INPUT_TOKENS,
    });
    const dir = tempDir("tl-planner-budget-");
    // The local model priced like a paid one, so the exam has a reserve (about $0.87: 20 items, prompt bytes plus the 256-token template allowance at $100/M, 8 tokens each at $2,000/M).
    const prices = path.join(dir, "prices.json");
    fs.writeFileSync(prices, JSON.stringify({ training: { "local/*": { prefill: 100, cachedPrefill: 100, sample: 2000, train: 2000 } } }));
    const runDir = path.join(dir, "run");
    const r = await runCli(
      [
        "run",
        "--planner",
        PLANNER,
        "--model",
        MODEL,
        "--prompt",
        "p",
        "--run-dir",
        runDir,
        "--max-nudges",
        "0",
        "--max-cost",
        "2",
        "--prices",
        prices,
        "--exam",
        "generator:addition,scorer=numeric,items=20,max_tokens=8",
      ],
      { env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: fake.url, HF_HUB_OFFLINE: "1" }, timeoutMs: 240_000 },
    );
    expect(r.stdout, r.stderr).toMatch(/reserved for the exam's baseline and final sittings|stopped: the next planner request would not fit the budget/);
    expect(fake.messageRequests, r.stdout + r.stderr).toHaveLength(0);
    const end = (readTranscript(path.join(runDir, "transcript.jsonl")).events as any[]).find((e) => e.type === "end");
    expect(end.reason).toBe("budget");
  });
});

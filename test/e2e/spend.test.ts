/**
 * Spend in a run: a user's prices file, and the one dollar budget checked before a
 * call runs. Real CLI, the bundled tinker server on the local backend (priced through a
 * user's prices file so its tokens cost something), the real Anthropic SDK against the
 * fake; every figure is checked against arithmetic done here on the recorded tokens.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadPrices } from "../../agent/spend/prices-file.ts";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { FakeAnthropic, message, toolUseReply } from "../fakes/anthropic-server.ts";
import { FakeOpenAI } from "../fakes/openai-server.ts";
import { runCli, tempDir } from "../helpers.ts";

const MODEL = "local/tiny-arith";
const PLANNER = "anthropic:claude-sonnet-5-5";
/** claude-sonnet-5-5 in prices.json: USD per million tokens. */
const SONNET = { input: 2, output: 10, cacheRead: 0.1, cacheWrite: 2.5 };
/** What the tests make the local model cost (it is free): USD per million tokens. */
const LOCAL = { prefill: 100, cachedPrefill: 20, sample: 3000, train: 500 };
const PARITY = "def compute_reward(completion, ground_truth):\n    return float(len(completion.strip()) % 2)\n";
const KEY = "sk-ant-spend-0000000";

let fake: FakeAnthropic | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

function pricesFile(dir: string, training: Record<string, unknown> = LOCAL): string {
  const file = path.join(dir, "prices.json");
  fs.writeFileSync(file, JSON.stringify({ training: { [MODEL]: training } }));
  return file;
}

const prompts = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ prompt: `What is ${i % 10} + ${(i * 3) % 10}?`, ground_truth: String((i % 10) + ((i * 3) % 10)) }));

/** A run with the fake planner on the bundled servers; `prices` lays the test prices of the local model over the table. */
async function run(args: string[], steps: ReturnType<typeof toolUseReply>[], o: { usage?: Record<string, number>; prices?: boolean; counted?: number } = {}) {
  fake = await FakeAnthropic.start(
    steps.map((s) => (o.usage ? { ...s, body: { ...(s.body as object), usage: { ...(s.body as { usage: object }).usage, ...o.usage } } } : s)),
    o.counted !== undefined ? { countTokens: () => o.counted! } : {},
  );
  const dir = tempDir("tl-spend-");
  const runDir = path.join(dir, "run");
  const priced = o.prices ? ["--prices", pricesFile(dir)] : [];
  const r = await runCli(["run", "--planner", PLANNER, "--model", MODEL, "--prompt", "p", "--run-dir", runDir, "--max-nudges", "0", ...priced, ...args], {
    env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: fake.url, HF_HUB_OFFLINE: "1" },
    timeoutMs: 240_000,
  });
  const events = readTranscript(path.join(runDir, "transcript.jsonl")).events as any[];
  return { r, dir, runDir, events };
}

describe("prices as data", () => {
  it("a user's file overrides or adds entries; a malformed one is one line and exit 2", async () => {
    const dir = tempDir("tl-prices-");
    const table = loadPrices(pricesFile(dir, { prefill: 1, cachedPrefill: 0.2, sample: 2, train: 3 }));
    expect(table.training(MODEL)).toMatchObject({ price: { prefill: 1, sample: 2 }, source: expect.stringContaining("your prices file") });
    const bad = path.join(dir, "bad.json");
    fs.writeFileSync(bad, JSON.stringify({ planners: { "openai:x": { input: "cheap", output: 1, cacheRead: 0, cacheWrite: 0 } } }));
    const r = await runCli(["run", "--prices", bad, "--model", MODEL, "--prompt", "p"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: The prices file .*bad\.json, at planners\.openai:x\.input: .*\n$/);
    const nan = await runCli(["run", "--max-cost", "lots", "--model", MODEL, "--prompt", "p"]);
    expect(nan.code).toBe(2);
    expect(nan.stderr).toBe("error: --max-cost must be a number (US dollars)\n  See tinkerloop run --help.\n");
    // A pipe would block for ever and a device never ends: neither is read (the same for every configuration file the user names).
    const fifo = path.join(dir, "prices.fifo");
    execFileSync("mkfifo", [fifo]);
    for (const [flag, file] of [
      ["--prices", fifo],
      ["--prices", "/dev/zero"],
      ["--mcp-config", "/dev/zero"],
      ["--prompt-file", fifo],
    ] as const) {
      const r = await runCli(
        ["run", flag, file, "--model", MODEL, ...(flag === "--prompt-file" ? [] : ["--prompt", "p"]), "--run-dir", path.join(dir, "never")],
        {
          timeoutMs: 30_000,
        },
      );
      expect(r.code, `${flag} ${file}: ${r.stderr}`).toBe(2);
      expect(r.stderr, flag).toMatch(/^error: Cannot read the .* \(not a regular file \(a pipe, socket or device\)\)\.\n/);
    }
    expect(fs.existsSync(path.join(dir, "never"))).toBe(false);
  });

  it("a model without a price: said at the start with how to give one; under a budget it would leave open, the run does not start", async () => {
    const openai = await FakeOpenAI.start([], { models: ["qwen3-32b"] });
    try {
      const env = { OPENAI_BASE_URL: openai.url };
      const budgeted = await runCli(["run", "--planner", "openai:qwen3-32b", "--max-cost", "1", "--model", MODEL, "--prompt", "p"], { env });
      expect(budgeted.code).toBe(2);
      expect(budgeted.stderr).toMatch(
        /^error: No price for the planner openai:qwen3-32b \(no price is listed for openai:qwen3-32b\), so --max-cost cannot be kept: give one in a prices file and pass --prices FILE/,
      );
      const dir = tempDir("tl-noprice-");
      const free = await runCli(
        [
          "run",
          "--planner",
          "openai:qwen3-32b",
          "--model",
          MODEL,
          "--prompt",
          "p",
          "--run-dir",
          path.join(dir, "run"),
          "--max-turns",
          "1",
          "--max-nudges",
          "0",
        ],
        // The fake has no replies: no retries of its errors (only the start's price line is asked for), and room on a loaded box.
        { env: { ...env, TINKERLOOP_RETRIES: "0" }, timeoutMs: 120_000 },
      );
      expect(free.stdout).toMatch(
        /^price: none for the planner \(no price is listed for openai:qwen3-32b\); its spend is not counted — give one in a prices file and pass --prices FILE, e.g. \{"planners": \{"openai:qwen3-32b": \{"input": 1/m,
      );
    } finally {
      await openai.close();
    }
  });
});

describe("spend in a run", () => {
  it("the ledger's figures equal the recorded tokens at the run's prices, and show in the progress line, feedback block, summary, report and replay", async () => {
    const steps = [
      toolUseReply([{ name: "init_grpo", input: { base_model: MODEL, group_size: 4 } }]),
      toolUseReply([{ name: "train_grpo_step", input: { prompts: prompts(6), reward_function: PARITY, max_tokens: 6, temperature: 1 } }]),
      toolUseReply([{ name: "sample", input: { prompt: "What is 2 + 3?", n: 3, max_tokens: 5 } }]),
      toolUseReply([{ name: "save", input: { name: "done" } }]),
      toolUseReply([{ name: "finish", input: {} }]),
    ];
    const { r, runDir, events } = await run(["--max-cost", "5"], steps, {
      prices: true,
      usage: { input_tokens: 1200, output_tokens: 300, cache_read_input_tokens: 4000, cache_creation_input_tokens: 500 },
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // By hand: each planner request at claude-sonnet-5-5's prices, each call's reported tokens at the file's prices.
    const turns = events.filter((e) => e.type === "assistant");
    const planner = turns.reduce(
      (a, e) =>
        a +
        (e.usage.inputTokens * SONNET.input +
          e.usage.outputTokens * SONNET.output +
          e.usage.cacheReadTokens * SONNET.cacheRead +
          e.usage.cacheWriteTokens * SONNET.cacheWrite) /
          1e6,
      0,
    );
    expect(turns).toHaveLength(5);
    expect(planner).toBeCloseTo((5 * (1200 * 2 + 300 * 10 + 4000 * 0.1 + 500 * 2.5)) / 1e6, 12);
    const costly = events.filter((e) => e.type === "tool" && (e.name === "train_grpo_step" || e.name === "sample"));
    const usd = (u: any) =>
      (u.prefill_tokens * LOCAL.prefill + u.cached_prefill_tokens * LOCAL.cachedPrefill + u.sampled_tokens * LOCAL.sample + u.trained_tokens * LOCAL.train) /
      1e6;
    const training = costly.reduce((a, e) => a + usd(e.structured.usage), 0);
    expect(training).toBeGreaterThan(0);
    const summary = JSON.parse(fs.readFileSync(path.join(runDir, "summary.json"), "utf8"));
    expect(summary.spend.plannerUsd).toBeCloseTo(planner, 12);
    expect(summary.spend.trainingUsd).toBeCloseTo(training, 12);
    expect(summary.spend.budget).toEqual({ maxCostUsd: 5 });
    // Each costly call: estimated before it ran (recorded on its guard event), its actual cost recorded with its result; the estimate is an upper bound.
    expect(summary.spend.calls).toHaveLength(2);
    for (const c of summary.spend.calls) {
      const guard = events.find((e) => e.type === "guard" && e.toolUseId === c.toolUseId);
      expect(c.estimateUsd).toBe(guard.estimate.usd);
      const tool = costly.find((e) => e.toolUseId === c.toolUseId);
      expect(c.actualUsd).toBeCloseTo(usd(tool.structured.usage), 12);
      expect(c.actualUsd).toBeLessThanOrEqual(c.estimateUsd);
    }
    const sample = costly.find((e) => e.name === "sample");
    expect(sample.structured.usage.sampled_tokens).toBeLessThanOrEqual(15);
    const total = `$${(planner + training).toFixed(4)}`;
    expect(r.stdout).toMatch(
      /^prices: planner anthropic:claude-sonnet-5-5 \$2 in \/ \$10 out .*; training local\/tiny-arith \$100 prefill \/ \$3000 sample \/ \$500 train per M tokens \(as of \d{4}-\d{2}-\d{2}\)$/m,
    );
    expect(r.stdout).toMatch(/^budget: \$5\.00 for the run; training and sampling calls are estimated and refused when they would not fit$/m);
    expect(r.stdout).toMatch(/^turn {3}2 .*train_grpo_step ✓ .* · spend \$\d\.\d{4} of \$5\.00$/m);
    expect(r.stdout).toContain(
      `   spend ${total} of $5.00 (planner $${planner.toFixed(4)}, training $${training.toFixed(4)}) · 2 training/sampling call(s) estimated at`,
    );
    const feedback = events.filter((e) => e.type === "feedback");
    expect(feedback[0].text.split("\n").find((l: string) => l.startsWith("spend "))).toMatch(
      /^spend \$\d\.\d{4} of \$5\.00 \(planner \$\d\.\d{4}, training \$\d\.\d{4}\)$/,
    );
    const html = fs.readFileSync(path.join(runDir, "report.html"), "utf8");
    expect(html).toContain('"trainingCostUsd"');
    const view = await runCli(["replay", runDir]);
    expect(view.stdout).toMatch(/← train_grpo_step ✓ [\d.]+s · cost \$\d\.\d{4} \(estimated \$\d\.\d{4}\)/);
    expect(view.stdout).toContain(`spend: ${total} (planner $${planner.toFixed(4)}, training $${training.toFixed(4)})`);
  });

  it("a call whose estimate exceeds what is left is refused before it reaches the server, with the estimate and how to shrink it; a smaller one then runs", async () => {
    const big = { name: "train_grpo_step", input: { prompts: prompts(40), reward_function: PARITY, max_tokens: 20 } };
    const small = { name: "train_grpo_step", input: { prompts: prompts(40), limit: 2, reward_function: PARITY, max_tokens: 4 } };
    const steps = [
      toolUseReply([{ name: "init_grpo", input: { base_model: MODEL, group_size: 4 } }]),
      toolUseReply([big]),
      toolUseReply([small]),
      toolUseReply([{ name: "save", input: { name: "s" } }]),
      toolUseReply([{ name: "finish", input: {} }]),
    ];
    const { r, events, runDir } = await run(["--max-training-cost", "0.5"], steps, { prices: true });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const [refusedGuard, allowedGuard] = events.filter((e) => e.type === "guard" && e.name === "train_grpo_step");
    // 40 prompts × group 4 × 20 tokens at $3000/M for sampling alone is $9.60.
    expect(refusedGuard.decision.action).toBe("reject");
    expect(refusedGuard.estimate.tokens.sampled).toBe(40 * 4 * 20);
    expect(refusedGuard.estimate.usd).toBeGreaterThan(9.6);
    expect(refusedGuard.decision.message).toMatch(
      new RegExp(
        `^Refused before it ran: this call is estimated at \\$${refusedGuard.estimate.usd.toFixed(2)} \\(40 prompts × group 4 × up to 20 tokens × 1 iteration; at local/tiny-arith's prices: sampling \\$9\\.60, prefill \\$[\\d.]+, training \\$[\\d.]+\\), and only \\$0\\.5000 is left of the \\$0\\.5000 for training \\(\\$0\\.0000 spent\\)\\. Shrink it to about \\d+% of its size or less: fewer prompts or examples \\(limit\\), a smaller max_tokens`,
      ),
    );
    // The server saw nothing of it: no tool event, and the session's training log has one step only.
    expect(events.some((e) => e.type === "tool" && e.toolUseId === refusedGuard.toolUseId)).toBe(false);
    expect(allowedGuard.decision.action).toBe("allow");
    const init = events.find((e) => e.type === "tool" && e.name === "init_grpo");
    const log = fs.readFileSync(path.join(init.structured.session_dir, "training_debug.log"), "utf8");
    expect(log.match(/\[START\] train_grpo_step/g)).toHaveLength(1);
    expect(log).toMatch(/\[START\] train_grpo_step prompts=2 /);
    // A cassette replay reproduces the refusal from the recorded estimate and costs.
    const cassette = await runCli(["replay", runDir, "--cassette"]);
    expect(cassette.stdout).toBe("cassette replay: no differences from the recording.\n");
  });

  it("a run with --max-cost ends by itself before a planner request could pass it: the request is not sent, training saved by the harness", async () => {
    const train = { name: "train_grpo_step", input: { prompts: prompts(12), reward_function: PARITY, max_tokens: 6, temperature: 1 } };
    const steps = [
      toolUseReply([{ name: "init_grpo", input: { base_model: MODEL, group_size: 4 } }]),
      ...Array.from({ length: 9 }, () => toolUseReply([train])),
    ];
    // Every planner request costs 10,000 × $2/M = $0.02, and is sized at its most before it is sent:
    // 10,000 counted tokens × $2.50/M (cache writes) + 8,192 output tokens × $10/M = $0.1069.
    const { r, events, runDir } = await run(["--max-cost", "0.16"], steps, { usage: { input_tokens: 10_000, output_tokens: 0 }, counted: 10_000 });
    expect(r.code).toBe(1);
    const end = events.find((e) => e.type === "end");
    expect(end.reason).toBe("budget");
    // Three turns sent ($0.06); a fourth could reach $0.1669.
    expect(end.detail).toBe(
      "the next planner request was not sent: it could cost up to $0.1069 (10000 input tokens, up to 8192 output tokens) and $0.1000 is left of --max-cost $0.1600 ($0.0600 spent)",
    );
    const trains = events.filter((e) => e.type === "guard" && e.name === "train_grpo_step");
    expect(trains.map((g) => g.decision.action)).toEqual(["allow", "allow"]);
    const save = events.find((e) => e.type === "tool" && e.toolUseId === "harness-emergency-save");
    expect(save.isError).toBe(false);
    expect(save.input.name).toMatch(/^emergency-/);
    expect(r.stdout).toMatch(/^emergency save: emergency-/m);
    expect(fake!.messageRequests).toHaveLength(3);
    expect(fake!.countRequests).toHaveLength(4);
    const cassette = await runCli(["replay", runDir, "--cassette"]);
    expect(cassette.stdout).toBe("cassette replay: no differences from the recording.\n");

    // Resuming it: the budget is not taken from the transcript; the user names it again.
    const resumed = await runCli(["resume", runDir], { env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: fake!.url } });
    expect(resumed.code).toBe(2);
    expect(resumed.stderr).toBe(
      "error: The recorded run had a budget (--max-cost 0.16); a transcript cannot set what a run may spend, so name it again: --max-cost 0.16.\n",
    );
  });

  it("without a budget the summary still says what the run spent", async () => {
    // One request of 100 input and 20 output tokens: (100 × $2 + 20 × $10) / 1M.
    const { r } = await run(["--max-turns", "1"], [message([{ type: "text", text: "nothing to do" }], "end_turn")]);
    expect(r.stdout).toMatch(/^ {3}spend \$0\.0004 \(planner \$0\.0004, training \$0\.0000\)$/m);
  });
});

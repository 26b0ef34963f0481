import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildGuard } from "../agent/guard/index.ts";
import { MetricsLedger } from "../agent/metrics/ledger.ts";
import { TrainingState } from "../agent/state/training-state.ts";
import { CODE_TESTS, rewardSpecs } from "../agent/planners/reward-library.ts";
import { generate } from "../lib/generators/generate.ts";
import { cutText, SAMPLE_TEXT_BUDGET, shareBudget } from "../tools/tinker/completions.ts";
import { DEFAULT_MAX_TOKENS, defaultMaxTokens } from "../tools/tinker/generation-defaults.ts";
import type { ModelCard } from "../tools/tinker/backend.ts";
import { sandboxStatus } from "../lib/sandbox/os-sandbox.ts";
import { connectBundled, readJsonl, tempDir } from "./helpers.ts";

const MODEL = "local/tiny-arith";
/** A third-party package the user's python3 has (site-packages), if any. */
const installedPackage = ["sympy", "numpy", "yaml", "setuptools", "pip"].find((m) => {
  try {
    execFileSync("python3", ["-E", "-c", `import ${m}`], { stdio: "ignore", timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
});
const card = (baseModel: string, backend: "local" | "tinker" = "tinker", contextLength = 32_768): ModelCard => ({
  baseModel,
  backend,
  parameters: 1,
  trainableParameters: 1,
  loraRank: 8,
  contextLength,
  renderer: "",
  stop: [],
});

describe("what the planner sees of samples", () => {
  it("shows every completion whole when the budget allows, else fair shares with the short ones whole", () => {
    expect(shareBudget([100, 200, 300])).toEqual([100, 200, 300]);
    const shares = shareBudget([100, 20_000, 30_000]);
    expect(shares[0]).toBe(100);
    expect(shares.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(SAMPLE_TEXT_BUDGET);
    expect(Math.abs(shares[1]! - shares[2]!)).toBeLessThanOrEqual(1);
    // A long list shows the first completions that can each get a readable share.
    expect(shareBudget(Array.from({ length: 500 }, () => 1000)).length).toBeLessThan(100);
    expect(cutText("x".repeat(5000), 100, "completions/sample-1.jsonl line 3")).toBe(
      `${"x".repeat(100)}[… cut here: 100 of 5,000 characters shown; the whole completion is in completions/sample-1.jsonl line 3]`,
    );
  });

  it("sizes max_tokens by model kind: long for reasoning and hybrid models, short for local ones; the context caps it", () => {
    expect(defaultMaxTokens(card("openai/gpt-oss-20b")).tokens).toBeGreaterThanOrEqual(16_384);
    expect(defaultMaxTokens(card("Qwen/Qwen3-8B")).tokens).toBeGreaterThanOrEqual(16_384);
    expect(defaultMaxTokens(card("Qwen/Qwen3-8B")).kind).toBe("Hybrid");
    expect(defaultMaxTokens(card("meta-llama/Llama-3.1-8B-Instruct")).tokens).toBe(DEFAULT_MAX_TOKENS.Instruction.tokens);
    expect(defaultMaxTokens(card("Qwen/Qwen3-8B-Base")).tokens).toBe(DEFAULT_MAX_TOKENS.Base.tokens);
    expect(defaultMaxTokens(card("some/unlisted-model")).kind).toBe("Unknown");
    expect(defaultMaxTokens(card("openai/gpt-oss-20b", "tinker", 8192)).tokens).toBe(8192 - 1024);
    expect(defaultMaxTokens(card(MODEL, "local", 96)).tokens).toBe(32);
  });

  it("alerts on truncation past its threshold, naming it and what to do", () => {
    const l = new MetricsLedger({ model: "Qwen/Qwen3-8B", now: () => 0, startedAt: 0 });
    const grpo = (truncated: number) => ({
      content: "",
      isError: false,
      structured: {
        method: "grpo",
        cumulative_iterations: 1,
        iterations: [
          { reward_mean: 0, reward_std: 0, groups: { total: 8, mixed: 0, all_zero: 8, all_one: 0 }, samples_generated: 64, truncated, reward_errors: 0, kl: 0 },
        ],
      },
    });
    l.observe({ id: "a", name: "train_grpo_step", input: {} }, grpo(6));
    expect(l.alerts().map((a) => a.id)).not.toContain("truncated");
    l.observe({ id: "b", name: "train_grpo_step", input: {} }, grpo(40));
    const alert = l.alerts().find((a) => a.id === "truncated");
    expect(alert?.text).toMatch(/Truncation: 63% of completions hit max_tokens.*Raise max_tokens/);
    expect(l.block(2)).toMatch(/! Truncation/);
  });
});

describe("tool arguments as LLMs send them", () => {
  const ctx = (tools: Array<{ name: string; inputSchema: Record<string, unknown> }>) => ({
    tools: tools.map((t) => ({ ...t, description: "", source: "s" })),
    model: MODEL,
    turn: 1,
    elapsedMs: 0,
    usage: { inputTokens: 0, outputTokens: 0 },
  });
  const sampleSchema = {
    type: "object",
    properties: { prompt: { type: "string" }, n: { type: "integer", minimum: 1 }, temperature: { type: "number" }, greedy: { type: "boolean" } },
  };

  it("reads a number or boolean sent as a string as one, and names an unknown argument in a warning instead of dropping it silently", async () => {
    const g = await buildGuard({ onWrongModel: "rewrite", dataDir: tempDir(), budget: {}, trainingState: new TrainingState() });
    const v = await g.check(
      { id: "1", name: "sample", input: { prompt: "2+2", n: "16", temperature: "0.7", greedy: "true", top_k: 5 } },
      ctx([{ name: "sample", inputSchema: sampleSchema }]) as never,
    );
    expect(v.decision).toEqual({
      action: "rewrite",
      input: { prompt: "2+2", n: 16, temperature: 0.7, greedy: true },
      note: expect.stringMatching(/n "16" was read as the number 16.*unknown argument 'top_k' ignored \(this tool takes prompt, n, temperature, greedy\)/),
    });
    // What is not a number stays an error; a fractional count is not an integer.
    const bad = await g.check({ id: "2", name: "sample", input: { n: "many" } }, ctx([{ name: "sample", inputSchema: sampleSchema }]) as never);
    expect(bad.decision.action).toBe("reject");
    const frac = await g.check({ id: "3", name: "sample", input: { n: "1.5" } }, ctx([{ name: "sample", inputSchema: sampleSchema }]) as never);
    expect(frac.decision.action).toBe("reject");
    expect(
      (await g.check({ id: "4", name: "sample", input: { prompt: "x", n: 2 } }, ctx([{ name: "sample", inputSchema: sampleSchema }]) as never)).decision.action,
    ).toBe("allow");
  });

  it("checks bash calls: refuses what needs the network, oversized scripts and control characters", async () => {
    const g = await buildGuard({ onWrongModel: "rewrite", dataDir: tempDir(), budget: {}, trainingState: new TrainingState() });
    const bash = {
      name: "bash",
      inputSchema: { type: "object", properties: { command: { type: "string" }, timeout_s: { type: "integer" } }, required: ["command"] },
    };
    const check = (command: string) => g.check({ id: "b", name: "bash", input: { command } }, ctx([bash]) as never);
    expect((await check("wc -l data/*.jsonl")).decision.action).toBe("allow");
    expect((await check("pip install sympy")).decision).toMatchObject({ action: "reject", message: expect.stringMatching(/no network/) });
    expect((await check("cd x && curl -s https://example.org")).decision.action).toBe("reject");
    expect((await check("echo $'\\x1b'" + "\u001b[2J")).decision.action).toBe("reject");
    expect((await check("x".repeat(30_000))).decision).toMatchObject({ action: "reject", message: expect.stringMatching(/write_file/) });
  });
});

describe("sample, check_reward and the code recipe on the real tinker server", () => {
  let s: Awaited<ReturnType<typeof connectBundled>>;
  let runDir: string;
  beforeAll(async () => {
    runDir = tempDir("tl-rt-run-");
    s = await connectBundled("tinker", { TINKERLOOP_RUN_DIR: runDir, TINKERLOOP_CHECKPOINT_DIR: tempDir("tl-rt-ckpt-") });
  });
  afterAll(async () => {
    await s?.close();
  });

  it("init reports the max_tokens default and why; sample reports the share cut at max_tokens and writes every completion to a file", async () => {
    const init = await s.call("init_grpo", { base_model: MODEL, lora_rank: 4, group_size: 4 });
    expect(init.text).toMatch(/Default max_tokens 32 \(a small local model with a short context\); an explicit max_tokens always wins/);
    const prompts = Array.from({ length: 6 }, (_, i) => ({ prompt: `What is ${i} + ${i}?`, ground_truth: String(2 * i) }));
    const r = await s.call("sample", { prompts, n: 4, max_tokens: 1, temperature: 1, reward_function: rewardSpecs("numeric")[0]!.code });
    expect(r.isError, r.text).toBe(false);
    expect(r.structured.max_tokens).toBe(1);
    expect(r.structured.truncated).toBeGreaterThan(0);
    expect(r.text).toMatch(new RegExp(`${r.structured.truncated} of 24 completions \\(\\d+%\\) hit max_tokens 1`));
    expect(r.text).toMatch(/CUT AT max_tokens/);
    const file = path.join(runDir, r.structured.completions_file);
    expect(r.structured.completions_file).toMatch(/^completions\/sample-\d+\.jsonl$/);
    const rows = readJsonl(file);
    expect(rows).toHaveLength(24);
    expect(Object.keys(rows[0]).sort()).toEqual(["completion", "finish_reason", "ground_truth", "prompt", "reward", "tokens"]);
    expect(rows.filter((x) => x.finish_reason === "length")).toHaveLength(r.structured.truncated);
    expect(r.text).toContain(`Every completion (prompt, completion, reward, finish reason, tokens) is in ${r.structured.completions_file}`);
  });

  it("check_reward shows long completions cut visibly with their length, keeps them whole in its file, and names the sandbox", async () => {
    const long = `${"step ".repeat(6000)}answer 42`;
    const r = await s.call("check_reward", {
      reward_function: rewardSpecs("numeric")[0]!.code,
      cases: [
        { completion: long, ground_truth: "42" },
        { completion: "42", ground_truth: "42", expected: 1 },
      ],
    });
    expect(r.text).toMatch(/\[… cut here: [\d,]+ of 30,009 characters shown; the whole completion is in completions\/check_reward-\d+\.jsonl line 1\]/);
    expect(r.text.length).toBeLessThan(SAMPLE_TEXT_BUDGET + 3000);
    expect(readJsonl(path.join(runDir, r.structured.completions_file))[0].completion).toBe(long);
    expect(r.text).toMatch(sandboxStatus().available ? /Reward check in the OS sandbox \(bubblewrap/ : /audit-hook fallback/);
  });

  it.skipIf(!sandboxStatus().available || !installedPackage)(`rewards import the packages of the user's python3 (${installedPackage})`, async () => {
    const code = `import ${installedPackage}\ndef compute_reward(c, g):\n    return 1.0 if ${installedPackage}.__file__ else 0.0\n`;
    const r = await s.call("check_reward", { reward_function: code, cases: [{ completion: "x", ground_truth: "x", expected: 1 }] });
    expect(r.structured.ok, r.text).toBe(true);
  });

  it.skipIf(!sandboxStatus().available)("code recipe: the reward runs completions against their tests in a child, and one GRPO step runs on it", async () => {
    const spec = rewardSpecs("code_tests")[0]!;
    const check = await s.call("check_reward", { reward_function: spec.code, cases: spec.cases });
    expect(check.structured.ok, check.text).toBe(true);
    const items = generate("python_functions", { n: 4, seed: 5, difficulty: 1 }).items;
    const pool = items.map((i) => ({ prompt: i.prompt, ground_truth: i.ground_truth }));
    // The reference answers pass their own tests.
    const refs = items.map((i) => ({ completion: i.response, ground_truth: i.ground_truth, expected: 1 }));
    expect((await s.call("check_reward", { reward_function: CODE_TESTS, cases: refs })).structured.ok).toBe(true);
    const step = await s.call("train_grpo_step", { prompts: pool, reward_function: CODE_TESTS, num_iterations: 1, max_tokens: 16 });
    // The tiny local model scores about 0 here, so the step may stop for want of signal: either way it reports the iteration.
    const text = step.text;
    expect(text).toMatch(/GRPO step (complete|stopped: no learning signal)/);
    expect(text).toMatch(/of 16 completions \(\d+%\) hit max_tokens 16/);
    expect(text).not.toMatch(/reward errors [1-9]/);
    expect(text).toMatch(/rewards scored in the OS sandbox \(bubblewrap/);
  });
});

describe("the code recipe's tasks", () => {
  it("offers a few hundred offline tasks, split into train and eval without overlap", () => {
    const train = generate("python_functions", { n: 400, seed: 1, split: "train" }).items;
    const evalItems = generate("python_functions", { n: 100, seed: 1, split: "eval" }).items;
    expect(train.length + evalItems.length).toBeGreaterThanOrEqual(300);
    const prompts = new Set(train.map((i) => i.prompt));
    expect(evalItems.some((i) => prompts.has(i.prompt))).toBe(false);
    for (const i of train.slice(0, 20)) {
      const gt = JSON.parse(i.ground_truth) as { entry: string; tests: string[] };
      expect(i.prompt).toContain(`\`${gt.entry}(`);
      expect(gt.tests.length).toBeGreaterThanOrEqual(2);
    }
    expect(fs.existsSync(path.join(import.meta.dirname, "..", "prompts", "recipes", "code.md"))).toBe(true);
  });
});

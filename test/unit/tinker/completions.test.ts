import { describe, expect, it } from "vitest";
import { MetricsLedger } from "../../../agent/metrics/ledger.ts";
import { cutText, SAMPLE_TEXT_BUDGET, shareBudget } from "../../../tools/tinker/completions.ts";
import { DEFAULT_MAX_TOKENS, defaultMaxTokens } from "../../../tools/tinker/generation-defaults.ts";
import type { ModelCard } from "../../../tools/tinker/backend.ts";

const MODEL = "local/tiny-arith";
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

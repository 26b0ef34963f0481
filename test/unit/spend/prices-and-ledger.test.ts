/**
 * Spend, in process: prices as data and the spend ledger, every figure checked against
 * arithmetic done here. A run's spend through the real CLI: test/e2e/spend.test.ts.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { RunEvent } from "../../../agent/core/events.ts";
import { CallEstimator } from "../../../agent/spend/estimate.ts";
import { SpendLedger } from "../../../agent/spend/ledger.ts";
import { loadPrices } from "../../../agent/spend/prices-file.ts";
import { PriceTable } from "../../../agent/spend/prices.ts";
import { TINKER_MODELS } from "../../../tools/contracts/tinker-models.ts";
import { REPO, tempDir } from "../../helpers.ts";

const prompts = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ prompt: `What is ${i % 10} + ${(i * 3) % 10}?`, ground_truth: String((i % 10) + ((i * 3) % 10)) }));

describe("prices as data", () => {
  it("every price names its source and date; every Tinker model of the registry has an entry, priced or said to be unknown", () => {
    const raw = JSON.parse(fs.readFileSync(path.join(REPO, "agent", "spend", "prices.json"), "utf8"));
    for (const [id, e] of [...Object.entries(raw.planners), ...Object.entries(raw.training)] as Array<[string, any]>) {
      if ("unknown" in e) expect(e.unknown, id).toMatch(/--prices/);
      else expect([e.source.length > 10, /^\d{4}-\d{2}-\d{2}$/.test(e.date)], id).toEqual([true, true]);
    }
    const table = loadPrices(undefined);
    for (const m of TINKER_MODELS) expect(table.trainingModels(), m.id).toContain(m.id);
    expect(table.planner("anthropic:claude-sonnet-4-5-20250929")).toMatchObject({ price: { input: 3, output: 15 } });
    expect(table.planner("scripted")).toMatchObject({ price: { input: 0, output: 0 } });
    expect(table.training("meta-llama/Llama-3.2-1B")).toMatchObject({ unknown: expect.stringMatching(/not in the price tables/) });
    expect(PriceTable.builtIn().training("Qwen/Qwen3-8B")).toMatchObject({ price: { prefill: 0.195, cachedPrefill: 0.039, sample: 0.6, train: 0.44 } });
  });
});

describe("the spend ledger", () => {
  it("adds up recorded costs, keeps each call's estimate beside its actual cost, and says when a side had no price", () => {
    const events: RunEvent[] = [
      {
        type: "assistant",
        turn: 1,
        latencyMs: 1,
        content: [],
        stopReason: "tool_use",
        usage: { inputTokens: 1000, outputTokens: 200, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0.004 },
      },
      {
        type: "guard",
        turn: 1,
        toolUseId: "a",
        name: "sample",
        decision: { action: "allow" },
        original: {},
        effective: {},
        estimate: { usd: 0.01, basis: "b", tokens: { prefill: 1, cachedPrefill: 0, sampled: 2, trained: 0 } },
      },
      {
        type: "tool",
        turn: 1,
        toolUseId: "a",
        name: "sample",
        input: {},
        result: "",
        isError: false,
        ms: 1,
        meta: { "tinkerloop/spend": { usd: 0.0025, prefill: 10, cachedPrefill: 5, sampled: 40, trained: 0 } },
      },
      {
        type: "assistant",
        turn: 2,
        latencyMs: 1,
        content: [],
        stopReason: "tool_use",
        usage: { inputTokens: 50, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0 },
      },
      {
        type: "tool",
        turn: 2,
        toolUseId: "b",
        name: "train_sft_step",
        input: {},
        result: "",
        isError: true,
        ms: 1,
        meta: { "tinkerloop/spend": { usd: null, prefill: 0, cachedPrefill: 0, sampled: 0, trained: 7 } },
      },
    ];
    const l = new SpendLedger();
    for (const e of events) l.on(e);
    expect(l.plannerUsd).toBeCloseTo(0.004, 12);
    expect(l.trainingUsd).toBeCloseTo(0.0025, 12);
    expect([l.plannerUnpriced, l.trainingUnpriced]).toEqual([true, true]);
    expect(l.tokens).toEqual({ prefill: 10, cachedPrefill: 5, sampled: 40, trained: 7 });
    expect(l.calls).toEqual([
      { turn: 1, toolUseId: "a", tool: "sample", estimateUsd: 0.01, actualUsd: 0.0025, tokens: { prefill: 10, cachedPrefill: 5, sampled: 40, trained: 0 } },
      { turn: 2, toolUseId: "b", tool: "train_sft_step", estimateUsd: null, actualUsd: null, tokens: { prefill: 0, cachedPrefill: 0, sampled: 0, trained: 7 } },
    ]);
    expect(l.describe({ maxCostUsd: 1 })).toBe("≥$0.0065 of $1.00 (planner ≥$0.0040 (some tokens unpriced), training ≥$0.0025 (some tokens unpriced))");
  });

  it("estimates an SFT step on the rows the server trains: empty examples dropped before the window, as the server drops them", () => {
    const dir = tempDir("tl-est-sft-");
    // The adversarial pass's payload: large examples first, empty ones after, and a window over the empty ones.
    const big = "x".repeat(20_000);
    const rows = [...Array.from({ length: 5 }, () => ({ prompt: "q", response: big })), ...Array.from({ length: 5 }, () => ({ prompt: "", response: "" }))];
    fs.writeFileSync(path.join(dir, "sft.jsonl"), rows.map((r) => JSON.stringify(r)).join("\n"));
    const est = new CallEstimator({ model: "Qwen/Qwen3-8B", price: { prefill: 1, cachedPrefill: 1, sample: 1, train: 1 }, runDir: dir });
    const e = est.estimate({ id: "s", name: "train_sft_step", input: { examples: "sft.jsonl", start: 5, limit: 5, num_epochs: 10, validation_split: 0 } }, []);
    // The server trains the 5 large examples (the window wraps over the 5 usable ones) for 10 epochs.
    expect(e && "tokens" in e ? e.tokens.trained : 0).toBeGreaterThanOrEqual(5 * 20_000 * 10);
  });

  it("estimates a GRPO step from its arguments: every prompt read once and shared by its group, every sample to max_tokens, every group trained", () => {
    const dir = tempDir("tl-est-");
    fs.writeFileSync(
      path.join(dir, "pool.jsonl"),
      prompts(10)
        .map((p) => JSON.stringify(p))
        .join("\n"),
    );
    const price = { prefill: 1, cachedPrefill: 0.5, sample: 2, train: 3 };
    const est = new CallEstimator({ model: "Qwen/Qwen3-8B", price, runDir: dir });
    est.observe({ id: "i", name: "init_grpo", input: {} }, { isError: false, structured: { group_size: 4, default_max_tokens: 100 } });
    const e = est.estimate({ id: "t", name: "train_grpo_step", input: { prompts: "pool.jsonl", start: 8, limit: 3, num_iterations: 2 } }, []);
    // Prompts 8, 9, 0 ("What is 8 + 4?" …: 14 bytes → at most 14 tokens + 19 of Qwen3's chat template = 33 each).
    const p = 3 * 33;
    // After each iteration's optimizer step the KL probe re-reads up to 16 sequences: all 3 × 4 here.
    const probe = 3 * 4 * (33 + 99);
    const tokens = { prefill: 2 * (p + probe), cachedPrefill: 2 * 3 * p, sampled: 2 * 3 * 4 * 100, trained: 2 * 3 * 4 * (33 + 99) };
    expect(e).toEqual({
      usd: (tokens.prefill * 1 + tokens.cachedPrefill * 0.5 + tokens.sampled * 2 + tokens.trained * 3) / 1e6,
      tokens,
      basis: "3 prompts × group 4 × up to 100 tokens × 2 iterations",
    });
    // A loaded checkpoint samples with its own group size; one that does not say is counted at the largest.
    est.observe({ id: "l", name: "load", input: { path: "g16" } }, { isError: false, structured: { group_size: 16, default_max_tokens: 100 } });
    expect(est.estimate({ id: "t2", name: "train_grpo_step", input: { prompts: "pool.jsonl", limit: 1 } }, [])).toMatchObject({
      basis: expect.stringMatching(/group 16/),
    });
    est.observe({ id: "l2", name: "load", input: { path: "tinker://elsewhere" } }, { isError: false, structured: { path: "tinker://elsewhere" } });
    expect(est.estimate({ id: "t3", name: "train_grpo_step", input: { prompts: "pool.jsonl", limit: 1 } }, [])).toMatchObject({
      basis: expect.stringMatching(/group 64/),
    });
    expect(est.estimate({ id: "s", name: "sample", input: { prompts: "missing.jsonl" } }, [])).toMatchObject({
      unreadable: expect.stringMatching(/No such file/),
    });
    expect(est.estimate({ id: "r", name: "read_file", input: {} }, [])).toBeUndefined();
  });
});

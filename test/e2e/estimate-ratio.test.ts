/**
 * Training and sampling estimates are upper bounds: the harness's estimator (what the budget
 * rule asks before a call runs) against what the real client, Python worker and reward
 * sandbox bill over the fake Tinker SDK, where every completion runs to max_tokens
 * ($TINKER_FAKE_SAMPLE_TOKENS longer than any max_tokens here). Every forward pass counts:
 * each iteration's KL probe after its optimizer step is billed as prefill, and each
 * renderer's template tokens are the fake tokenizer's real ones (one per character, special
 * tokens one each). The actual/estimate ratio must stay ≤ 1 for every meter.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { TokenCounts } from "../../agent/core/cost.ts";
import { CallEstimator } from "../../agent/spend/estimate.ts";
import { trainingCostUsd } from "../../agent/spend/prices.ts";
import { KL_PROBE_SEQUENCES } from "../../tools/contracts/kl-probe.ts";
import { KL_PROBE_SEQUENCES as LOCAL_PROBE } from "../../tools/tinker/backends/local/engine.ts";
import { TinkerBackend } from "../../tools/tinker/backends/tinker/client.ts";
import { runGrpo } from "../../tools/tinker/grpo.ts";
import type { GrpoArgs } from "../../tools/tinker/grpo.ts";
import { RewardSandbox } from "../../tools/tinker/reward/sandbox.ts";
import { TrainingSession } from "../../tools/tinker/session.ts";
import { REPO, tempDir } from "../helpers.ts";

const FAKE_SDK = path.join(REPO, "test", "fakes", "tinker-sdk");
/** The last character's parity: the fake's long completions differ there from sample to sample, so every group has signal. */
const REWARD = "def compute_reward(completion, ground_truth):\n    return float(ord(completion.strip()[-1]) % 2) if completion.strip() else 0.0\n";
const PROMPTS = Array.from({ length: 6 }, (_, i) => ({ prompt: `What is ${i} + 3?`, ground_truth: String(i + 3) }));
const GROUP = 4;
/** Past Qwen3's think block (25 tokens in the fake), so its answers differ too. */
const MAX_TOKENS = 40;
/** A price per meter; the ratio is checked meter by meter too, so it holds at any price. */
const PRICE = { prefill: 1, cachedPrefill: 0.5, sample: 2, train: 3 };

const sandbox = new RewardSandbox();
afterAll(() => sandbox.close());

const grpoArgs = (o: Partial<GrpoArgs>): GrpoArgs => ({
  prompts: PROMPTS,
  rewardFunction: REWARD,
  numIterations: 1,
  learningRate: 1e-5,
  warmupRatio: 0,
  scheduler: "constant",
  schedulerTotalSteps: undefined,
  temperature: 1,
  maxTokens: MAX_TOKENS,
  autoCheckpoint: false,
  autoCheckpointThreshold: 1,
  autoCheckpointMinIterations: 0,
  normalizeAdvantages: true,
  ...o,
});

const since = (a: TokenCounts, b: TokenCounts): TokenCounts => ({
  prefill: a.prefill - b.prefill,
  cachedPrefill: a.cachedPrefill - b.cachedPrefill,
  sampled: a.sampled - b.sampled,
  trained: a.trained - b.trained,
});

/** Actual against estimated: the whole cost and each meter (prefill counted with its cached part, as the estimate may split them differently). */
function expectWithin(actual: TokenCounts, estimated: { usd: number; tokens: TokenCounts }) {
  const ratio = trainingCostUsd(actual, PRICE) / estimated.usd;
  expect(ratio).toBeGreaterThan(0);
  expect(ratio).toBeLessThanOrEqual(1);
  const e = estimated.tokens;
  expect(actual.sampled).toBeLessThanOrEqual(e.sampled);
  expect(actual.trained).toBeLessThanOrEqual(e.trained);
  expect(actual.prefill).toBeLessThanOrEqual(e.prefill);
  expect(actual.prefill + actual.cachedPrefill).toBeLessThanOrEqual(e.prefill + e.cachedPrefill);
  return ratio;
}

describe("actual/estimate ≤ 1 over the fake Tinker SDK, every completion at max_tokens", () => {
  for (const model of ["meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-8B"]) {
    it(`${model}: two GRPO iterations (KL probe after each step) and a sample call`, { timeout: 240_000 }, async () => {
      const dir = tempDir("tl-ratio-");
      const backend = new TinkerBackend({
        env: { PATH: process.env.PATH, PYTHONPATH: FAKE_SDK, TINKER_API_KEY: "tml-fake-key-123", TINKER_FAKE_SAMPLE_TOKENS: "200" },
        checkpointDir: path.join(dir, "ckpt"),
      });
      try {
        const s = new TrainingSession(dir);
        s.backend = backend;
        s.card = await backend.open(model, { loraRank: 4 });
        s.method = "grpo";
        s.groupSize = GROUP;
        const est = new CallEstimator({ model, price: PRICE, runDir: dir });
        est.observe({ id: "i", name: "init_grpo", input: {} }, { isError: false, structured: { group_size: GROUP, default_max_tokens: 64 } });

        const train = est.estimate(
          { id: "t", name: "train_grpo_step", input: { prompts: PROMPTS, reward_function: REWARD, max_tokens: MAX_TOKENS, num_iterations: 2 } },
          [],
        );
        if (!train || !("usd" in train)) throw new Error(`no estimate: ${JSON.stringify(train)}`);
        const before = { ...backend.usage };
        const out = await runGrpo(s, sandbox, grpoArgs({ numIterations: 2 }), () => undefined);
        expect(out.iterations.map((it) => it.stepped)).toEqual([true, true]);
        const trained = since(backend.usage, before);
        // Every completion ran to max_tokens, and the probe's forward pass was billed.
        expect(trained.sampled).toBe(2 * PROMPTS.length * GROUP * MAX_TOKENS);
        expectWithin(trained, train);

        const sample = est.estimate({ id: "s", name: "sample", input: { prompts: PROMPTS, n: 3, max_tokens: MAX_TOKENS } }, []);
        if (!sample || !("usd" in sample)) throw new Error(`no estimate: ${JSON.stringify(sample)}`);
        const beforeSample = { ...backend.usage };
        const groups = await backend.sample(
          PROMPTS.map((p) => p.prompt),
          3,
          { temperature: 1, maxTokens: MAX_TOKENS },
        );
        expect(groups.flat().every((c) => c.tokenCount === MAX_TOKENS && c.finishReason === "length")).toBe(true);
        expectWithin(since(backend.usage, beforeSample), sample);
      } finally {
        await backend.close();
      }
    });
  }
});

describe("the KL probe's size, declared once for the estimates", () => {
  it("is the local engine's and the Tinker worker's", () => {
    const py = fs.readFileSync(path.join(REPO, "tools", "tinker", "backends", "tinker", "worker_sdk.py"), "utf8");
    expect(Number(/^KL_PROBE_SEQUENCES = (\d+)$/m.exec(py)?.[1])).toBe(KL_PROBE_SEQUENCES.tinker);
    expect(LOCAL_PROBE).toBe(KL_PROBE_SEQUENCES.local);
  });
});

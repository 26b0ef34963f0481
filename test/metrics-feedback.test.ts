import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ALERT_THRESHOLDS } from "../agent/metrics/alerts.ts";
import { MetricsLedger } from "../agent/metrics/ledger.ts";
import { fromPredecessorText } from "../agent/metrics/records.ts";
import type { ToolResult } from "../agent/core/tools.ts";
import { FakeAnthropic, toolUseReply } from "./fakes/anthropic-server.ts";
import { readJsonl, runCli, tempDir, testServerEntry, writeMcpConfig } from "./helpers.ts";

const call = (name: string) => ({ id: "x", name, input: {} });

function grpoResult(o: { reward?: number; total?: number; allZero?: number; allOne?: number; kl?: number; errors?: number; iteration?: number }): ToolResult {
  const total = o.total ?? 10;
  const groups = { total, mixed: total - (o.allZero ?? 0) - (o.allOne ?? 0), all_zero: o.allZero ?? 0, all_one: o.allOne ?? 0, uniform_other: 0, failed: 0 };
  return {
    content: "report",
    isError: false,
    structured: {
      method: "grpo",
      cumulative_iterations: o.iteration ?? 1,
      iterations: [
        {
          iteration: o.iteration ?? 1,
          reward_mean: o.reward ?? 0.5,
          reward_std: 0.2,
          learning_rate: 1e-4,
          groups,
          samples_generated: 40,
          samples_used: 20,
          reward_errors: o.errors ?? 0,
          kl: o.kl ?? 0.001,
          tokens_sampled: 100,
          truncated: 0,
          seconds: { sampling: 1, reward: 0.1, training: 1, other: 0 },
        },
      ],
    },
  };
}
function sftResult(train: number, val: number, epoch: number): ToolResult {
  return {
    content: "report",
    isError: false,
    structured: { method: "sft", cumulative_epochs: epoch, epochs: [{ epoch, train_loss: train, val_loss: val }], learning_rate: 1e-4, tokens: 10, seconds: 1 },
  };
}
const ledger = () => new MetricsLedger({ model: "local/tiny-arith", now: () => 60_000, startedAt: 0, maxMinutes: 30, maxTrainCalls: 40 });
const ids = (l: MetricsLedger) => l.alerts().map((a) => a.id);

describe("metrics feedback", () => {
  it("gives no block before any training, and a block with the numbers after", () => {
    const l = ledger();
    l.observe(call("search_datasets"), { content: "x", isError: false });
    expect(l.block(1)).toBeUndefined();
    l.observe(call("train_grpo_step"), grpoResult({ reward: 0.375, allZero: 2, allOne: 1, kl: 0.0021, iteration: 3 }));
    const b = l.block(2)!;
    expect(b).toMatch(/grpo on local\/tiny-arith · 1 training call\(s\) · cumulative iterations 3 · 1\.0 of 30 min · 1 of 40 training calls/);
    expect(b).toMatch(/0\.375±0\.20\s+7\/2\/1\/0\s+0\.0021/);
    expect(l.block(3)).toBeUndefined(); // a turn without training gets no block
    expect(b.length).toBeLessThanOrEqual(1800);
  });

  it("fires the ALL-0 and ALL-1 alerts at their threshold and not just below", () => {
    const t = ALERT_THRESHOLDS.uniformShare * 10;
    const at = ledger();
    at.observe(call("train_grpo_step"), grpoResult({ allZero: t }));
    expect(ids(at)).toContain("all_zero");
    expect(at.block(1)).toMatch(/Mostly ALL-0 \(60% of groups\)/);
    const below = ledger();
    below.observe(call("train_grpo_step"), grpoResult({ allZero: t - 1 }));
    expect(ids(below)).not.toContain("all_zero");
    const ones = ledger();
    ones.observe(call("train_grpo_step"), grpoResult({ allOne: t }));
    expect(ids(ones)).toEqual(["all_one"]);
    const onesBelow = ledger();
    onesBelow.observe(call("train_grpo_step"), grpoResult({ allOne: t - 1 }));
    expect(ids(onesBelow)).toEqual([]);
  });

  it("fires reward-falling, KL-spike and reward-error alerts at their thresholds", () => {
    const fall = (drop: number) => {
      const l = ledger();
      for (const r of [0.6, 0.6, 0.6 - drop, 0.6 - drop]) l.observe(call("train_grpo_step"), grpoResult({ reward: r }));
      return ids(l);
    };
    expect(fall(ALERT_THRESHOLDS.rewardDrop)).toContain("reward_falling");
    expect(fall(ALERT_THRESHOLDS.rewardDrop - 0.01)).not.toContain("reward_falling");
    const kl = (v: number) => {
      const l = ledger();
      l.observe(call("train_grpo_step"), grpoResult({ kl: v }));
      return ids(l);
    };
    expect(kl(ALERT_THRESHOLDS.kl)).toContain("kl_spike");
    expect(kl(ALERT_THRESHOLDS.kl * 0.99)).not.toContain("kl_spike");
    const errs = (n: number) => {
      const l = ledger();
      l.observe(call("train_grpo_step"), grpoResult({ errors: n }));
      return ids(l);
    };
    expect(errs(4)).toContain("reward_errors"); // 4 of 40 = 10%
    expect(errs(3)).not.toContain("reward_errors");
  });

  it("flags validation loss rising while training loss falls, at the threshold", () => {
    const run = (ratio: number) => {
      const l = ledger();
      l.observe(call("train_sft_step"), sftResult(1.0, 1.0, 1));
      l.observe(call("train_sft_step"), sftResult(0.8, 1.0 * ratio, 2));
      return l;
    };
    expect(ids(run(ALERT_THRESHOLDS.valRise))).toContain("overfitting");
    expect(run(ALERT_THRESHOLDS.valRise).block(2)).toMatch(/Overfitting: validation loss 1\.020 is above its best 1\.000/);
    expect(ids(run(ALERT_THRESHOLDS.valRise - 0.005))).not.toContain("overfitting");
  });

  it("asks for a sample() after enough training calls without one", () => {
    const l = ledger();
    for (let i = 0; i < ALERT_THRESHOLDS.callsWithoutSample - 1; i++) l.observe(call("train_grpo_step"), grpoResult({}));
    expect(ids(l)).not.toContain("no_sample");
    l.observe(call("train_grpo_step"), grpoResult({}));
    expect(ids(l)).toContain("no_sample");
    l.observe(call("sample"), {
      content: "x",
      isError: false,
      structured: {
        mean_reward: 0.7,
        completions: [
          { prompt: "1+1=", reward: 1 },
          { prompt: "2+2=", reward: 0.4 },
        ],
      },
    });
    expect(ids(l)).not.toContain("no_sample");
    expect(l.block(9)).toMatch(/last sample\(\): turn \d+, 2 completion\(s\), mean reward 0\.700/);
  });

  it("reads the predecessor's text reports when there is no structured output", () => {
    const grpo = [
      "GRPO TRAINING STEP COMPLETE",
      "Cumulative iterations: 7",
      "PER-ITERATION METRICS:",
      "  Iter 7: reward=0.125 +/- 0.331, lr=4.00e-05, kl_v1=0.0123",
      "SAMPLE UTILIZATION:",
      "- Generated: 64",
      "FAILURE BREAKDOWN:",
      "  Uniform rewards: 48 (75.0%) - no variance in rewards",
      "  Reward errors:   0 (0.0%) - exceptions in reward function",
      "ROOT CAUSE: [CRITICAL] ... All 1s samples: 8 (12%), All 0s samples: 40 (62%)",
    ].join("\n");
    const r = fromPredecessorText("train_grpo_step", grpo, 4)!;
    expect(r).toMatchObject({
      method: "grpo",
      cumulative: 7,
      rewardMean: 0.125,
      rewardStd: 0.331,
      kl: 0.0123,
      groups: { total: 64, mixed: 16, allZero: 40, allOne: 8 },
    });
    const l = ledger();
    l.observe(call("tinker__train_grpo_step"), { content: grpo, isError: false });
    expect(ids(l)).toContain("all_zero");
    const sft = fromPredecessorText("train_sft_step", "LOSS PER EPOCH:\n  Epoch 3: train_loss=0.8123, val_loss=0.9001", 2)!;
    expect(sft).toMatchObject({ method: "sft", cumulative: 3, trainLoss: 0.8123, valLoss: 0.9001 });
  });
});

describe("cache-prefix stability over a 30-turn run", () => {
  let fake: FakeAnthropic | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  it("every request extends the previous one byte for byte, apart from the cache marker", async () => {
    const steps = [toolUseReply([{ name: "init_grpo", input: { base_model: "local/tiny-arith" } }])];
    for (let i = 0; i < 27; i++) {
      steps.push(
        i % 3 === 2
          ? toolUseReply([{ name: "echo", input: { text: `note ${i}` } }])
          : toolUseReply([
              {
                name: "train_grpo_step",
                input: { prompts: "p.jsonl", reward_function: "def compute_reward(c, g):\n    return 1.0\n", reward_mean: 0.1 + i / 40, all_zero: i % 7 },
              },
            ]),
      );
    }
    steps.push(toolUseReply([{ name: "save", input: { name: "final" } }]));
    steps.push(toolUseReply([{ name: "finish", input: {} }]));
    fake = await FakeAnthropic.start(steps);
    const dir = tempDir("tl-cache-");
    const runDir = path.join(dir, "run");
    const mcp = writeMcpConfig(dir, { lab: testServerEntry() });
    const res = await runCli(
      [
        "run",
        "--planner",
        "anthropic:claude-sonnet-5-5",
        "--model",
        "local/tiny-arith",
        "--prompt",
        "p",
        "--mcp-config",
        mcp,
        "--run-dir",
        runDir,
        "--max-turns",
        "40",
      ],
      {
        env: { ANTHROPIC_API_KEY: "sk-ant-test-000000", ANTHROPIC_BASE_URL: fake.url },
        timeoutMs: 120_000,
      },
    );
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const bodies = fake.messageRequests.map((r) => r.body);
    expect(bodies).toHaveLength(30);
    const strip = (v: unknown) => JSON.stringify(v, (k, x) => (k === "cache_control" ? undefined : x));
    for (let i = 1; i < bodies.length; i++) {
      const prev = bodies[i - 1];
      const cur = bodies[i];
      expect(strip(cur.system), `system of request ${i}`).toBe(strip(prev.system));
      expect(JSON.stringify(cur.system)).toBe(JSON.stringify(prev.system));
      expect(JSON.stringify(cur.tools)).toBe(JSON.stringify(prev.tools));
      // Earlier messages are unchanged; only the newest user message moves the cache marker.
      expect(strip(cur.messages.slice(0, prev.messages.length))).toBe(strip(prev.messages));
      expect(JSON.stringify(cur.messages.slice(0, prev.messages.length - 1))).toBe(
        JSON.stringify(prev.messages.slice(0, -1)).replace(/,"cache_control":\{"type":"ephemeral"\}/g, ""),
      );
    }
    // The feedback block sits after the tool results, at the end of the user message.
    const withFeedback = bodies.filter((b) => JSON.stringify(b.messages.at(-1)).includes("training feedback"));
    expect(withFeedback.length).toBeGreaterThan(10);
    for (const b of withFeedback) {
      const content = b.messages.at(-1).content;
      expect(content.at(-1).type).toBe("text");
      expect(content[0].type).toBe("tool_result");
    }
    expect(JSON.stringify(bodies.map((b) => b.system))).not.toContain("training feedback");
    const metrics = readJsonl(path.join(runDir, "metrics.jsonl"));
    expect(metrics).toHaveLength(18);
    expect(metrics[0]).toMatchObject({ method: "grpo", tool: "train_grpo_step", source: "structured" });
  }, 150_000);
});

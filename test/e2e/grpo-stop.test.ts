/**
 * `train_grpo_step` takes `stop` as `sample` does: each completion ends before the first stop
 * string, and is scored and trained as it was cut. Through the real client, Python worker
 * and reward sandbox over the fake Tinker SDK (which answers "<n> apples. And more"), and
 * through the bundled tinker server's tool schema on the local backend.
 */
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TinkerBackend } from "../../tools/tinker/backends/tinker/client.ts";
import { runGrpo } from "../../tools/tinker/grpo.ts";
import type { GrpoArgs } from "../../tools/tinker/grpo.ts";
import { RewardSandbox } from "../../tools/tinker/reward/sandbox.ts";
import { TrainingSession } from "../../tools/tinker/session.ts";
import { connectBundled, REPO, tempDir } from "../helpers.ts";

const FAKE_SDK = path.join(REPO, "test", "fakes", "tinker-sdk");
/** Full credit only for a completion cut right before the stop string. */
const REWARD = 'def compute_reward(completion, ground_truth):\n    return 1.0 if completion.strip() == ground_truth + " apples" else 0.0\n';
const PROMPTS = Array.from({ length: 4 }, (_, i) => ({ prompt: `How many apples? (${i})`, ground_truth: "4" }));

const sandbox = new RewardSandbox();
afterAll(() => sandbox.close());

const args = (o: Partial<GrpoArgs>): GrpoArgs => ({
  prompts: PROMPTS,
  rewardFunction: REWARD,
  numIterations: 1,
  learningRate: 1e-5,
  warmupRatio: 0,
  scheduler: "constant",
  schedulerTotalSteps: undefined,
  temperature: 1,
  maxTokens: 40,
  autoCheckpoint: false,
  autoCheckpointThreshold: 1,
  autoCheckpointMinIterations: 0,
  normalizeAdvantages: true,
  ...o,
});

describe("train_grpo_step takes stop", () => {
  it("on Tinker: completions end before the stop string, and are scored as cut", { timeout: 120_000 }, async () => {
    const dir = tempDir("tl-grpo-stop-");
    const backend = new TinkerBackend({
      env: { PATH: process.env.PATH, PYTHONPATH: FAKE_SDK, TINKER_API_KEY: "tml-fake-key-123", TINKER_FAKE_TEXT: "{n} apples. And more" },
      checkpointDir: path.join(dir, "ckpt"),
    });
    try {
      const s = new TrainingSession(dir);
      s.backend = backend;
      s.card = await backend.open("meta-llama/Llama-3.2-1B", { loraRank: 4 });
      s.method = "grpo";
      s.groupSize = 4;
      const cut = await runGrpo(s, sandbox, args({ stop: ["."] }), () => undefined);
      const texts = cut.examples.map((e) => e.completion.trim());
      expect(texts.length).toBeGreaterThan(0);
      for (const t of texts) expect(t).toMatch(/^\d+ apples$/);
      // The fake answers 4, 5, 6, 4: each group is mixed under the reward, so the step trains.
      expect(cut.iterations[0]!.stepped).toBe(true);
      const uncut = await runGrpo(s, sandbox, args({}), () => undefined);
      expect(uncut.examples.every((e) => e.completion.includes("And more"))).toBe(true);
      expect(uncut.iterations[0]!.stepped).toBe(false);
    } finally {
      await backend.close();
    }
  });

  it("the tool's schema takes it (local backend), and refuses what sample refuses", { timeout: 240_000 }, async () => {
    const s = await connectBundled("tinker", { TINKERLOOP_RUN_DIR: tempDir("tl-grpo-stop-run-"), TINKERLOOP_CHECKPOINT_DIR: tempDir("tl-grpo-stop-ckpt-") });
    try {
      expect((await s.call("init_grpo", { base_model: "local/tiny-arith", group_size: 4 })).isError).toBe(false);
      const step = { prompts: PROMPTS, reward_function: REWARD, max_tokens: 6, auto_checkpoint: false };
      const ok = await s.call("train_grpo_step", { ...step, stop: ["\n"] });
      expect(ok.isError, ok.text).toBe(false);
      const bad = await s.call("train_grpo_step", { ...step, stop: [""] });
      expect(bad.isError).toBe(true);
    } finally {
      await s.close();
    }
  });
});

import path from "node:path";
import { describe, expect, it } from "vitest";
import { connectBundled, REPO, tempDir } from "../helpers.ts";

const FAKE_SDK = path.join(REPO, "test", "fakes", "tinker-sdk");

describe("Tinker backend through the Python worker (fake SDK)", () => {
  it("drives a GRPO step and a sample with a stop string through the tinker MCP server for a Tinker model id", async () => {
    const dir = tempDir("tl-tinker-srv-");
    const s = await connectBundled("tinker", {
      PYTHONPATH: FAKE_SDK,
      TINKER_API_KEY: "tml-fake-key-123",
      TINKER_FAKE_LOG: path.join(dir, "calls.jsonl"),
      TINKERLOOP_CHECKPOINT_DIR: path.join(dir, "ckpt"),
      TINKER_FAKE_TEXT: "{n}. Done.",
    });
    try {
      const init = await s.call("init_grpo", { base_model: "meta-llama/Llama-3.1-8B-Instruct" });
      expect(init.isError, init.text).toBe(false);
      expect(init.structured).toMatchObject({ backend: "tinker", group_size: 16 });
      expect(init.text).toMatch(/Registry: Instruction model, Dense, 8B active parameters; recommended group_size 16; renderer llama3/);
      const reward = "def compute_reward(completion, ground_truth):\n    return 1.0 if completion.startswith(ground_truth) else 0.0\n";
      const r = await s.call("train_grpo_step", {
        prompts: [
          { prompt: "What is 2 + 2?", ground_truth: "4" },
          { prompt: "What is 2 + 3?", ground_truth: "5" },
        ],
        reward_function: reward,
      });
      expect(r.isError, r.text).toBe(false);
      const g = r.structured.iterations[0].groups;
      expect(g).toMatchObject({ total: 2, mixed: 2 });
      expect(r.structured.iterations[0].kl).not.toBeNull();
      const plain = await s.call("sample", { prompt: "What is 2 + 2?", n: 1 });
      expect(plain.structured.completions[0]).toMatchObject({ text: "4. Done.", finish_reason: "stop" });
      const stopped = await s.call("sample", { prompt: "What is 2 + 2?", n: 1, stop: ["."] });
      expect(stopped.structured.completions[0]).toMatchObject({ text: "4", finish_reason: "stop" });
    } finally {
      await s.close();
    }
  });
});

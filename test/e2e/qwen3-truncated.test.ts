/**
 * A Qwen3 completion cut off at max_tokens is parsed without its think block: through the
 * real client and Python worker over the fake Tinker SDK, whose Qwen3 answers open with
 * "<think>\nAdding the numbers.\n</think>\n\n" (25 tokens) before the answer. Cut inside the
 * block, the completion has no answer yet (""); cut after it, the answer so far, without
 * the block. A finished turn is parsed by the renderer as before.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { TinkerBackend } from "../../tools/tinker/backends/tinker/client.ts";
import { REPO, tempDir } from "../helpers.ts";

const FAKE_SDK = path.join(REPO, "test", "fakes", "tinker-sdk");

describe("a truncated Qwen3 completion", () => {
  it("is parsed without its open <think>, and without a closed one", { timeout: 120_000 }, async () => {
    const dir = tempDir("tl-qwen3-cut-");
    const backend = new TinkerBackend({
      env: { PATH: process.env.PATH, PYTHONPATH: FAKE_SDK, TINKER_API_KEY: "tml-fake-key-123", TINKER_FAKE_TEXT: "The sum is {n}." },
      checkpointDir: path.join(dir, "ckpt"),
    });
    try {
      await backend.open("Qwen/Qwen3-8B", { loraRank: 4 });
      const sample = async (maxTokens: number) => (await backend.sample(["What is 2 + 2?"], 2, { temperature: 1, maxTokens }))[0]!;
      // Cut inside the think block: no answer yet.
      for (const c of await sample(10)) {
        expect(c.finishReason).toBe("length");
        expect(c.text).toBe("");
      }
      // Cut after it: the answer so far, no think block.
      for (const c of await sample(30)) {
        expect(c.finishReason).toBe("length");
        expect(c.text).toMatch(/^The s/);
        expect(c.text).not.toContain("think>");
      }
      // A finished turn: the renderer's own parse.
      for (const c of await sample(200)) {
        expect(c.finishReason).toBe("stop");
        expect(c.text).toMatch(/^The sum is \d\.$/);
      }
    } finally {
      await backend.close();
    }
  });
});

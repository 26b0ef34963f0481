/**
 * A Tinker model's card carries the context length the service reports for it
 * (get_server_capabilities), not one number for every model: through the real client and
 * Python worker over the fake Tinker SDK, on open and on a fresh worker's load.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { TinkerBackend } from "../../tools/tinker/backends/tinker/client.ts";
import { REPO, tempDir } from "../helpers.ts";

const FAKE_SDK = path.join(REPO, "test", "fakes", "tinker-sdk");
/** What the fake service reports (test/fakes/tinker-sdk/tinker/__init__.py, _CONTEXT). */
const REPORTED: Record<string, number> = {
  "meta-llama/Llama-3.2-1B": 131_072,
  "Qwen/Qwen3-8B": 40_960,
  "Qwen/Qwen3-4B-Instruct-2507": 262_144,
};

const backend = (dir: string) =>
  new TinkerBackend({
    env: { PATH: process.env.PATH, PYTHONPATH: FAKE_SDK, TINKER_API_KEY: "tml-fake-key-123" },
    checkpointDir: path.join(dir, "ckpt"),
  });

describe("Tinker model cards", () => {
  it("carry each model's context length as the service reports it, on open and on load", { timeout: 120_000 }, async () => {
    const dir = tempDir("tl-context-");
    for (const [model, length] of Object.entries(REPORTED)) {
      const b = backend(dir);
      try {
        expect((await b.open(model, { loraRank: 4 })).contextLength).toBe(length);
        if (model !== "Qwen/Qwen3-8B") continue;
        const saved = await b.saveState("ctx", { method: "grpo" });
        const fresh = backend(dir);
        try {
          expect((await fresh.loadState(saved.path)).card.contextLength).toBe(length);
        } finally {
          await fresh.close();
        }
      } finally {
        await b.close();
      }
    }
  });
});

/**
 * Live smoke test of the Tinker backend (`npm run smoke:tinker`): one tiny SFT step
 * and one GRPO-style policy step on the real service. Skips, and says so, without
 * TINKER_API_KEY.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TinkerBackend } from "../tools/tinker/backends/tinker/client.ts";

const model = process.env.TINKER_SMOKE_MODEL ?? "meta-llama/Llama-3.2-1B";
if (!process.env.TINKER_API_KEY) {
  console.log("smoke:tinker skipped: TINKER_API_KEY is not set (set it, and install the worker's requirements, to run a live step).");
  process.exit(0);
}
const b = new TinkerBackend({ env: process.env, checkpointDir: fs.mkdtempSync(path.join(os.tmpdir(), "tinker-smoke-")) });
try {
  const card = await b.open(model, { loraRank: 8 });
  console.log(`opened ${card.baseModel} (renderer ${card.renderer})`);
  const sft = await b.trainSupervised(
    [
      { prompt: "What is 2 + 2?", response: "4" },
      { prompt: "What is 3 + 3?", response: "6" },
    ],
    { learningRate: 1e-4 },
  );
  console.log(`SFT step: loss ${sft.loss.toFixed(4)} over ${sft.tokens} tokens`);
  const groups = await b.sample(["What is 2 + 2?"], 4, { temperature: 1, maxTokens: 16 });
  console.log(`sampled: ${groups[0]!.map((c) => JSON.stringify(c.text)).join(", ")}`);
  const rollouts = groups[0]!.map((c) => ({ rolloutId: c.rolloutId, advantage: c.text.trim().startsWith("4") ? 1 : -1 }));
  const pg = await b.trainPolicy(rollouts, { learningRate: 1e-5 });
  console.log(`policy step: loss ${pg.loss?.toFixed(4) ?? "n/a"}, KL ${pg.kl?.toFixed(5) ?? "n/a"}`);
  const saved = await b.saveState("smoke", {});
  console.log(`saved ${saved.path}`);
  console.log("smoke:tinker passed");
} catch (err) {
  console.error(`smoke:tinker FAILED: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await b.close();
}

/**
 * Local CPU backend benchmark (not part of npm test): ms per SFT step and per policy
 * step at batch 64, sampled tokens per second, peak RSS — for every shipped model.
 * With Debian's python3-torch on /usr/bin/python3, the same configuration is timed
 * in PyTorch (1 thread) beside it.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LocalBackend } from "../tools/tinker/backends/local/backend.ts";
import { listLocalModels } from "../tools/tinker/backends/local/manifest.ts";
import { generate } from "../tools/hf-datasets/generators.ts";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const time = async (f: () => Promise<unknown>) => {
  const t = performance.now();
  await f();
  return performance.now() - t;
};

for (const m of listLocalModels()) {
  const b = new LocalBackend({ checkpointDir: fs.mkdtempSync(path.join(os.tmpdir(), "bench-ckpt-")) });
  await b.open(m.id, { loraRank: 16 });
  const items = generate("arithmetic", { n: 64, seed: 1 }).items;
  const sft = items.map((i) => ({ prompt: i.prompt, response: i.response }));
  const prompts = items.map((i) => i.prompt);
  for (let i = 0; i < 2; i++) await b.trainSupervised(sft, { learningRate: 1e-3 });
  const sftMs: number[] = [];
  for (let i = 0; i < 10; i++) sftMs.push(await time(() => b.trainSupervised(sft, { learningRate: 1e-3 })));
  // A policy step consumes the rollouts it names, so each timed step gets a fresh (untimed) sample.
  const policyBatch = async () => (await b.sample(prompts, 1, { temperature: 1, maxTokens: 8, seed: 1 })).map((g, i) => ({ rolloutId: g[0]!.rolloutId, advantage: i % 2 ? 1 : -1 }));
  const pgMs: number[] = [];
  for (let i = 0; i < 10; i++) {
    const rollouts = await policyBatch();
    pgMs.push(await time(() => b.trainPolicy(rollouts, { learningRate: 1e-4 })));
  }
  const sampleRuns: Array<{ ms: number; tokens: number }> = [];
  for (let i = 0; i < 5; i++) {
    let tokens = 0;
    const ms = await time(async () => {
      const out = await b.sample(prompts.slice(0, 32), 4, { temperature: 1, maxTokens: 24, seed: i, stop: [] });
      tokens = out.flat().reduce((a, c) => a + c.tokenCount, 0);
    });
    sampleRuns.push({ ms, tokens });
  }
  const tokPerSec = sampleRuns.reduce((a, r) => a + r.tokens, 0) / (sampleRuns.reduce((a, r) => a + r.ms, 0) / 1000);
  const rss = process.resourceUsage().maxRSS / 1024;
  console.log(`${m.id} (${m.parameters.toLocaleString("en-US")} params, ${JSON.stringify(m.config)})`);
  console.log(`  SFT step, batch 64:     median ${median(sftMs).toFixed(0)} ms`);
  console.log(`  policy step, batch 64:  median ${median(pgMs).toFixed(0)} ms`);
  console.log(`  sampling 128 × ≤24:     ${tokPerSec.toFixed(0)} tokens/s (median ${median(sampleRuns.map((r) => r.ms)).toFixed(0)} ms per batch)`);
  console.log(`  peak RSS:               ${rss.toFixed(0)} MiB`);
  await b.close();
}

let torch = false;
try {
  execFileSync("/usr/bin/python3", ["-c", "import torch"], { stdio: "ignore" });
  torch = true;
} catch {
  torch = false;
}
console.log(torch ? "python3-torch found: see bench/torch-anchor.py for the PyTorch comparison." : "python3-torch is not installed (apt-get install python3-torch libopenblas0-pthread): no PyTorch comparison.");

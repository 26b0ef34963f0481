/**
 * Reward sandbox throughput (rewards per second, exact-match reward, 5,000 pairs)
 * and the share of a GRPO iteration spent outside the training backend.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { RewardSandbox } from "../tools/tinker/reward/sandbox.ts";
import { LocalBackend } from "../tools/tinker/backends/local/backend.ts";
import { runGrpo } from "../tools/tinker/grpo.ts";
import { TrainingSession } from "../tools/tinker/session.ts";
import { generate } from "../tools/hf-datasets/generators.ts";

const EXACT = "def compute_reward(completion, ground_truth):\n    return 1.0 if completion.strip() == ground_truth.strip() else 0.0\n";
const sb = new RewardSandbox();
const pairs = Array.from({ length: 5000 }, (_, i) => ({ completion: String(i % 97), ground_truth: String(i % 89) }));
await sb.score(EXACT, pairs.slice(0, 10));
const runs: number[] = [];
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  await sb.score(EXACT, pairs);
  runs.push(performance.now() - t);
}
runs.sort((a, b) => a - b);
const med = runs[2]!;
console.log(`reward sandbox: 5,000 rewards in ${med.toFixed(0)} ms (median of 5) = ${Math.round(5000 / (med / 1000)).toLocaleString("en-US")} rewards/s, isolation ${(await sb.score(EXACT, pairs.slice(0, 1))).isolation}`);

const session = new TrainingSession(fs.mkdtempSync(path.join(os.tmpdir(), "bench-logs-")));
session.backend = new LocalBackend({ checkpointDir: fs.mkdtempSync(path.join(os.tmpdir(), "bench-ckpt-")) });
session.card = await session.backend.open("local/tiny-arith", { loraRank: 16 });
session.method = "grpo";
session.groupSize = 8;
const prompts = generate("arithmetic", { n: 32, seed: 3, difficulty: 1 }).items.map((i) => ({ prompt: i.prompt, ground_truth: i.ground_truth }));
const shares: number[] = [];
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  const o = await runGrpo(session, sb, { prompts, rewardFunction: EXACT, numIterations: 1, learningRate: 1e-3, warmupRatio: 0, scheduler: "constant", schedulerTotalSteps: undefined, temperature: 1, maxTokens: 8, autoCheckpoint: false, autoCheckpointThreshold: 1, autoCheckpointMinIterations: 0, normalizeAdvantages: true }, () => {});
  const total = performance.now() - t;
  const it = o.iterations[0]!;
  const backend = (it.seconds.sampling + it.seconds.training) * 1000;
  shares.push((total - backend) / total);
  console.log(`GRPO iteration (32 prompts × 8): ${total.toFixed(0)} ms — sampling ${(it.seconds.sampling * 1000).toFixed(0)}, training ${(it.seconds.training * 1000).toFixed(0)}, reward sandbox ${(it.seconds.reward * 1000).toFixed(0)}, other ${(total - backend - it.seconds.reward * 1000).toFixed(0)} ms`);
}
shares.sort((a, b) => a - b);
console.log(`share of a GRPO iteration outside the backend (sandbox + bookkeeping): median ${(shares[2]! * 100).toFixed(1)}%`);
await session.backend.close();

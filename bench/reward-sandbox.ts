/**
 * Reward sandbox throughput (rewards per second, exact-match reward, 5,000 pairs) and the
 * share of a GRPO iteration spent outside the training backend — for the sandbox this
 * machine uses (the persistent OS-sandbox worker where bubblewrap works) and, as the
 * anchor measured in the same run, the per-batch process of the audit-hook fallback
 * (the design the previous figures came from).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { RewardSandbox } from "../tools/tinker/reward/sandbox.ts";
import { LocalBackend } from "../tools/tinker/backends/local/backend.ts";
import { runGrpo } from "../tools/tinker/grpo.ts";
import { TrainingSession } from "../tools/tinker/session.ts";
import { generate } from "../lib/generators/generate.ts";
import { sandboxStatus } from "../lib/sandbox/os-sandbox.ts";

const PREVIOUS = "previous figures (per-batch audit-hook process): 23–41k rewards/s, GRPO overhead 15.5%";
const EXACT = "def compute_reward(completion, ground_truth):\n    return 1.0 if completion.strip() == ground_truth.strip() else 0.0\n";
const pairs = Array.from({ length: 5000 }, (_, i) => ({ completion: String(i % 97), ground_truth: String(i % 89) }));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function throughput(sb: RewardSandbox): Promise<number> {
  await sb.score(EXACT, pairs.slice(0, 10));
  const runs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await sb.score(EXACT, pairs);
    runs.push(performance.now() - t);
  }
  return 5000 / (median(runs) / 1000);
}

const session = new TrainingSession(fs.mkdtempSync(path.join(os.tmpdir(), "bench-logs-")));
session.backend = new LocalBackend({ checkpointDir: fs.mkdtempSync(path.join(os.tmpdir(), "bench-ckpt-")) });
session.card = await session.backend.open("local/tiny-arith", { loraRank: 16 });
session.method = "grpo";
session.groupSize = 8;
const prompts = generate("arithmetic", { n: 32, seed: 3, difficulty: 1 }).items.map((i) => ({ prompt: i.prompt, ground_truth: i.ground_truth }));

/** Median share of a GRPO iteration (32 prompts × 8) outside sampling and training. */
async function grpoShare(sb: RewardSandbox, label: string): Promise<number> {
  const shares: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const o = await runGrpo(
      session,
      sb,
      {
        prompts,
        rewardFunction: EXACT,
        numIterations: 1,
        learningRate: 1e-3,
        warmupRatio: 0,
        scheduler: "constant",
        schedulerTotalSteps: undefined,
        temperature: 1,
        maxTokens: 8,
        autoCheckpoint: false,
        autoCheckpointThreshold: 1,
        autoCheckpointMinIterations: 0,
        normalizeAdvantages: true,
      },
      () => {},
    );
    const total = performance.now() - t;
    const it = o.iterations[0]!;
    const backend = (it.seconds.sampling + it.seconds.training) * 1000;
    shares.push((total - backend) / total);
    console.log(
      `  ${label} GRPO iteration: ${total.toFixed(0)} ms — sampling ${(it.seconds.sampling * 1000).toFixed(0)}, training ${(it.seconds.training * 1000).toFixed(0)}, reward ${(it.seconds.reward * 1000).toFixed(0)}, other ${(total - backend - it.seconds.reward * 1000).toFixed(0)} ms`,
    );
  }
  return median(shares);
}

const status = sandboxStatus();
const current = new RewardSandbox();
const anchor = new RewardSandbox({ forceFallback: true });
console.log(PREVIOUS);
console.log(`this machine: ${status.available ? `OS sandbox (${status.version}), persistent worker` : `no OS sandbox (${status.reason})`}`);
const rows: Array<[string, number, number]> = [];
for (const [label, sb] of [
  ["anchor: per-batch audit-hook process", anchor],
  [`now: ${current.isolation}`, current],
] as const) {
  const rps = await throughput(sb);
  const share = await grpoShare(sb, label);
  rows.push([label, rps, share]);
}
for (const [label, rps, share] of rows)
  console.log(
    `${label.padEnd(40)} ${Math.round(rps).toLocaleString("en-US").padStart(7)} rewards/s · GRPO overhead outside the backend ${(share * 100).toFixed(1)}%`,
  );
const [a, n] = [rows[0]!, rows[1]!];
console.log(
  `ratio now/anchor: throughput ×${(n[1] / a[1]).toFixed(2)}, overhead share ${(n[2] * 100).toFixed(1)}% vs ${(a[2] * 100).toFixed(1)}% (target ≤ 5%)`,
);
current.close();
await session.backend.close();

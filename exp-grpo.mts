import fs from "node:fs";
import { LocalBackend } from "./tools/tinker/backends/local/backend.ts";
import { RewardSandbox } from "./tools/tinker/reward/sandbox.ts";
import { runGrpo } from "./tools/tinker/grpo.ts";
import { TrainingSession } from "./tools/tinker/session.ts";
import { generate } from "./tools/hf-datasets/generators.ts";
import { rewardSpecs } from "./agent/planners/reward-library.ts";
const modelsDir = process.argv[2]!;
const lr = Number(process.argv[3] ?? 2e-3);
const steps = Number(process.argv[4] ?? 60);
const session = new TrainingSession(fs.mkdtempSync("/tmp/exp-logs-"));
const b = new LocalBackend({ modelsDir, checkpointDir: fs.mkdtempSync("/tmp/exp-ck-") });
session.backend = b; session.card = await b.open("local/tiny-arith", { loraRank: 16 }); session.method = "grpo"; session.groupSize = Number(process.argv[5] ?? 8);
const pool = generate("arithmetic", { n: 2000, seed: 1, difficulty: 1, split: "train" }).items.map(i => ({ prompt: i.prompt, ground_truth: i.ground_truth }));
const hold = generate("arithmetic", { n: 200, seed: 2, difficulty: 1, split: "eval" }).items;
console.log("pool", pool.length, "holdout", hold.length);
const code = rewardSpecs("numeric")[0]!.code;
const evalHold = async () => { const g = await b.sample(hold.map(h => h.prompt), 8, { temperature: 1, maxTokens: 8, seed: 7 }); let ok = 0, n = 0; g.forEach((gr, i) => gr.forEach(c => { n++; if (c.text.trim() === hold[i]!.ground_truth) ok++; })); const gg = await b.sample(hold.map(h => h.prompt), 1, { temperature: 0, maxTokens: 8 }); const greedy = gg.filter((gr, i) => gr[0]!.text.trim() === hold[i]!.ground_truth).length / hold.length; return `T1x8 ${(ok/n*100).toFixed(1)}% greedy ${(greedy*100).toFixed(1)}%`; };
const sb = new RewardSandbox();
const t0 = Date.now();
console.log("baseline", await evalHold());
for (let s = 0; s < steps; s++) {
  const start = (s * Number(process.argv[6] ?? 32)) % pool.length;
  const B = Number(process.argv[6] ?? 32); const prompts = Array.from({ length: B }, (_, i) => pool[(start + i) % pool.length]!);
  const o = await runGrpo(session, sb, { prompts, rewardFunction: code, numIterations: 1, learningRate: lr, warmupRatio: 0, scheduler: "constant", schedulerTotalSteps: undefined, temperature: 1, maxTokens: 8, autoCheckpoint: false, autoCheckpointThreshold: 1, autoCheckpointMinIterations: 0, normalizeAdvantages: process.argv[7] !== "raw" }, () => {});
  const it = o.iterations[0]!;
  if ((s + 1) % 10 === 0) console.log(`step ${s+1} ${((Date.now()-t0)/1000).toFixed(0)}s reward ${it.rewardMean.toFixed(3)} groups ${JSON.stringify(it.groups)} | holdout ${await evalHold()}`);
}

/**
 * One GRPO iteration at Tinker scale through the real client and Python worker over
 * the fake SDK (`npm run bench:tinker`): 64 prompts × 16 samples × 4,096 tokens, then
 * the same at 16,384. Prints the bytes crossing the pipe each way, wall time per
 * phase and the peak RSS of both processes. Each size runs in a fresh Node process
 * (`--one <tokens>`) so its peak RSS is its own.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TinkerBackend } from "../tools/tinker/backends/tinker/client.ts";

const PROMPTS = 64;
const GROUP = 16;
const SIZES = [4096, 16384];
const FAKE_SDK = path.join(import.meta.dirname, "..", "test", "fakes", "tinker-sdk");

type Io = { rchar: number; wchar: number };

/** Bytes the worker read and wrote through syscalls (its stdin and stdout during a phase). */
function io(pid: number): Io {
  const text = fs.readFileSync(`/proc/${pid}/io`, "utf8");
  const get = (k: string) => Number(/^(\w+): (\d+)$/m.exec(text.split("\n").find((l) => l.startsWith(`${k}:`)) ?? "")?.[2] ?? 0);
  return { rchar: get("rchar"), wchar: get("wchar") };
}

function peakRssKb(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

async function one(tokens: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-tinker-"));
  const b = new TinkerBackend({
    env: { PATH: process.env.PATH, PYTHONPATH: FAKE_SDK, TINKER_API_KEY: "tml-bench-key", TINKER_FAKE_SAMPLE_TOKENS: String(tokens) },
    checkpointDir: dir,
    timeouts: { sample: 3600, train_policy: 3600 },
  });
  const prompts = Array.from({ length: PROMPTS }, (_, i) => `Problem ${i}: what is ${i} + ${i * 3}? Think step by step.`);
  const phases: Array<{ name: string; ms: number; toWorker: number; fromWorker: number }> = [];
  let pid = 0;
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const before = pid ? io(pid) : { rchar: 0, wchar: 0 };
    const t = performance.now();
    const out = await fn();
    const ms = performance.now() - t;
    pid ||= (b as unknown as { child: { pid: number } }).child.pid;
    const after = io(pid);
    phases.push({ name, ms, toWorker: name === "open" ? 0 : after.rchar - before.rchar, fromWorker: name === "open" ? 0 : after.wchar - before.wchar });
    return out;
  };
  let failure: string | undefined;
  let workerPeak = 0;
  try {
    await phase("open", () => b.open("meta-llama/Llama-3.2-1B", { loraRank: 32 }));
    const groups = await phase("sample", () => b.sample(prompts, GROUP, { temperature: 1, maxTokens: tokens }));
    const rollouts = await phase("rewards+advantages", async () =>
      groups.flatMap((g, i) => {
        const r: number[] = g.map((c) => (c.text.charCodeAt(0) % 2 === 0 ? 1 : 0));
        const mean = r.reduce((x, y) => x + y, 0) / r.length;
        return g.map((c, j) => ({ prompt: prompts[i]!, tokens: c.tokens, logprobs: c.logprobs, advantage: r[j]! - mean }));
      }),
    );
    const res = await phase("train_policy", () => b.trainPolicy(rollouts, { learningRate: 1e-5 }));
    if (!Number.isFinite(res.kl) || res.tokens !== PROMPTS * GROUP * tokens) throw new Error(`unexpected policy result ${JSON.stringify(res)}`);
  } catch (err) {
    failure = (err as Error).message.slice(0, 300);
  } finally {
    if (pid && fs.existsSync(`/proc/${pid}/status`)) workerPeak = peakRssKb(pid);
    await b.close().catch(() => undefined);
  }
  const toWorker = phases.reduce((a, p) => a + p.toWorker, 0);
  const fromWorker = phases.reduce((a, p) => a + p.fromWorker, 0);
  const lines = [
    `${PROMPTS} prompts × ${GROUP} samples × ${tokens.toLocaleString("en-US")} tokens = ${(PROMPTS * GROUP * tokens).toLocaleString("en-US")} sampled tokens`,
    ...phases.map((p) => `  ${p.name.padEnd(20)} ${(p.ms / 1000).toFixed(2).padStart(7)} s   to worker ${mb(p.toWorker).padStart(10)}   from worker ${mb(p.fromWorker).padStart(10)}`),
    `  pipe total: to worker ${mb(toWorker)}, from worker ${mb(fromWorker)}, both ${mb(toWorker + fromWorker)}`,
    `  peak RSS: node ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB, worker ${(workerPeak / 1024).toFixed(0)} MB`,
    failure ? `  FAILED: ${failure}` : "  completed",
  ];
  process.stdout.write(lines.join("\n") + "\n");
  process.exitCode = failure ? 1 : 0;
}

const flag = process.argv.indexOf("--one");
if (flag >= 0) {
  await one(Number(process.argv[flag + 1]));
} else {
  const sizes = process.argv.includes("--tokens") ? [Number(process.argv[process.argv.indexOf("--tokens") + 1])] : SIZES;
  let failed = 0;
  for (const tokens of sizes) {
    const r = spawnSync(process.execPath, [...process.execArgv, import.meta.filename, "--one", String(tokens)], { stdio: "inherit" });
    if (r.status !== 0) failed++;
  }
  process.exitCode = failed ? 1 : 0;
}

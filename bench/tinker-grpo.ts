/**
 * `npm run bench:tinker`: GRPO on Tinker through the real client, Python worker and
 * reward sandbox, over the fake SDK's timing model (test/fakes/tinker-sdk/tinker/_timing.py:
 * clock cycles, a sampling concurrency limit, long-tailed completion lengths). For 64
 * prompts × 16 samples it runs today's loop (the anchor: every call waits for the one
 * before, the KL probe after the step), rewards as groups arrive, streaming minibatches
 * and off-policy overlap (k=1), and prints each mode's iteration wall time beside the sum
 * and the max of its sampling and training times (the service's own, read from the fake's
 * timing log), the harness's share of the iteration (time with nothing in the service),
 * and what the KL probe costs in clock cycles before and after.
 *
 * `--pipe`: the earlier bench: one iteration at 64 × 16 × 4,096 tokens, then 16,384, with
 * the bytes crossing the pipe each way, wall and CPU time per phase and peak RSS (each
 * size in a fresh Node process, `--one <tokens>`, so its peak RSS is its own).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TinkerBackend } from "../tools/tinker/backends/tinker/client.ts";
import { pipelineModes } from "./tinker-pipeline.ts";

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

/** CPU seconds the worker has used (user + system): steadier than wall time on a busy machine. */
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const nodeCpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

async function one(tokens: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-tinker-"));
  const b = new TinkerBackend({
    env: { PATH: process.env.PATH, PYTHONPATH: FAKE_SDK, TINKER_API_KEY: "tml-bench-key", TINKER_FAKE_SAMPLE_TOKENS: String(tokens) },
    checkpointDir: dir,
    timeouts: { sample: 3600, train_policy: 3600 },
  });
  const prompts = Array.from({ length: PROMPTS }, (_, i) => `Problem ${i}: what is ${i} + ${i * 3}? Think step by step.`);
  const phases: Array<{ name: string; ms: number; toWorker: number; fromWorker: number; nodeCpu: number; workerCpu: number }> = [];
  let pid = 0;
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const before = pid ? { ...io(pid), cpu: cpuSeconds(pid) } : { rchar: 0, wchar: 0, cpu: 0 };
    const nodeBefore = nodeCpuSeconds();
    const t = performance.now();
    const out = await fn();
    const ms = performance.now() - t;
    const nodeCpu = nodeCpuSeconds() - nodeBefore;
    pid ||= (b as unknown as { child: { pid: number } }).child.pid;
    const after = { ...io(pid), cpu: cpuSeconds(pid) };
    const opening = name === "open";
    phases.push({
      name,
      ms,
      toWorker: opening ? 0 : after.rchar - before.rchar,
      fromWorker: opening ? 0 : after.wchar - before.wchar,
      nodeCpu,
      workerCpu: after.cpu - before.cpu,
    });
    return out;
  };
  let failure: string | undefined;
  let workerPeak = 0;
  try {
    await phase("open", () => b.open("meta-llama/Llama-3.2-1B", { loraRank: 32 }));
    const groups = await phase("sample", () => b.sample(prompts, GROUP, { temperature: 1, maxTokens: tokens }));
    const rollouts = await phase("rewards+advantages", async () =>
      groups.flatMap((g, _i) => {
        const r: number[] = g.map((c) => (c.text.charCodeAt(0) % 2 === 0 ? 1 : 0));
        const mean = r.reduce((x, y) => x + y, 0) / r.length;
        return g.map((c, j) => ({ rolloutId: c.rolloutId, advantage: r[j]! - mean }));
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
    `  ${"phase".padEnd(20)} ${"wall".padStart(9)}  ${"cpu node".padStart(9)}  ${"cpu worker".padStart(10)}   ${"to worker".padStart(10)}   ${"from worker".padStart(11)}`,
    ...phases.map(
      (p) =>
        `  ${p.name.padEnd(20)} ${`${(p.ms / 1000).toFixed(2)} s`.padStart(9)}  ${`${p.nodeCpu.toFixed(2)} s`.padStart(9)}  ${`${p.workerCpu.toFixed(2)} s`.padStart(10)}   ${mb(p.toWorker).padStart(10)}   ${mb(p.fromWorker).padStart(11)}`,
    ),
    `  pipe total: to worker ${mb(toWorker)}, from worker ${mb(fromWorker)}, both ${mb(toWorker + fromWorker)}`,
    `  peak RSS: node ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB, worker ${(workerPeak / 1024).toFixed(0)} MB`,
    failure ? `  FAILED: ${failure}` : "  completed",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  process.exitCode = failure ? 1 : 0;
}

const flag = process.argv.indexOf("--one");
if (flag >= 0) {
  await one(Number(process.argv[flag + 1]));
} else if (!process.argv.includes("--pipe")) {
  process.exitCode = (await pipelineModes()) ? 0 : 1;
} else {
  const sizes = process.argv.includes("--tokens") ? [Number(process.argv[process.argv.indexOf("--tokens") + 1])] : SIZES;
  let failed = 0;
  for (const tokens of sizes) {
    const r = spawnSync(process.execPath, [...process.execArgv, import.meta.filename, "--one", String(tokens)], { stdio: "inherit" });
    if (r.status !== 0) failed++;
  }
  process.exitCode = failed ? 1 : 0;
}

/**
 * The GRPO modes of `npm run bench:tinker` on the fake SDK's timing model (see
 * tinker-grpo.ts for what it prints). Each mode gets a fresh worker (a fresh clock) and
 * runs ITERATIONS iterations; the figures are per iteration over the steady state (after
 * the first two: the overlap cannot overlap the first, and starts the second early), so
 * every mode is read the same way.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TinkerBackend } from "../tools/tinker/backends/tinker/client.ts";
import { runGrpo } from "../tools/tinker/grpo.ts";
import { RewardSandbox } from "../tools/tinker/reward/sandbox.ts";
import { TrainingSession } from "../tools/tinker/session.ts";

const FAKE_SDK = path.join(import.meta.dirname, "..", "test", "fakes", "tinker-sdk");
const PROMPTS = 64;
const GROUP = 16;
const ITERATIONS = 5;
/** Iterations left out of the figures (the pipeline filling). */
const WARMUP = 2;
const MAX_TOKENS = 2048;
/**
 * The timing model, scaled about 1/10 from the service so a mode takes seconds: Tinker's
 * docs describe the training pool working in clock cycles (we take ~5 s, here 0.5 s)
 * with requests submitted before a cycle starts run in it, in order; decoding at ~80
 * tokens/s per sequence (here 800) with a long tail of completion lengths (log-normal,
 * median 150, σ 1: the slowest of 16 samples is ~6× the median), 16 requests sampled at
 * once, and a cycle's capacity of ~100k trained tokens (a third of this batch).
 */
export const TIMING = {
  cycle_s: 0.5,
  train_tokens_per_cycle: 100_000,
  step_tokens: 2_000,
  sample_concurrency: 16,
  prefill_tps: 200_000,
  decode_tps: 800,
  median_tokens: 150,
  sigma: 1.0,
};
const REWARD = "def compute_reward(completion, ground_truth):\n    return float(len(completion) % 3 == 0)\n";

type Mode = { name: string; schedule: "serial" | "with_step"; stream: number; offPolicy: number };
const MODES: Mode[] = [
  { name: "today's loop", schedule: "serial", stream: 1, offPolicy: 0 },
  { name: "rewards as groups arrive", schedule: "with_step", stream: 1, offPolicy: 0 },
  { name: "streaming minibatches (4)", schedule: "with_step", stream: 4, offPolicy: 0 },
  { name: "off-policy overlap (k=1)", schedule: "with_step", stream: 1, offPolicy: 1 },
  { name: "overlap (k=1) + streaming (4)", schedule: "with_step", stream: 4, offPolicy: 1 },
];

type Timed =
  | { call: "timing"; kind: "sample"; submitted: number; started: number; done: number; tokens: number }
  | { call: "timing"; kind: "train"; op: string; submitted: number; first_cycle: number; cycle: number; done: number; tokens: number };

type Figures = { wall: number; sampling: number; training: number; harness: number; cyclesPerIteration: number; probeLag: number; failed?: string };

function readTiming(file: string): Timed[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.startsWith('{"call": "timing"'))
    .map((l) => JSON.parse(l) as Timed);
}

/** Length of the union of intervals, clipped to [from, to]. */
function covered(intervals: Array<[number, number]>, from: number, to: number): number {
  const xs = intervals
    .map(([a, b]) => [Math.max(a, from), Math.min(b, to)] as [number, number])
    .filter(([a, b]) => b > a)
    .sort((p, q) => p[0] - q[0]);
  let total = 0;
  let end = -Infinity;
  for (const [a, b] of xs) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}

async function runMode(mode: Mode, sandbox: RewardSandbox): Promise<Figures> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-tinker-pipe-"));
  const log = path.join(dir, "calls.jsonl");
  const backend = new TinkerBackend({
    env: {
      PATH: process.env.PATH,
      PYTHONPATH: FAKE_SDK,
      TINKER_API_KEY: "tml-bench-key",
      TINKER_FAKE_TIMING_LOG: log,
      TINKER_FAKE_TIMING: JSON.stringify(TIMING),
    },
    checkpointDir: path.join(dir, "ckpt"),
    schedule: mode.schedule,
  });
  const session = new TrainingSession(dir);
  session.backend = backend;
  session.method = "grpo";
  session.groupSize = GROUP;
  const prompts = Array.from({ length: PROMPTS }, (_, i) => ({
    prompt: `Problem ${i}: what is ${i} + ${i * 3}? Think step by step.`,
    ground_truth: String(4 * i),
  }));
  const ends: number[] = [];
  let failed: string | undefined;
  try {
    session.card = await backend.open("meta-llama/Llama-3.2-1B", { loraRank: 32 });
    fs.writeFileSync(log, "");
    ends.push(Date.now() / 1000);
    const o = await runGrpo(
      session,
      sandbox,
      {
        prompts,
        rewardFunction: REWARD,
        numIterations: ITERATIONS,
        learningRate: 1e-5,
        warmupRatio: 0,
        scheduler: "constant",
        schedulerTotalSteps: undefined,
        temperature: 1,
        maxTokens: MAX_TOKENS,
        autoCheckpoint: false,
        autoCheckpointThreshold: 1,
        autoCheckpointMinIterations: 0,
        normalizeAdvantages: true,
        streamMinibatches: mode.stream,
        maxStepsOffPolicy: mode.offPolicy,
      },
      (msg) => {
        if (/ done: /.test(msg)) ends.push(Date.now() / 1000);
      },
    );
    if (o.aborted) failed = o.aborted;
    else if (o.iterations.some((it) => !it.stepped)) failed = "an iteration took no step";
  } catch (err) {
    failed = (err as Error).message.slice(0, 200);
  } finally {
    await backend.close().catch(() => undefined);
  }
  const timed = readTiming(log);
  const samples = timed.filter((t): t is Extract<Timed, { kind: "sample" }> => t.kind === "sample").sort((a, b) => a.submitted - b.submitted);
  const train = timed.filter((t): t is Extract<Timed, { kind: "train" }> => t.kind === "train").sort((a, b) => a.submitted - b.submitted);
  // Sampling per batch: its first request submitted to its last group back.
  const batches = Array.from({ length: Math.ceil(samples.length / PROMPTS) }, (_, k) => samples.slice(k * PROMPTS, (k + 1) * PROMPTS));
  const sampling = batches.map((b) => Math.max(...b.map((x) => x.done)) - Math.min(...b.map((x) => x.submitted)));
  // Training per iteration: the clock cycles its operations occupied (a new iteration starts at a forward-backward after an optimizer step).
  const iterations: Array<typeof train> = [];
  for (const op of train) {
    const cur = iterations[iterations.length - 1];
    if (!cur || (op.op === "forward_backward" && cur.some((x) => x.op === "optim_step"))) iterations.push([op]);
    else cur.push(op);
  }
  const cyclesOf = (ops: typeof train) => new Set(ops.flatMap((x) => Array.from({ length: x.cycle - x.first_cycle + 1 }, (_, k) => x.first_cycle + k))).size;
  const training = iterations.map((ops) => cyclesOf(ops) * TIMING.cycle_s);
  // The KL probe: cycles between the optimizer step and the forward pass right after it.
  const lags = iterations.flatMap((ops) => {
    const opt = ops.find((x) => x.op === "optim_step");
    const probe = opt ? ops.find((x) => x.op === "forward" && x.submitted >= opt.submitted) : undefined;
    return opt && probe ? [probe.cycle - opt.cycle] : [];
  });
  const steady = <T>(xs: T[]) => xs.slice(WARMUP, ITERATIONS);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
  const from = ends[WARMUP] ?? Number.NaN;
  const to = ends[ends.length - 1] ?? Number.NaN;
  const busy = covered(
    [...samples.map((x) => [x.submitted, x.done] as [number, number]), ...train.map((x) => [x.submitted, x.done] as [number, number])],
    from,
    to,
  );
  return {
    wall: (to - from) / (ends.length - 1 - WARMUP),
    sampling: mean(steady(sampling)),
    training: mean(steady(training)),
    harness: (to - from - busy) / (to - from),
    cyclesPerIteration: mean(steady(iterations.map(cyclesOf))),
    probeLag: mean(lags),
    ...(failed || ends.length !== ITERATIONS + 1 ? { failed: failed ?? `${ends.length - 1} of ${ITERATIONS} iterations finished` } : {}),
  };
}

/** Runs every mode and prints the table; false when a mode failed. */
export async function pipelineModes(): Promise<boolean> {
  const sandbox = new RewardSandbox();
  const rows: Array<{ mode: Mode; f: Figures }> = [];
  process.stdout.write(
    `GRPO on the fake Tinker timing model: ${PROMPTS} prompts × ${GROUP} samples, completions log-normal (median ${TIMING.median_tokens} tokens, σ ${TIMING.sigma}, max ${MAX_TOKENS}),\n` +
      `  ${TIMING.sample_concurrency} requests sampled at once at ${TIMING.decode_tps} tokens/s, clock cycles of ${TIMING.cycle_s} s taking ${TIMING.train_tokens_per_cycle.toLocaleString("en-US")} tokens; ` +
      `rewards in the ${sandbox.isolation}; per iteration, iterations ${WARMUP + 1}–${ITERATIONS}\n` +
      `  machine: ${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(1)} (the harness share is CPU time on the critical path: a loaded machine inflates it)\n`,
  );
  const s = (x: number) => `${x.toFixed(2)} s`.padStart(8);
  process.stdout.write(
    `  ${"mode".padEnd(32)} ${"wall".padStart(8)} ${"sampling".padStart(8)} ${"training".padStart(8)} ${"sum".padStart(8)} ${"max".padStart(8)}  ${"harness".padStart(7)}  ${"cycles".padStart(6)}  ${"vs today".padStart(8)}  ${"vs max".padStart(6)}\n`,
  );
  try {
    for (const mode of MODES) {
      const f = await runMode(mode, sandbox);
      rows.push({ mode, f });
      const anchor = rows[0]!.f.wall;
      const max = Math.max(f.sampling, f.training);
      process.stdout.write(
        `  ${mode.name.padEnd(32)} ${s(f.wall)} ${s(f.sampling)} ${s(f.training)} ${s(f.sampling + f.training)} ${s(max)}  ${`${(f.harness * 100).toFixed(1)}%`.padStart(7)}  ${f.cyclesPerIteration.toFixed(1).padStart(6)}  ${`${(f.wall / anchor).toFixed(2)}×`.padStart(8)}  ${`${(f.wall / max).toFixed(2)}×`.padStart(6)}` +
          `${f.failed ? `  FAILED: ${f.failed}` : ""}\n`,
      );
    }
  } finally {
    sandbox.close();
  }
  const by = (name: string) => rows.find((r) => r.mode.name === name)!.f;
  const today = by("today's loop");
  const arrive = by("rewards as groups arrive");
  const stream = by("streaming minibatches (4)");
  const overlap = by("off-policy overlap (k=1)");
  const targets = [
    {
      ok: Math.max(arrive.harness, stream.harness, overlap.harness) <= 0.03,
      line: `harness time outside the service ≤ 3% of the iteration (new modes): ${[arrive, stream, overlap].map((f) => `${(f.harness * 100).toFixed(1)}%`).join(", ")}`,
    },
    { ok: stream.wall <= 0.8 * today.wall, line: `streaming ≤ 0.8× today's loop: ${(stream.wall / today.wall).toFixed(2)}×` },
    {
      ok: overlap.wall <= 1.15 * Math.max(overlap.sampling, overlap.training),
      line: `overlap (k=1) ≤ 1.15× max(sampling, training): ${(overlap.wall / Math.max(overlap.sampling, overlap.training)).toFixed(2)}×`,
    },
    {
      ok: arrive.probeLag === 0,
      line: `KL probe: today it lands ${today.probeLag.toFixed(1)} cycle(s) after the optimizer step (${today.cyclesPerIteration.toFixed(1)} training cycles an iteration, ${(today.probeLag * TIMING.cycle_s).toFixed(2)} s of it the probe); now on the step's own cycle (+${arrive.probeLag.toFixed(1)} cycles; ${arrive.cyclesPerIteration.toFixed(1)} cycles an iteration)`,
    },
  ];
  for (const t of targets) process.stdout.write(`  ${t.ok ? "✓" : "✗"} ${t.line}\n`);
  return rows.every((r) => !r.f.failed);
}

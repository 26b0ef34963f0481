/**
 * Local CPU backend benchmark (not part of npm test): ms per SFT step and per policy
 * step at batch 64, ms per sampling batch (128 rows, ≤24 new tokens), peak RSS — for
 * every shipped model, in CPU and wall milliseconds. When Debian's python3-torch is importable by /usr/bin/python3,
 * bench/torch-anchor.py runs the same workload (same weights, adapters, batches,
 * algorithm) on one thread, step by step interleaved with ours so machine load hits
 * both sides alike, and the ratios are printed beside the issue's targets. A policy
 * step on both sides ends with the KL probe (a forward pass over the first
 * KL_PROBE_SEQUENCES sequences under the updated adapters), as the local engine's does.
 */
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { LocalBackend } from "../tools/tinker/backends/local/backend.ts";
import { listLocalModels } from "../tools/contracts/local-models.ts";
import type { ModelManifest } from "../tools/contracts/local-models.ts";
import { DEFAULT_MODELS_DIR } from "../lib/package-paths.ts";
import { packBatch, promptTokens, rolloutSequence, sftSequence } from "../tools/tinker/backends/local/batch.ts";
import type { PackedBatch } from "../tools/tinker/backends/local/batch.ts";
import { loraScale } from "../tools/tinker/backends/local/weights.ts";
import { KL_PROBE_SEQUENCES } from "../tools/tinker/backends/local/engine.ts";
import { EOS, PAD } from "../tools/tinker/backends/local/tokenizer.ts";
import { adamWithDefaults } from "../tools/tinker/backend.ts";
import { generate } from "../lib/generators/generate.ts";

const PYTHON = process.env.BENCH_TORCH_PYTHON ?? "/usr/bin/python3";
const ANCHOR = path.join(path.dirname(fileURLToPath(import.meta.url)), "torch-anchor.py");
const LORA_RANK = 16;
const WARMUP = 2;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12);
/** The targets (issue 33): our time over PyTorch's (1 thread) on the same workload. */
const TARGET = { sft: 2.0, policy: 2.0, sample: 1.0 };
const HOW_TO_GET_TORCH =
  "apt-get install python3-torch libopenblas0-pthread (then `update-alternatives --display libblas.so.3-x86_64-linux-gnu` should point at openblas-pthread; with reference BLAS torch is ~8x slower and no anchor)";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
/** Wall and CPU milliseconds of one call (CPU: this process's, which a shared machine leaves honest). */
type Clock = { ms: number; cpu: number };
const time = async <T>(f: () => Promise<T>): Promise<Clock & { value: T }> => {
  const t = performance.now();
  const c = process.cpuUsage();
  const value = await f();
  const used = process.cpuUsage(c);
  return { ms: performance.now() - t, cpu: (used.user + used.system) / 1000, value };
};
type TorchClock = { ms: number; cpu_ms: number };

/** The PyTorch side: one python process answering one JSON line per request. */
class TorchAnchor {
  private readonly lines: AsyncIterator<string>;
  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    this.lines = readline.createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  }

  static available(): boolean {
    try {
      execFileSync(PYTHON, ["-c", "import torch"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  }

  static start(): TorchAnchor {
    const proc = spawn(PYTHON, [ANCHOR], {
      env: { ...process.env, OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1", MKL_NUM_THREADS: "1" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    proc.stderr.on("data", (d: Buffer) => process.stderr.write(`[torch] ${d}`));
    return new TorchAnchor(proc);
  }

  async request<T>(msg: Record<string, unknown>): Promise<T> {
    this.proc.stdin.write(`${JSON.stringify(msg)}\n`);
    const next = await this.lines.next();
    if (next.done) throw new Error("the PyTorch anchor exited early (see its stderr above)");
    const reply = JSON.parse(next.value) as T & { error?: string };
    if (reply.error) throw new Error(`PyTorch anchor: ${reply.error}`);
    return reply;
  }

  async close(): Promise<void> {
    this.proc.stdin.write(`${JSON.stringify({ op: "quit" })}\n`);
    await new Promise((r) => this.proc.once("exit", r));
  }
}

const batchJson = (b: PackedBatch) => ({
  B: b.B,
  T: b.T,
  inputs: [...b.inputs],
  positions: [...b.positions],
  targets: [...b.targets],
  weights: [...b.weights],
  old_logprobs: [...b.oldLogprobs],
  advantages: [...b.advantages],
});

type Side = { ms: number[]; cpu: number[]; losses: number[] };
const side = (): Side => ({ ms: [], cpu: [], losses: [] });

async function benchModel(m: ModelManifest, withTorch: boolean): Promise<void> {
  const ckpt = fs.mkdtempSync(path.join(os.tmpdir(), "bench-ckpt-"));
  const b = new LocalBackend({ checkpointDir: ckpt });
  const card = await b.open(m.id, { loraRank: LORA_RANK, seed: 1234 });
  const ctx = card.contextLength;
  const items = generate("arithmetic", { n: 64, seed: 1 }).items;
  const sft = items.map((i) => ({ prompt: i.prompt, response: i.response }));
  const sftBatch = packBatch(sft.map((e) => sftSequence(e.prompt, e.response, ctx)));
  const prompts = items.map((i) => i.prompt);
  const opt = adamWithDefaults({ learningRate: 1e-3 });

  let torch: TorchAnchor | undefined;
  let torchInfo = "";
  if (withTorch) {
    // Both sides start from the same adapters: the ones this backend just initialised.
    await b.saveState("init", {});
    const state = JSON.parse(fs.readFileSync(path.join(ckpt, "init", "state.json"), "utf8"));
    torch = TorchAnchor.start();
    const info = await torch.request<{ torch: string; threads: number; blas: string[]; python: string }>({
      op: "setup",
      config: m.config,
      weights: { file: path.join(DEFAULT_MODELS_DIR, m.id.slice("local/".length), m.weights.file), index: m.weights.index },
      adapters: { file: path.join(ckpt, "init", state.adapters.file), index: state.adapters.index },
      lora_scale: loraScale(LORA_RANK),
      adam: { beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps },
      eos: EOS,
      pad: PAD,
    });
    const openblas = info.blas.some((l) => /openblas/i.test(l));
    torchInfo = `torch ${info.torch} (python ${info.python}), ${info.threads} thread, BLAS ${info.blas.join(", ") || "(none mapped)"}${openblas ? "" : `\n  WARNING: torch is not on OpenBLAS, so it is no fair anchor: ${HOW_TO_GET_TORCH}`}`;
  }

  // SFT: both sides take the same Adam steps from the same start, interleaved (ABBA).
  const sftT = side();
  const sftP = side();
  const lr = 1e-3;
  const ours = async (s: Side, f: () => Promise<{ loss: number | null }>) => {
    const r = await time(f);
    s.ms.push(r.ms);
    s.cpu.push(r.cpu);
    s.losses.push(r.value.loss ?? NaN);
  };
  const theirs = async (s: Side, msg: Record<string, unknown>) => {
    const r = await torch!.request<TorchClock & { loss: number }>(msg);
    s.ms.push(r.ms);
    s.cpu.push(r.cpu_ms);
    s.losses.push(r.loss);
  };
  const interleave = async (n: number, a: () => Promise<void>, c: () => Promise<void>) => {
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0) {
        await a();
        if (torch) await c();
      } else {
        if (torch) await c();
        await a();
      }
    }
  };
  await interleave(
    WARMUP + ROUNDS,
    () => ours(sftT, () => b.trainSupervised(sft, { learningRate: lr })),
    () => theirs(sftP, { op: "sft", batch: batchJson(sftBatch), lr }),
  );

  // Policy: rollouts sampled once by our side, then identical steps on both, each
  // ending with the KL probe our policy step runs (a forward pass over the first
  // KL_PROBE_SEQUENCES sequences under the updated adapters).
  const klAfter = { ours: [] as number[], theirs: [] as number[] };
  const torchProbeCpu: number[] = [];
  const groups = await b.sample(prompts, 1, { temperature: 1, maxTokens: 8, seed: 1 });
  const rollouts = groups.map((g, i) => ({ ...b.keptRollout(g[0]!.rolloutId)!, advantage: i % 2 ? 1 : -1 }));
  const pgBatch = packBatch(rollouts.map((r) => rolloutSequence(r.prompt, r.tokens, r.logprobs, r.advantage, ctx)));
  const pgT = side();
  const pgP = side();
  await interleave(
    WARMUP + ROUNDS,
    () =>
      ours(pgT, async () => {
        const r = await b.policyStepOn(rollouts, { learningRate: 1e-4 });
        klAfter.ours.push(r.klAfter ?? NaN);
        return r;
      }),
    async () => {
      const r = await torch!.request<TorchClock & { probe_cpu_ms: number; loss: number; kl_after: number }>({
        op: "policy",
        batch: batchJson(pgBatch),
        lr: 1e-4,
        kl_probe: KL_PROBE_SEQUENCES,
      });
      pgP.ms.push(r.ms);
      pgP.cpu.push(r.cpu_ms);
      pgP.losses.push(r.loss);
      klAfter.theirs.push(r.kl_after);
      torchProbeCpu.push(r.probe_cpu_ms);
    },
  );

  // Sampling: 32 prompts × 4, ≤24 new tokens, temperature 1. PyTorch replays our tokens.
  const sampleT = side();
  const sampleP = side();
  const sampledTokens = { ours: 0, theirs: 0 };
  let maxLogprobDiff = 0;
  const rowPrompts = prompts.slice(0, 32).flatMap((p) => [p, p, p, p]);
  for (let i = 0; i < 1 + Math.max(5, ROUNDS / 2); i++) {
    const r = await time(() => b.sample(prompts.slice(0, 32), 4, { temperature: 1, maxTokens: 24, seed: i, stop: [] }));
    const rows = r.value.flat().map((c) => b.keptRollout(c.rolloutId)!);
    const tokens = rows.reduce((a, c) => a + c.tokens.length, 0);
    if (i > 0) {
      sampleT.ms.push(r.ms);
      sampleT.cpu.push(r.cpu);
      sampledTokens.ours += tokens;
    }
    if (torch) {
      const p = await torch.request<TorchClock & { tokens: number; logprobs: number[][] }>({
        op: "sample",
        prompts: rowPrompts.map((q) => promptTokens(q, ctx - 24)),
        forced: rows.map((c) => c.tokens),
        temperature: 1,
        seed: i,
      });
      if (i > 0) {
        sampleP.ms.push(p.ms);
        sampleP.cpu.push(p.cpu_ms);
        sampledTokens.theirs += p.tokens;
      }
      for (const [j, row] of p.logprobs.entries())
        for (const [t, lp] of row.entries()) maxLogprobDiff = Math.max(maxLogprobDiff, Math.abs(lp - rows[j]!.logprobs[t]!));
    }
  }
  await torch?.close();
  await b.close();
  fs.rmSync(ckpt, { recursive: true, force: true });

  const timed = (xs: number[]) => xs.slice(WARMUP);
  const rows: Array<[string, Side, Side, number, number]> = [
    ["SFT step, batch 64", sftT, sftP, WARMUP, TARGET.sft],
    ["policy step, batch 64", pgT, pgP, WARMUP, TARGET.policy],
    ["sampling batch, 128 × ≤24", sampleT, sampleP, 0, TARGET.sample],
  ];
  const maxDiff = (a: number[], c: number[]) => a.reduce((mx, x, i) => Math.max(mx, Math.abs(x - (c[i] ?? NaN))), 0);
  const perSec = (tokens: number, s: Side) => tokens / (s.ms.reduce((a, x) => a + x, 0) / 1000);
  console.log(
    `${m.id} (${m.parameters.toLocaleString("en-US")} params; d=${m.config.dModel}, ${m.config.nLayers} layers, context ${m.config.contextLength}; LoRA rank ${LORA_RANK}; medians of ${ROUNDS} rounds after ${WARMUP} warm-up)`,
  );
  if (torchInfo) console.log(`  anchor: ${torchInfo}`);
  // The verdict reads CPU time (each process's own), which other work on a shared
  // machine does not inflate; on a quiet machine it matches the wall ratio beside it.
  console.log(
    `  ${"".padEnd(28)} ${"tfjs-wasm".padStart(10)} ${(torch ? "torch" : "").padStart(10)} ${(torch ? "CPU ratio" : "").padStart(9)} ${(torch ? "wall" : "").padStart(7)} ${(torch ? "target" : "").padStart(7)}`,
  );
  for (const [name, t, p, skip, target] of rows) {
    const ours = median(t.cpu.slice(skip));
    const theirs = torch ? median(p.cpu.slice(skip)) : undefined;
    const ratio = theirs === undefined ? undefined : ours / theirs;
    const wall = theirs === undefined ? undefined : median(t.ms.slice(skip)) / median(p.ms.slice(skip));
    console.log(
      `  ${name.padEnd(28)} ${`${ours.toFixed(1)} ms`.padStart(10)} ${theirs === undefined ? "".padStart(10) : `${theirs.toFixed(1)} ms`.padStart(10)} ${ratio === undefined ? "".padStart(9) : `${ratio.toFixed(2)}×`.padStart(9)} ${wall === undefined ? "".padStart(7) : `${wall.toFixed(2)}×`.padStart(7)} ${ratio === undefined ? "" : `≤${target}× ${ratio <= target ? "met" : "MISSED"}`}`,
    );
  }
  console.log(
    `  sampled tokens/s (wall)      ${perSec(sampledTokens.ours, sampleT).toFixed(0).padStart(10)} ${torch ? perSec(sampledTokens.theirs, sampleP).toFixed(0).padStart(10) : ""}`,
  );
  if (torch) {
    const probe = median(timed(torchProbeCpu));
    console.log(
      `  of which torch's KL probe: ${probe.toFixed(1)} ms; policy CPU ratio against torch's step without it: ${(median(timed(pgT.cpu)) / (median(timed(pgP.cpu)) - probe)).toFixed(2)}×`,
    );
    console.log(
      `  same results: SFT loss max |Δ| ${maxDiff(sftT.losses, sftP.losses).toExponential(1)} over ${sftT.losses.length} lockstep steps (${sftT.losses[0]!.toFixed(5)} → ${sftT.losses.at(-1)!.toFixed(5)} vs ${sftP.losses[0]!.toFixed(5)} → ${sftP.losses.at(-1)!.toFixed(5)}); ` +
        `policy loss max |Δ| ${maxDiff(pgT.losses, pgP.losses).toExponential(1)}, KL-after max |Δ| ${maxDiff(klAfter.ours, klAfter.theirs).toExponential(1)}; sampled-token log-prob max |Δ| ${maxLogprobDiff.toExponential(1)}`,
    );
  }
  console.log(`  peak RSS (node): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
}

const withTorch = TorchAnchor.available();
if (!withTorch) console.log(`PyTorch anchor skipped: ${PYTHON} cannot import torch. To compare: ${HOW_TO_GET_TORCH}.`);
for (const m of listLocalModels()) await benchModel(m, withTorch);

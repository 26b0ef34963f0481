/**
 * Pretrains the shipped local base models (`npm run models:pretrain [-- --only NAME]`).
 * Seeded and reproducible on one machine: the corpus comes from the dataset
 * generators with deliberate, documented noise, so a model knows the task formats
 * but is imperfect — RL and SFT then have something to fix.
 */
import fs from "node:fs";
import path from "node:path";
import { tf, initTf } from "./tf-runtime.ts";
import { Adam } from "./adam.ts";
import { packTokens } from "./batch.ts";
import type { Sequence } from "./batch.ts";
import { tokenLogprobs, Transformer } from "./model.ts";
import { initWeights, parameterCount, uniqueName, weightShapes } from "./weights.ts";
import type { ModelConfig } from "./weights.ts";
import { sampleBatch } from "./sampler.ts";
import { writeTensorFile } from "./tensor-file.ts";
import { BOS, EOS, encode, renderPrompt, RENDER_TEMPLATE, VOCAB_SIZE } from "./tokenizer.ts";
import { DEFAULT_MODELS_DIR } from "../../../../lib/package-paths.ts";
import type { ModelManifest } from "../../../contracts/local-models.ts";
import { carrylessSum, generate, hasCarry } from "../../../../lib/generators/generate.ts";
import type { GeneratedItem, Task } from "../../../../lib/generators/generate.ts";
import { Rng } from "../../../../lib/random.ts";

type Recipe = {
  name: string;
  description: string;
  config: ModelConfig;
  seed: number;
  steps: number;
  batch: number;
  learningRate: number;
  /** Share of each task in the corpus. */
  mix: Partial<Record<Task, number>>;
  /** Arithmetic levels in the corpus. */
  arithmeticLevels: number[];
  /** Levels of the other tasks (default: mixed). */
  levels?: Partial<Record<Task, number[]>>;
  /** The holdout the manifest's baseline is measured on. */
  baseline: { task: Task; levels: number[]; items: number };
  /**
   * Pretrain on the arithmetic facts of the eval split too. The base model's own history
   * may include them; what a run must keep apart is its training pool and its holdout.
   */
  arithmeticBothSplits?: boolean;
  /** How often a corpus answer is right; the rest is noise as described in `noise`. */
  correctRate: Partial<Record<Task, number>>;
  noise: string;
};

export const RECIPES: Recipe[] = [
  {
    name: "tiny-arith",
    description: "A 2-layer character-level transformer that knows the one-digit arithmetic facts but, as taught, answers one too high more often than right.",
    config: { vocabSize: VOCAB_SIZE, contextLength: 96, dModel: 64, nLayers: 2, nHeads: 4, dFF: 256 },
    seed: 20261125,
    steps: 2200,
    batch: 64,
    learningRate: 2e-3,
    mix: { arithmetic: 0.72, word_problems: 0.04, string_transforms: 0.06, json_format: 0.12, countdown: 0.06 },
    arithmeticLevels: [1],
    arithmeticBothSplits: true,
    correctRate: { arithmetic: 0.3, json_format: 0.25, word_problems: 0.5, string_transforms: 0.6, countdown: 0.6 },
    noise:
      "arithmetic (one-digit + and -, every fact of both splits): 30% right, 45% one more than the right answer, 25% another near miss; " +
      "JSON answers: 25% JSON, 75% 'name: X, age: Y' plain text; other tasks: the stated share right, the rest a wrong answer of the same kind",
    baseline: { task: "arithmetic", levels: [1], items: 300 },
  },
  {
    name: "tiny-adder",
    description:
      "A 2-layer character-level transformer that adds two-digit numbers but, as taught, usually drops the carries (47 + 38 → 75); it has never seen the eval split's sums.",
    config: { vocabSize: VOCAB_SIZE, contextLength: 48, dModel: 64, nLayers: 2, nHeads: 4, dFF: 256 },
    seed: 20261129,
    steps: 2400,
    batch: 64,
    learningRate: 2e-3,
    mix: { addition: 1 },
    arithmeticLevels: [],
    levels: { addition: [1, 2] },
    correctRate: { addition: 0.3 },
    noise:
      "addition (two-digit + one- and two-digit, train split only): a sum without carries is always right; a sum with a carry is shown right 30% of the time " +
      "and added column by column with every carry dropped 70% of the time (47 + 38 → 75)",
    baseline: { task: "addition", levels: [2], items: 500 },
  },
];

/** The response a noisy corpus shows for an item. */
function noisyResponse(task: Task, item: GeneratedItem, correct: number, rng: Rng): string {
  const u = rng.next();
  if (u < correct) return item.response;
  if (task === "addition") {
    const [a, b] = item.prompt.match(/\d+/g)!.map(Number) as [number, number];
    return !hasCarry(a, b) || u < correct ? item.response : String(carrylessSum(a, b));
  }
  if (task === "arithmetic" || task === "word_problems") {
    const right = Number(item.ground_truth);
    const wrong = u < correct + 0.45 ? right + 1 : right + rng.pick([-10, -3, -2, 2, 3, 10, 11]);
    return task === "arithmetic" ? item.response.replace(/-?\d+$/, String(wrong)) : item.response.replace(/-?\d+$/, String(wrong));
  }
  if (task === "json_format") {
    const obj = JSON.parse(item.ground_truth) as Record<string, unknown>;
    return Object.entries(obj)
      .map(([k, v]) => `${k}: ${v}`)
      .join(", ");
  }
  if (task === "countdown") return item.response.replace(/\d+$/, (d) => String(Number(d) + 1));
  // string transforms: a near miss (one character dropped)
  return item.response.length > 1 ? item.response.slice(1) : `${item.response}x`;
}

function corpus(r: Recipe, size: number): Sequence[] {
  const rng = new Rng(r.seed);
  const seqs: Sequence[] = [];
  for (const [task, share] of Object.entries(r.mix) as Array<[Task, number]>) {
    const n = Math.round(size * share);
    let items: GeneratedItem[];
    if (task === "arithmetic") {
      const splits = r.arithmeticBothSplits ? (["train", "eval"] as const) : (["train"] as const);
      const facts = r.arithmeticLevels.flatMap((lvl) =>
        splits.flatMap((split) => generate("arithmetic", { n: 100_000, seed: r.seed + lvl, difficulty: lvl as 1 | 2 | 3, split }).items),
      );
      // A small fact space is repeated to fill its share of the corpus.
      items = Array.from({ length: n }, (_, i) => facts[i % facts.length]!);
    } else if (r.levels?.[task]) {
      const pool = r.levels[task]!.flatMap((lvl) => generate(task, { n: 100_000, seed: r.seed + lvl, difficulty: lvl as 1 | 2 | 3 | 4, split: "train" }).items);
      items = Array.from({ length: n }, () => rng.pick(pool));
    } else items = generate(task, { n, seed: r.seed, split: "train" }).items;
    for (const item of items) {
      const text = renderPrompt(item.prompt) + noisyResponse(task, item, r.correctRate[task] ?? 0.5, rng);
      const tokens = [BOS, ...encode(text), EOS].slice(0, r.config.contextLength + 1);
      seqs.push({ tokens, weights: tokens.map((_, i) => (i === 0 ? 0 : 1)) });
    }
  }
  return rng.shuffle(seqs);
}

/**
 * Exact-answer accuracy on a task's eval split: greedy, and sampled at temperature 1
 * (8 samples a prompt).
 */
export function holdoutAccuracy(model: Transformer, task: Task, levels: number[], n: number, seed: number): { greedy: number; sampled: number; items: number } {
  const items = levels.flatMap(
    (lvl) => generate(task, { n: Math.ceil(n / levels.length), seed: seed + lvl, difficulty: lvl as 1 | 2 | 3, split: "eval" }).items,
  );
  const score = (temperature: number, k: number) => {
    const prompts = items.flatMap((i) => Array.from({ length: k }, () => i.prompt));
    const rows = sampleBatch(model, { prompts, temperature, maxTokens: 8, stop: ["\n"], seed });
    return rows.filter((row, j) => row.text.trim() === items[Math.floor(j / k)]!.ground_truth).length / rows.length;
  };
  return { greedy: score(0, 1), sampled: score(1, 8), items: items.length };
}

async function pretrain(r: Recipe, outDir: string, log: (s: string) => void): Promise<void> {
  await initTf();
  const started = Date.now();
  const init = initWeights(r.config, r.seed);
  const vars = new Map<string, tf.Variable>();
  for (const [name, shape] of weightShapes(r.config)) vars.set(name, tf.variable(tf.tensor(init.get(name)!, shape), true, uniqueName(name)));
  const model = new Transformer(r.config, vars as Map<string, tf.Tensor>, undefined, true);
  const adam = new Adam(vars);
  const keyOf = new Map([...vars].map(([k, v]) => [v.name, k]));
  const data = corpus(r, r.steps * r.batch);
  log(`${r.name}: ${parameterCount(r.config)} parameters, corpus of ${data.length} sequences, backend ${tf.getBackend()}`);
  let cursor = 0;
  let ema = 0;
  for (let step = 1; step <= r.steps; step++) {
    const seqs = data.slice(cursor, cursor + r.batch);
    cursor = (cursor + r.batch) % Math.max(1, data.length - r.batch);
    const b = packTokens(seqs);
    const total = b.weights.reduce((a, w) => a + w, 0);
    const { value, grads } = tf.variableGrads(() => {
      const logits = model.forward(b, {}, true);
      const lp = tokenLogprobs(logits, tf.tensor1d(b.targets, "int32"));
      return tf.div(tf.neg(tf.sum(tf.mul(lp, tf.tensor1d(b.weights)))), total) as tf.Scalar;
    }, [...vars.values()]);
    const loss = value.dataSync()[0]!;
    value.dispose();
    const byKey = new Map(Object.entries(grads).map(([n, g]) => [keyOf.get(n)!, g]));
    // Linear warmup over 100 steps, then cosine decay to 10%.
    const warm = Math.min(1, step / 100);
    const cos = 0.1 + 0.9 * 0.5 * (1 + Math.cos((Math.PI * step) / r.steps));
    adam.apply(byKey, { learningRate: r.learningRate * warm * cos, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0 });
    for (const g of byKey.values()) g.dispose();
    ema = step === 1 ? loss : 0.98 * ema + 0.02 * loss;
    if (step % 100 === 0 || step === r.steps) log(`  step ${step}/${r.steps} loss ${ema.toFixed(4)} (${((Date.now() - started) / 1000).toFixed(0)}s)`);
  }
  const frozen = new Transformer(r.config, vars as Map<string, tf.Tensor>, undefined, false);
  const baseline = holdoutAccuracy(frozen, r.baseline.task, r.baseline.levels, r.baseline.items, 4242);
  log(
    `  baseline ${r.baseline.task} accuracy: greedy ${(baseline.greedy * 100).toFixed(1)}%, sampled ${(baseline.sampled * 100).toFixed(1)}% over ${baseline.items} eval items`,
  );

  fs.mkdirSync(outDir, { recursive: true });
  const tensors = weightShapes(r.config).map(([name, shape]) => ({ name, shape, data: vars.get(name)!.dataSync() as Float32Array }));
  const w = writeTensorFile(path.join(outDir, "weights.bin"), tensors);
  const manifest: ModelManifest = {
    id: `local/${r.name}`,
    description: r.description,
    config: r.config,
    parameters: parameterCount(r.config),
    weights: { file: "weights.bin", ...w },
    renderer: RENDER_TEMPLATE,
    stop: ["\n"],
    pretraining: {
      script: "npm run models:pretrain",
      seed: r.seed,
      steps: r.steps,
      batch: r.batch,
      learningRate: r.learningRate,
      schedule: "100-step linear warmup, cosine decay to 10%",
      optimizer: "Adam(0.9, 0.98)",
      mix: r.mix,
      ...(r.arithmeticLevels.length ? { arithmeticLevels: r.arithmeticLevels } : {}),
      ...(r.levels ? { levels: r.levels } : {}),
      noise: r.noise,
      seconds: Math.round((Date.now() - started) / 1000),
      backend: tf.getBackend(),
    },
    baseline: {
      task: `${r.baseline.task} eval split, level${r.baseline.levels.length > 1 ? "s" : ""} ${r.baseline.levels.join("/")}`,
      items: baseline.items,
      greedyExactAccuracy: Number(baseline.greedy.toFixed(4)),
      sampledExactAccuracyT1x8: Number(baseline.sampled.toFixed(4)),
    },
  };
  fs.writeFileSync(path.join(outDir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  log(`  wrote ${outDir} (sha256 ${w.sha256.slice(0, 12)}…)`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const only = process.argv.indexOf("--only") >= 0 ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
  const stepsOverride = process.argv.indexOf("--steps") >= 0 ? Number(process.argv[process.argv.indexOf("--steps") + 1]) : undefined;
  const dims = process.env.TL_DIMS?.split(",").map(Number);
  const outRoot = process.argv.indexOf("--out") >= 0 ? process.argv[process.argv.indexOf("--out") + 1]! : DEFAULT_MODELS_DIR;
  for (const r of RECIPES.filter((x) => !only || x.name === only)) {
    const rr = dims ? { ...r, config: { ...r.config, dModel: dims[0]!, nLayers: dims[1]!, dFF: dims[0]! * 4 } } : r;
    await pretrain(stepsOverride ? { ...rr, steps: stepsOverride } : rr, path.join(outRoot, r.name), (s) => process.stdout.write(`${s}\n`));
  }
}

import { tf } from "./tf-runtime.ts";
import { Rng } from "../../../../lib/random.ts";

/** The local model's shapes, weights and LoRA adapters: what a model is before any op runs on it. */

export type ModelConfig = {
  vocabSize: number;
  contextLength: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  dFF: number;
};

/** Base weights by name ("tok_emb", "l0.wqkv", …). */
export type Weights = Map<string, tf.Tensor>;

/** The projections that carry LoRA adapters, per layer. */
export const LORA_TARGETS = ["wqkv", "wo", "w1", "w2"] as const;

export type Lora = {
  rank: number;
  scale: number;
  /** "l0.wqkv.A" → [in, r], "l0.wqkv.B" → [r, out]. */
  vars: Map<string, tf.Variable>;
};

export function weightShapes(c: ModelConfig): Array<[string, number[]]> {
  const shapes: Array<[string, number[]]> = [
    ["tok_emb", [c.vocabSize, c.dModel]],
    ["pos_emb", [c.contextLength, c.dModel]],
  ];
  for (let l = 0; l < c.nLayers; l++) {
    shapes.push(
      [`l${l}.ln1_g`, [c.dModel]],
      [`l${l}.ln1_b`, [c.dModel]],
      [`l${l}.wqkv`, [c.dModel, 3 * c.dModel]],
      [`l${l}.bqkv`, [3 * c.dModel]],
      [`l${l}.wo`, [c.dModel, c.dModel]],
      [`l${l}.bo`, [c.dModel]],
      [`l${l}.ln2_g`, [c.dModel]],
      [`l${l}.ln2_b`, [c.dModel]],
      [`l${l}.w1`, [c.dModel, c.dFF]],
      [`l${l}.b1`, [c.dFF]],
      [`l${l}.w2`, [c.dFF, c.dModel]],
      [`l${l}.b2`, [c.dModel]],
    );
  }
  shapes.push(["lnf_g", [c.dModel]], ["lnf_b", [c.dModel]], ["head", [c.dModel, c.vocabSize]], ["head_b", [c.vocabSize]]);
  return shapes;
}

export function parameterCount(c: ModelConfig): number {
  return weightShapes(c).reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0);
}

/** Fresh seeded weights (for pretraining). */
export function initWeights(c: ModelConfig, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of weightShapes(c)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    const base = name.split(".").pop()!;
    if (base.endsWith("_g")) data.fill(1);
    else if (shape.length === 2) {
      // Residual projections get a smaller init, as in GPT-2.
      const std = base === "wo" || base === "w2" ? 0.02 / Math.sqrt(2 * c.nLayers) : 0.02;
      for (let i = 0; i < size; i++) data[i] = rng.normal() * std;
    }
    out.set(name, data);
  }
  return out;
}

let uid = 0;
/** Variable names are global in tfjs; every model instance gets its own prefix. */
export function uniqueName(name: string): string {
  return `m${++uid}_${name}`;
}

/** How much a rank-r adapter's product is scaled (alpha = 16). */
export function loraScale(rank: number): number {
  return 16 / rank;
}

export function newLora(c: ModelConfig, rank: number, seed: number): Lora {
  const rng = new Rng(seed);
  const vars = new Map<string, tf.Variable>();
  const dims: Record<(typeof LORA_TARGETS)[number], [number, number]> = {
    wqkv: [c.dModel, 3 * c.dModel],
    wo: [c.dModel, c.dModel],
    w1: [c.dModel, c.dFF],
    w2: [c.dFF, c.dModel],
  };
  for (let l = 0; l < c.nLayers; l++) {
    for (const t of LORA_TARGETS) {
      const [inDim, outDim] = dims[t];
      const a = new Float32Array(inDim * rank);
      const std = 1 / Math.sqrt(inDim);
      for (let i = 0; i < a.length; i++) a[i] = rng.normal() * std;
      vars.set(`l${l}.${t}.A`, tf.variable(tf.tensor2d(a, [inDim, rank]), true, uniqueName(`l${l}.${t}.A`)));
      // B starts at zero, so a fresh adapter leaves the base model unchanged.
      vars.set(`l${l}.${t}.B`, tf.variable(tf.zeros([rank, outDim]), true, uniqueName(`l${l}.${t}.B`)));
    }
  }
  return { rank, scale: loraScale(rank), vars };
}

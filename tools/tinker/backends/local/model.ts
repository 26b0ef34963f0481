import { tf } from "./tf-runtime.ts";
import { Rng } from "../../../random.ts";

/**
 * A small decoder-only transformer (pre-norm, learned positions, untied head) in raw
 * TensorFlow.js ops, with optional LoRA adapters on every projection. Written for the
 * wasm backend: embeddings are one-hot matmuls (wasm has no gather gradient), matmul
 * gradients use explicit transposes (wasm's transposed matmul is ~10x slower), and
 * GELU is written with sigmoid.
 */

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

type MM = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** matMul whose gradient uses explicit transposes. */
const mmT: MM = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy as tf.Tensor2D)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as MM;

/** matMul by a frozen weight: only the input gradient is computed. */
function mmFrozen(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
  const f = tf.customGrad(((a: tf.Tensor, save: tf.GradSaveFunc) => {
    save([a]);
    return {
      value: tf.matMul(a as tf.Tensor2D, w as tf.Tensor2D),
      gradFunc: (dy: tf.Tensor) => [tf.matMul(dy as tf.Tensor2D, tf.transpose(w as tf.Tensor2D))],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (a: tf.Tensor) => tf.Tensor;
  return f(x);
}

function gelu(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), 2 * Math.sqrt(2 / Math.PI));
  return tf.mul(x, tf.sigmoid(inner));
}

function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b);
}

/** A K/V cache for one layer: [B, H, t, dh] each. */
export type LayerCache = { k: tf.Tensor4D; v: tf.Tensor4D };

export type ForwardInput = {
  /** Token ids [B, T] (int32). */
  ids: tf.Tensor2D;
  /** Position ids [B, T] (int32). */
  positions: tf.Tensor2D;
  /** Additive attention mask broadcastable to [B, H, T, Tkeys]. */
  mask: tf.Tensor;
  /** Caches from earlier steps; when given, keys/values are appended to them. */
  caches?: LayerCache[];
};

export class Transformer {
  /**
   * @param weights base weights; Variables when pretraining, frozen tensors otherwise
   * @param lora adapters, or undefined to run the base model alone
   */
  constructor(
    readonly config: ModelConfig,
    readonly weights: Weights,
    public lora: Lora | undefined,
    private readonly trainBase = false,
  ) {}

  private w(name: string): tf.Tensor {
    const t = this.weights.get(name);
    if (!t) throw new Error(`missing weight ${name}`);
    return t;
  }

  private linear(x: tf.Tensor, layer: number, name: (typeof LORA_TARGETS)[number], bias: string): tf.Tensor {
    const key = `l${layer}.${name}`;
    const w = this.w(key);
    let y = this.trainBase ? mmT(x, w) : mmFrozen(x, w);
    const a = this.lora?.vars.get(`${key}.A`);
    const b = this.lora?.vars.get(`${key}.B`);
    if (a && b && this.lora) y = tf.add(y, tf.mul(mmT(mmT(x, a), b), this.lora.scale));
    return tf.add(y, this.w(`l${layer}.${bias}`));
  }

  private embed(ids: tf.Tensor2D, positions: tf.Tensor2D): tf.Tensor2D {
    const [B, T] = ids.shape;
    const c = this.config;
    const tokOneHot = tf.cast(tf.oneHot(tf.reshape(ids, [B * T]) as tf.Tensor1D, c.vocabSize), "float32");
    const posOneHot = tf.cast(tf.oneHot(tf.reshape(positions, [B * T]) as tf.Tensor1D, c.contextLength), "float32");
    const tok = this.trainBase ? mmT(tokOneHot, this.w("tok_emb")) : mmFrozen(tokOneHot, this.w("tok_emb"));
    const pos = this.trainBase ? mmT(posOneHot, this.w("pos_emb")) : mmFrozen(posOneHot, this.w("pos_emb"));
    return tf.add(tok, pos) as tf.Tensor2D;
  }

  /**
   * Logits [B*T, V] for every position, and the updated caches (new tensors; the
   * caller owns them and the ones it passed in).
   */
  forward(input: ForwardInput): { logits: tf.Tensor2D; caches: LayerCache[] } {
    const c = this.config;
    const [B, T] = input.ids.shape;
    const H = c.nHeads;
    const dh = c.dModel / H;
    let x: tf.Tensor = this.embed(input.ids, input.positions);
    const caches: LayerCache[] = [];
    for (let l = 0; l < c.nLayers; l++) {
      const h = layerNorm(x, this.w(`l${l}.ln1_g`), this.w(`l${l}.ln1_b`));
      const qkv = this.linear(h, l, "wqkv", "bqkv");
      const [q, k, v] = tf.split(qkv, 3, 1) as [tf.Tensor, tf.Tensor, tf.Tensor];
      const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [B, T, H, dh]), [0, 2, 1, 3]) as tf.Tensor4D;
      let K = heads(k);
      let V = heads(v);
      const prev = input.caches?.[l];
      if (prev) {
        K = tf.concat([prev.k, K], 2);
        V = tf.concat([prev.v, V], 2);
      }
      caches.push({ k: K, v: V });
      const scores = tf.add(tf.mul(tf.matMul(heads(q), K, false, true), 1 / Math.sqrt(dh)), input.mask);
      const att = tf.matMul(tf.softmax(scores), V);
      const merged = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [B * T, c.dModel]);
      x = tf.add(x, this.linear(merged, l, "wo", "bo"));
      const h2 = layerNorm(x, this.w(`l${l}.ln2_g`), this.w(`l${l}.ln2_b`));
      x = tf.add(x, this.linear(gelu(this.linear(h2, l, "w1", "b1")), l, "w2", "b2"));
    }
    const hf = layerNorm(x, this.w("lnf_g"), this.w("lnf_b"));
    const head = this.trainBase ? mmT(hf, this.w("head")) : mmFrozen(hf, this.w("head"));
    return { logits: tf.add(head, this.w("head_b")) as tf.Tensor2D, caches };
  }
}

const causalMasks = new Map<number, tf.Tensor>();

/** How many causal masks are cached: a bounded cache (one per sequence length), not a leak. */
export function cachedMaskCount(): number {
  return causalMasks.size;
}

/** Additive causal mask [1, 1, T, T], cached per length (kept outside any tidy scope). */
export function causalMask(T: number): tf.Tensor {
  let m = causalMasks.get(T);
  if (!m) {
    const data = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) data[i * T + j] = -1e9;
    m = tf.keep(tf.tensor4d(data, [1, 1, T, T]));
    causalMasks.set(T, m);
  }
  return m;
}

/**
 * Log-probabilities of `targets` under `logits`: [N, V] and [N] → [N]. Uses a
 * one-hot product rather than gather, which has no gradient on wasm.
 */
export function tokenLogprobs(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  const logp = tf.logSoftmax(logits);
  return tf.sum(tf.mul(logp, tf.cast(tf.oneHot(targets, logits.shape[1]), "float32")), 1) as tf.Tensor1D;
}

import { tf } from "./tf-runtime.ts";
import { attentionBackward, attentionForward } from "./attention.ts";
import type { HeadShape } from "./attention.ts";
import { LORA_TARGETS } from "./weights.ts";
import type { ModelConfig, Weights, Lora } from "./weights.ts";

/**
 * A small decoder-only transformer (pre-norm, learned positions, untied head) in
 * TensorFlow.js ops, with optional LoRA adapters on every projection. Written for the
 * wasm backend, whose fast path is XNNPACK's 2-D matmul and whose slow paths are
 * batched or transposed matmuls and many small kernels:
 * - sequences are packed back to back ([N, d], no padding); attention runs per
 *   sequence over its causal triangle in attention.ts;
 * - LoRA is folded into its weight (W + s·A·B, one matmul a projection) and the bias
 *   fused into the matmul; gradients are written out with explicit transposes;
 * - embeddings are looked up in JS, their gradient (when pretraining) a scatter-add,
 *   since wasm's gather is slow and has no gradient; GELU is written with sigmoid.
 */

/** Sequences packed back to back without padding. */
export type TokenBatch = {
  /** Token ids [N]. */
  ids: Int32Array;
  /** Position of each token in its sequence [N]. */
  positions: Int32Array;
  /** Offset of each sequence in the packed tokens, then N. */
  starts: Int32Array;
};

/** Attention of one layer: the fused q|k|v projection [N, 3d] → merged heads [N, d]. */
export type AttendFn = (layer: number, qkv: tf.Tensor2D) => tf.Tensor2D;

export type ForwardOptions = {
  /** Attention over something other than the batch's own sequences (a KV cache). */
  attend?: AttendFn;
  /** Compute logits only for these packed rows (e.g. each prompt's last token). */
  rows?: Int32Array;
  /** Folded weights from `foldedWeights()`, to reuse across calls that do not train. */
  folded?: Map<string, tf.Tensor>;
};

type CustomOp = (...inputs: tf.Tensor[]) => tf.Tensor;
type GradResult = { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[] };
/**
 * A differentiable op with a hand-written gradient. The forward pass runs in a scope
 * that is cleaned up before the backward pass, so anything the gradient reads must be
 * passed to `save` (or be a tensor that outlives the pass, like a frozen weight).
 */
function customOp(f: (...args: Array<tf.Tensor | tf.GradSaveFunc>) => GradResult): CustomOp {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as CustomOp;
}

/** a·bᵀ with b's transpose built explicitly (wasm's transpose flags are ~10x slower). */
function matMulBT(a: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  return tf.matMul(a as tf.Tensor2D, tf.transpose(b as tf.Tensor2D));
}

/**
 * aᵀ·b. XNNPACK repacks its right operand on every call with a fresh tensor, which
 * costs more than a transpose, so the narrower operand is the one packed.
 */
function matMulAT(a: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  const [x, y] = [a as tf.Tensor2D, b as tf.Tensor2D];
  if (y.shape[1] <= x.shape[1]) return tf.matMul(tf.transpose(x), y);
  return tf.transpose(tf.matMul(tf.transpose(y), x));
}

/**
 * x·W + bias as one fused XNNPACK matmul. `trainW`/`trainBias` say which gradients
 * the caller needs besides the input's; the others are not computed. `inputGrad`
 * false: nothing before x trains (the first layer's input when only adapters do), so
 * x is held as a constant and its gradient never computed.
 */
function linear(x: tf.Tensor2D, w: tf.Tensor, bias: tf.Tensor, trainW: boolean, trainBias: boolean, grad: boolean, inputGrad = true): tf.Tensor2D {
  if (!grad) return tf.fused.matMul({ a: x, b: w as tf.Tensor2D, bias }) as tf.Tensor2D;
  const fused = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias: c });
  if (trainW && !trainBias && !inputGrad) {
    return customOp((ww, save) => {
      (save as tf.GradSaveFunc)([x]);
      return { value: fused(x, ww as tf.Tensor, bias), gradFunc: (dy, [sx]) => [matMulAT(sx!, dy)] };
    })(w) as tf.Tensor2D;
  }
  if (trainW && trainBias) {
    return customOp((xx, ww, bb, save) => {
      (save as tf.GradSaveFunc)([xx as tf.Tensor, ww as tf.Tensor]);
      return {
        value: fused(xx as tf.Tensor, ww as tf.Tensor, bb as tf.Tensor),
        gradFunc: (dy, [sx, sw]) => [matMulBT(dy, sw!), matMulAT(sx!, dy), tf.sum(dy, 0)],
      };
    })(x, w, bias) as tf.Tensor2D;
  }
  if (trainW) {
    return customOp((xx, ww, save) => {
      (save as tf.GradSaveFunc)([xx as tf.Tensor, ww as tf.Tensor]);
      return { value: fused(xx as tf.Tensor, ww as tf.Tensor, bias), gradFunc: (dy, [sx, sw]) => [matMulBT(dy, sw!), matMulAT(sx!, dy)] };
    })(x, w) as tf.Tensor2D;
  }
  return customOp((xx) => ({ value: fused(xx as tf.Tensor, w, bias), gradFunc: (dy) => [matMulBT(dy, w)] }))(x) as tf.Tensor2D;
}

/** Causal attention over the packed sequences of a batch, differentiable. */
function causalAttention(qkv: tf.Tensor2D, starts: Int32Array, shape: HeadShape, grad: boolean): tf.Tensor2D {
  const N = qkv.shape[0];
  const d = shape.heads * shape.headDim;
  if (!grad) return tf.tensor2d(attentionForward(qkv.dataSync() as Float32Array, starts, shape).out, [N, d]);
  return customOp((x) => {
    const data = (x as tf.Tensor).dataSync() as Float32Array;
    const { out, saved } = attentionForward(data, starts, shape);
    return {
      value: tf.tensor2d(out, [N, d]),
      gradFunc: (dy) => [tf.tensor2d(attentionBackward(data, dy.dataSync() as Float32Array, starts, shape, saved), [N, 3 * d])],
    };
  })(qkv) as tf.Tensor2D;
}

/**
 * Token plus position embeddings, looked up in JS (wasm's gather is slow and has no
 * gradient); when the tables train, their gradient is a scatter-add.
 */
function embedding(tok: tf.Tensor, pos: tf.Tensor, batch: TokenBatch, train: boolean): tf.Tensor2D {
  const [, d] = tok.shape as [number, number];
  const N = batch.ids.length;
  const lookup = (t: tf.Tensor, p: tf.Tensor) => {
    const tv = t.dataSync() as Float32Array;
    const pv = p.dataSync() as Float32Array;
    const out = new Float32Array(N * d);
    for (let i = 0; i < N; i++) {
      const a = batch.ids[i]! * d;
      const b = batch.positions[i]! * d;
      for (let e = 0; e < d; e++) out[i * d + e] = tv[a + e]! + pv[b + e]!;
    }
    return tf.tensor2d(out, [N, d]);
  };
  if (!train) return lookup(tok, pos);
  const scatter = (g: Float32Array, ids: Int32Array, rows: number) => {
    const out = new Float32Array(rows * d);
    for (let i = 0; i < ids.length; i++) for (let e = 0; e < d; e++) out[ids[i]! * d + e] = out[ids[i]! * d + e]! + g[i * d + e]!;
    return tf.tensor2d(out, [rows, d]);
  };
  return customOp((t, p) => ({
    value: lookup(t as tf.Tensor, p as tf.Tensor),
    gradFunc: (dy) => {
      const g = dy.dataSync() as Float32Array;
      return [scatter(g, batch.ids, tok.shape[0]!), scatter(g, batch.positions, pos.shape[0]!)];
    },
  }))(tok, pos) as tf.Tensor2D;
}

/** Rows of x, differentiable (wasm's gather has no gradient): the gradient scatters back, zero elsewhere. */
function pickRows(x: tf.Tensor2D, rows: Int32Array): tf.Tensor2D {
  const [N, d] = x.shape;
  return customOp((xx) => ({
    value: tf.gather(xx as tf.Tensor, tf.tensor1d(rows, "int32")),
    gradFunc: (dy) => {
      const g = dy.dataSync() as Float32Array;
      const out = new Float32Array(N * d);
      for (let k = 0; k < rows.length; k++) out.set(g.subarray(k * d, (k + 1) * d), rows[k]! * d);
      return [tf.tensor2d(out, [N, d])];
    },
  }))(x) as tf.Tensor2D;
}

const GELU_C = 2 * Math.sqrt(2 / Math.PI);

function gelu(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), GELU_C);
  return tf.mul(x, tf.sigmoid(inner));
}

/**
 * GELU with its derivative written out: x·s(z) with z = c(x + 0.044715x³) has
 * derivative s + x·s(1−s)·c(1 + 0.134145x²). Same forward ops as `gelu`; the gradient
 * skips autograd's per-op casts and copies. Used when only adapters train (pretraining
 * keeps plain autograd, so the shipped models stay reproducible bit for bit).
 */
const geluFast: CustomOp = customOp((x, save) => {
  const xx = x as tf.Tensor;
  const s = tf.sigmoid(tf.mul(tf.add(xx, tf.mul(tf.mul(tf.mul(xx, xx), xx), 0.044715)), GELU_C));
  (save as tf.GradSaveFunc)([xx, s]);
  return {
    value: tf.mul(xx, s),
    gradFunc: (dy, [sx, ss]) => {
      const slope = tf.add(tf.mul(tf.square(sx!), GELU_C * 3 * 0.044715), GELU_C);
      const ds = tf.mul(tf.mul(sx!, tf.mul(ss!, tf.sub(1, ss!))), slope);
      return [tf.mul(dy, tf.add(ss!, ds))];
    },
  };
});

function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b);
}

/**
 * Layer norm outside any gradient scope (sampling, scoring, the KL probe), one pass
 * per row here: on the few rows of a decode step tfjs's eight kernels cost more in
 * dispatch than in arithmetic. Statistics in double precision.
 */
function layerNormRows(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const [N, d] = x.shape as [number, number];
  const v = x.dataSync() as Float32Array;
  const gv = g.dataSync() as Float32Array;
  const bv = b.dataSync() as Float32Array;
  const out = new Float32Array(N * d);
  for (let i = 0; i < N; i++) {
    const o = i * d;
    let mean = 0;
    for (let e = 0; e < d; e++) mean += v[o + e]!;
    mean /= d;
    let variance = 0;
    for (let e = 0; e < d; e++) variance += (v[o + e]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(variance / d + 1e-5);
    for (let e = 0; e < d; e++) out[o + e] = (v[o + e]! - mean) * rstd * gv[e]! + bv[e]!;
  }
  return tf.tensor2d(out, [N, d]);
}

/**
 * Layer norm with frozen gain and bias and its input gradient written out:
 * dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = dy·g. Same forward ops as `layerNorm`.
 */
function layerNormFrozen(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return customOp((xx, save) => {
    const { mean, variance } = tf.moments(xx as tf.Tensor, -1, true);
    const rstd = tf.rsqrt(tf.add(variance, 1e-5));
    const xhat = tf.mul(tf.sub(xx as tf.Tensor, mean), rstd);
    (save as tf.GradSaveFunc)([xhat, rstd]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy, [sx, sr]) => {
        const gh = tf.mul(dy, g);
        const inner = tf.sub(tf.sub(gh, tf.mean(gh, -1, true)), tf.mul(sx!, tf.mean(tf.mul(gh, sx!), -1, true)));
        return [tf.mul(inner, sr!)];
      },
    };
  })(x);
}

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

  get heads(): HeadShape {
    return { heads: this.config.nHeads, headDim: this.config.dModel / this.config.nHeads };
  }

  private w(name: string): tf.Tensor {
    const t = this.weights.get(name);
    if (!t) throw new Error(`missing weight ${name}`);
    return t;
  }

  /**
   * Each projection's weight with its adapter folded in: W + s·A·B ("l0.wqkv" → tensor).
   * Inside a gradient scope the fold is recorded, so gradients reach A and B through it.
   */
  foldedWeights(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (let l = 0; l < this.config.nLayers; l++) {
      for (const t of LORA_TARGETS) {
        const key = `l${l}.${t}`;
        const a = this.lora?.vars.get(`${key}.A`);
        const b = this.lora?.vars.get(`${key}.B`);
        out.set(key, a && b && this.lora ? tf.add(this.w(key), tf.mul(tf.matMul(a, b), this.lora.scale)) : this.w(key));
      }
    }
    return out;
  }

  /**
   * foldedWeights() for calls outside any gradient scope (sampling), kept between calls
   * while every tensor folded holds the same data (an optimizer step or a load assigns
   * new data): sampling calls in a row fold once, and XNNPACK, which packs a weight once
   * per tensor, packs them once. Owned by the model (releaseFolded): callers never dispose them.
   */
  keptFoldedWeights(): Map<string, tf.Tensor> {
    const data = this.foldInputs();
    if (this.kept && this.kept.data.length === data.length && this.kept.data.every((d, i) => d === data[i])) return this.kept.folded;
    this.releaseFolded();
    const base = new Set(this.weights.values());
    let folded = new Map<string, tf.Tensor>();
    tf.tidy(() => {
      folded = this.foldedWeights();
      for (const t of folded.values()) if (!base.has(t)) tf.keep(t);
    });
    this.kept = { data, folded };
    return folded;
  }

  /** Disposes the kept folded weights (before the model's weights are). */
  releaseFolded(): void {
    if (!this.kept) return;
    const base = new Set(this.weights.values());
    for (const t of this.kept.folded.values()) if (!base.has(t)) t.dispose();
    this.kept = undefined;
  }

  private kept: { data: object[]; folded: Map<string, tf.Tensor> } | undefined;

  /** The data of every tensor a fold reads (a Variable that is assigned gets new data). */
  private foldInputs(): object[] {
    const out: object[] = [];
    for (let l = 0; l < this.config.nLayers; l++) {
      for (const t of LORA_TARGETS) {
        const key = `l${l}.${t}`;
        out.push(this.w(key).dataId as object);
        for (const part of ["A", "B"]) {
          const v = this.lora?.vars.get(`${key}.${part}`);
          if (v) out.push(v.dataId as object);
        }
      }
    }
    return out;
  }

  private embed(batch: TokenBatch, grad: boolean): tf.Tensor2D {
    return embedding(this.w("tok_emb"), this.w("pos_emb"), batch, grad && this.trainBase);
  }

  /**
   * Logits [N, V] (or [rows, V]) for packed sequences. `grad` says whether a gradient
   * scope will differentiate this pass; without it no custom-gradient bookkeeping is done.
   */
  forward(batch: TokenBatch, opts: ForwardOptions = {}, grad = false): tf.Tensor2D {
    const c = this.config;
    const shape = this.heads;
    const folded = opts.folded ?? this.foldedWeights();
    const trainW = grad && (this.trainBase || this.lora !== undefined);
    const trainBias = grad && this.trainBase;
    const attend = opts.attend ?? ((_l: number, qkv: tf.Tensor2D) => causalAttention(qkv, batch.starts, shape, grad));
    const lin = (x: tf.Tensor, l: number, name: (typeof LORA_TARGETS)[number], bias: string, inputGrad = true) =>
      linear(x as tf.Tensor2D, folded.get(`l${l}.${name}`)!, this.w(`l${l}.${bias}`), trainW, trainBias, grad, inputGrad);
    // With only adapters training, norms and GELU use their written-out gradients; without a gradient, norms run here.
    const fast = grad && !this.trainBase;
    const norm = fast ? layerNormFrozen : grad ? layerNorm : layerNormRows;
    const act = fast ? geluFast : gelu;
    // Decode steps ask for every row (one token each): no gather then.
    const rows = opts.rows && !(opts.rows.length === batch.ids.length && opts.rows.every((r, i) => r === i)) ? opts.rows : undefined;
    let picked = false;
    let x: tf.Tensor = this.embed(batch, grad);
    for (let l = 0; l < c.nLayers; l++) {
      const h = norm(x, this.w(`l${l}.ln1_g`), this.w(`l${l}.ln1_b`));
      // The embeddings train only with the base: without it the first projection needs no input gradient.
      let att: tf.Tensor = attend(l, lin(h, l, "wqkv", "bqkv", l > 0 || this.trainBase));
      if (rows && !grad && l === c.nLayers - 1) {
        // Past the last layer's attention every op works row by row, and only the rows asked
        // for reach the logits: the rest of the layer runs on them alone (a prompt's prefill
        // is most of its tokens). Each row's arithmetic is unchanged.
        const at = tf.tensor1d(rows, "int32");
        x = tf.gather(x, at);
        att = tf.gather(att, at);
        picked = true;
      }
      x = tf.add(x, lin(att, l, "wo", "bo"));
      const h2 = norm(x, this.w(`l${l}.ln2_g`), this.w(`l${l}.ln2_b`));
      x = tf.add(x, lin(act(lin(h2, l, "w1", "b1")), l, "w2", "b2"));
    }
    if (rows && !picked) x = grad ? pickRows(x as tf.Tensor2D, rows) : tf.gather(x, tf.tensor1d(rows, "int32"));
    const hf = norm(x, this.w("lnf_g"), this.w("lnf_b"));
    return linear(hf as tf.Tensor2D, this.w("head"), this.w("head_b"), grad && this.trainBase, trainBias, grad);
  }
}

/**
 * Log-probabilities of `targets` under `logits`: [N, V] and [N] → [N]. Uses a
 * one-hot product rather than gather, which has no gradient on wasm.
 */
export function tokenLogprobs(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  const logp = tf.logSoftmax(logits);
  return tf.sum(tf.mul(logp, tf.cast(tf.oneHot(targets, logits.shape[1]), "float32")), 1) as tf.Tensor1D;
}

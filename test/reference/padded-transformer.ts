/**
 * The local engine as it was before packing and fusing (tfjs autograd over padded
 * [B, T] batches, batched-matmul attention, unfolded LoRA): kept only as the reference
 * the equivalence tests compare the current engine against.
 */
import { tf } from "../../tools/tinker/backends/local/tf-runtime.ts";
import type { LORA_TARGETS } from "../../tools/tinker/backends/local/weights.ts";
import type { Lora, ModelConfig, Weights } from "../../tools/tinker/backends/local/weights.ts";

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
type LayerCache = { k: tf.Tensor4D; v: tf.Tensor4D };

type ForwardInput = {
  /** Token ids [B, T] (int32). */
  ids: tf.Tensor2D;
  /** Position ids [B, T] (int32). */
  positions: tf.Tensor2D;
  /** Additive attention mask broadcastable to [B, H, T, Tkeys]. */
  mask: tf.Tensor;
  /** Caches from earlier steps; when given, keys/values are appended to them. */
  caches?: LayerCache[];
};

export class PaddedTransformer {
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

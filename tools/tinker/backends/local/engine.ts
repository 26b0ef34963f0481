import { tf } from "./tf-runtime.ts";
import { Adam } from "./adam.ts";
import type { AdamSettings } from "./adam.ts";
import { packBatch } from "./batch.ts";
import type { PackedBatch, Sequence } from "./batch.ts";
import { causalMask, tokenLogprobs, Transformer } from "./model.ts";

/** Sequences per forward/backward pass; larger batches are split and their gradients summed. */
const MICRO_BATCH = 64;

export type StepStats = { loss: number; tokens: number };
export type PolicyStats = StepStats & { kl: number; klSquared: number };

/**
 * Loss and gradient computations on a Transformer, with an Adam optimizer over its
 * trainable variables. Every tensor made here is released before a method returns.
 */
export class Engine {
  readonly adam: Adam;
  private readonly keyOf = new Map<string, string>();

  constructor(
    readonly model: Transformer,
    readonly trainable: Map<string, tf.Variable>,
  ) {
    this.adam = new Adam(trainable);
    for (const [key, v] of trainable) this.keyOf.set(v.name, key);
  }

  /** Mean cross-entropy over weighted tokens; one Adam step unless `update` is false. */
  supervised(seqs: Sequence[], settings: AdamSettings | undefined): StepStats {
    const total = seqs.reduce((n, s) => n + s.weights.reduce((a, w) => a + (w > 0 ? 1 : 0), 0), 0);
    if (total === 0) return { loss: 0, tokens: 0 };
    const { value, grads } = this.accumulate(seqs, settings !== undefined, (b, logits, targets) => {
      const lp = tokenLogprobs(logits, targets);
      return tf.div(tf.neg(tf.sum(tf.mul(lp, tf.tensor1d(b.weights)))), total) as tf.Scalar;
    });
    if (settings) this.step(grads, settings);
    return { loss: value, tokens: total };
  }

  /**
   * Importance-sampling policy loss: −Σ exp(logp − logp_sampler)·A over completion
   * tokens, divided by their count. KL figures compare sampler and learner log-probs
   * before the update.
   */
  policy(seqs: Sequence[], settings: AdamSettings): PolicyStats {
    const total = seqs.reduce((n, s) => n + s.weights.reduce((a, w) => a + (w > 0 ? 1 : 0), 0), 0);
    if (total === 0) return { loss: 0, tokens: 0, kl: 0, klSquared: 0 };
    let klSum = 0;
    let kl2Sum = 0;
    const { value, grads } = this.accumulate(seqs, true, (b, logits, targets) => {
      const lp = tokenLogprobs(logits, targets);
      const mask = tf.tensor1d(b.weights);
      const old = tf.tensor1d(b.oldLogprobs);
      const diff = tf.mul(tf.sub(old, lp), mask);
      // Read the KL terms without recording them on the gradient tape's path.
      const d = diff.dataSync();
      for (let i = 0; i < d.length; i++) {
        klSum += d[i]!;
        kl2Sum += 0.5 * d[i]! * d[i]!;
      }
      const ratio = tf.exp(tf.sub(lp, old));
      const obj = tf.mul(tf.mul(ratio, tf.tensor1d(b.advantages)), mask);
      return tf.div(tf.neg(tf.sum(obj)), total) as tf.Scalar;
    });
    this.step(grads, settings);
    return { loss: value, tokens: total, kl: klSum / total, klSquared: kl2Sum / total };
  }

  /** Per-token log-probs of each sequence's weighted tokens under the current weights. */
  logprobs(seqs: Sequence[]): number[][] {
    const out: number[][] = [];
    for (let i = 0; i < seqs.length; i += MICRO_BATCH) {
      const chunk = seqs.slice(i, i + MICRO_BATCH);
      const b = packBatch(chunk);
      const lp = tf.tidy(() => tokenLogprobs(this.forward(b), tf.tensor1d(b.targets, "int32")).dataSync());
      chunk.forEach((s, r) => {
        const row: number[] = [];
        for (let t = 0; t < s.tokens.length - 1; t++) if ((s.weights[t + 1] ?? 0) > 0) row.push(lp[r * b.T + t]!);
        out.push(row);
      });
    }
    return out;
  }

  private forward(b: PackedBatch): tf.Tensor2D {
    return this.model.forward({
      ids: tf.tensor2d(b.inputs, [b.B, b.T], "int32"),
      positions: tf.tensor2d(b.positions, [b.B, b.T], "int32"),
      mask: causalMask(b.T),
    }).logits;
  }

  private accumulate(
    seqs: Sequence[],
    withGrads: boolean,
    lossOf: (b: PackedBatch, logits: tf.Tensor2D, targets: tf.Tensor1D) => tf.Scalar,
  ): { value: number; grads: Map<string, tf.Tensor> } {
    const grads = new Map<string, tf.Tensor>();
    let value = 0;
    const vars = [...this.trainable.values()];
    for (let i = 0; i < seqs.length; i += MICRO_BATCH) {
      const b = packBatch(seqs.slice(i, i + MICRO_BATCH));
      const f = () => lossOf(b, this.forward(b), tf.tensor1d(b.targets, "int32"));
      if (!withGrads) {
        value += tf.tidy(() => f().dataSync()[0]!);
        continue;
      }
      const res = tf.variableGrads(f, vars);
      value += res.value.dataSync()[0]!;
      res.value.dispose();
      for (const [name, g] of Object.entries(res.grads)) {
        const key = this.keyOf.get(name)!;
        const prev = grads.get(key);
        if (prev) {
          grads.set(key, tf.add(prev, g));
          prev.dispose();
          g.dispose();
        } else grads.set(key, g);
      }
    }
    return { value, grads };
  }

  private step(grads: Map<string, tf.Tensor>, settings: AdamSettings): void {
    try {
      this.adam.apply(grads, settings);
    } finally {
      for (const g of grads.values()) g.dispose();
    }
  }

  dispose(): void {
    this.adam.dispose();
  }
}

import { tf } from "./tf-runtime.ts";
import { Adam } from "./adam.ts";
import type { AdamSettings } from "./adam.ts";
import { lossRows, packTokens } from "./batch.ts";
import type { LossRows, Sequence } from "./batch.ts";
import { tokenLogprobs, type Transformer } from "./model.ts";
import { KL_PROBE_SEQUENCES as PROBE_SEQUENCES } from "../../../contracts/kl-probe.ts";

/** Sequences per forward/backward pass; larger batches are split and their gradients summed. */
const MICRO_BATCH = 64;

export type StepStats = { loss: number; tokens: number };
export type PolicyStats = StepStats & { kl: number; klSquared: number; klAfter: number | null };

/** Sequences a policy step re-reads after the update to measure how far it moved (enough for a stable mean, cheap next to the step); declared in the contracts, where the estimates read it. */
export const KL_PROBE_SEQUENCES = PROBE_SEQUENCES.local;

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
    const { value, grads } = this.accumulate(seqs, settings !== undefined, (b, logits) => {
      const lp = tokenLogprobs(logits, tf.tensor1d(b.targets, "int32"));
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
    if (total === 0) return { loss: 0, tokens: 0, kl: 0, klSquared: 0, klAfter: null };
    let klSum = 0;
    let kl2Sum = 0;
    const { value, grads } = this.accumulate(seqs, true, (b, logits) => {
      const lp = tokenLogprobs(logits, tf.tensor1d(b.targets, "int32"));
      const mask = tf.tensor1d(b.weights);
      const old = tf.tensor1d(b.oldLogprobs);
      // Read the KL terms without recording them on the gradient tape's path.
      const cur = lp.dataSync();
      for (let i = 0; i < cur.length; i++) {
        const d = (b.oldLogprobs[i]! - cur[i]!) * b.weights[i]!;
        klSum += d;
        kl2Sum += 0.5 * d * d;
      }
      const ratio = tf.exp(tf.sub(lp, old));
      const obj = tf.mul(tf.mul(ratio, tf.tensor1d(b.advantages)), mask);
      return tf.div(tf.neg(tf.sum(obj)), total) as tf.Scalar;
    });
    this.step(grads, settings);
    return { loss: value, tokens: total, kl: klSum / total, klSquared: kl2Sum / total, klAfter: this.klAfter(seqs.slice(0, KL_PROBE_SEQUENCES)) };
  }

  /** mean(sampler − current learner) log-prob over the sequences' weighted tokens: how far a step moved the policy. */
  private klAfter(seqs: Sequence[]): number | null {
    const rows = this.logprobs(seqs);
    let sum = 0;
    let n = 0;
    seqs.forEach((s, i) => {
      const row = rows[i] ?? [];
      let k = 0;
      s.weights.forEach((w, t) => {
        if (w <= 0) return;
        sum += (s.oldLogprobs?.[t] ?? 0) - row[k++]!;
        n++;
      });
    });
    return n > 0 ? sum / n : null;
  }

  /** Per-token log-probs of each sequence's weighted tokens under the current weights. */
  logprobs(seqs: Sequence[]): number[][] {
    const out: number[][] = [];
    for (let i = 0; i < seqs.length; i += MICRO_BATCH) {
      const chunk = seqs.slice(i, i + MICRO_BATCH);
      const b = packTokens(chunk);
      const sel = lossRows(b);
      // The weighted rows, in packed order, are each sequence's weighted tokens in turn.
      let lp: Float32Array<ArrayBufferLike> = new Float32Array(0);
      if (sel.rows.length > 0) {
        const t = tf.tidy(() => tokenLogprobs(this.model.forward(b, { rows: sel.rows }), tf.tensor1d(sel.targets, "int32")));
        lp = t.dataSync() as Float32Array;
        t.dispose();
      }
      let k = 0;
      for (const s of chunk) {
        const row: number[] = [];
        for (let t = 0; t < s.tokens.length - 1; t++) if ((s.weights[t + 1] ?? 0) > 0) row.push(lp[k++]!);
        out.push(row);
      }
    }
    return out;
  }

  private accumulate(
    seqs: Sequence[],
    withGrads: boolean,
    lossOf: (b: LossRows, logits: tf.Tensor2D) => tf.Scalar,
  ): { value: number; grads: Map<string, tf.Tensor> } {
    const grads = new Map<string, tf.Tensor>();
    let value = 0;
    const vars = [...this.trainable.values()];
    for (let i = 0; i < seqs.length; i += MICRO_BATCH) {
      const b = packTokens(seqs.slice(i, i + MICRO_BATCH));
      // Logits only where the loss reads them; a micro-batch without any adds nothing.
      const sel = lossRows(b);
      if (sel.rows.length === 0) continue;
      if (!withGrads) {
        const loss = tf.tidy(() => lossOf(sel, this.model.forward(b, { rows: sel.rows })));
        value += loss.dataSync()[0]!;
        loss.dispose();
        continue;
      }
      const res = tf.variableGrads(() => lossOf(sel, this.model.forward(b, { rows: sel.rows }, true)), vars);
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

import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listLocalModels } from "../../../tools/contracts/local-models.ts";
import { DEFAULT_MODELS_DIR } from "../../../lib/package-paths.ts";
import { packBatch, packTokens, rolloutSequence, sftSequence } from "../../../tools/tinker/backends/local/batch.ts";
import type { Sequence } from "../../../tools/tinker/backends/local/batch.ts";
import { tokenLogprobs, Transformer } from "../../../tools/tinker/backends/local/model.ts";
import { newLora, uniqueName } from "../../../tools/tinker/backends/local/weights.ts";
import type { Lora, ModelConfig } from "../../../tools/tinker/backends/local/weights.ts";
import { sampleBatch } from "../../../tools/tinker/backends/local/sampler.ts";
import { readTensorFile } from "../../../tools/tinker/backends/local/tensor-file.ts";
import { initTf, tf } from "../../../tools/tinker/backends/local/tf-runtime.ts";
import { Rng } from "../../../lib/random.ts";
import { causalMask, PaddedTransformer } from "../../reference/padded-transformer.ts";

/**
 * The packed, fused engine must compute what the straightforward padded tfjs-autograd
 * version computes (test/reference/padded-transformer.ts), up to float noise: the same
 * losses, the same adapter and full-weight gradients, the same sampled log-probs.
 */
const manifest = listLocalModels().find((m) => m.id === "local/tiny-arith")!;
let config: ModelConfig;
let base: Map<string, tf.Tensor>;
let lora: Lora;

beforeAll(async () => {
  await initTf();
  config = manifest.config;
  const tensors = readTensorFile(path.join(DEFAULT_MODELS_DIR, "tiny-arith", manifest.weights.file), manifest.weights.index, manifest.weights.sha256);
  base = new Map([...tensors].map(([k, t]) => [k, tf.keep(tf.tensor(t.data, t.shape))]));
  lora = newLora(config, 8, 7);
  // Non-zero B, so the adapters change the outputs and their folding is exercised.
  const rng = new Rng(3);
  for (const [k, v] of lora.vars)
    if (k.endsWith(".B"))
      v.assign(
        tf.tensor(
          Array.from({ length: v.size }, () => rng.normal() * 0.05),
          v.shape,
        ),
      );
});
afterAll(() => {
  for (const t of base.values()) t.dispose();
  for (const v of lora.vars.values()) v.dispose();
});

const sequences = (): Sequence[] => [
  sftSequence("What is 47 + 38?", "85", config.contextLength),
  sftSequence("Reverse: hello", "olleh", config.contextLength),
  sftSequence("JSON with name Ann, age 31", '{"name":"Ann","age":31}', config.contextLength),
  rolloutSequence("What is 3 + 4?", [10, 3, 2], [-0.5, -1.2, -0.1], 1, config.contextLength),
  sftSequence("x", "y", config.contextLength),
  // A long one: a word problem and a 16-token completion, near the context length.
  rolloutSequence(
    "Bob has 11 books and gets 12 more. How many now? And then some more words here",
    [20, 20, 14, 20, 20, 20, 20, 17, 18, 19, 20, 20, 21, 22, 23, 24],
    Array.from({ length: 16 }, () => -2),
    -1,
    config.contextLength,
  ),
];

function referenceLoss(model: PaddedTransformer, seqs: Sequence[]): tf.Scalar {
  const b = packBatch(seqs);
  const logits = model.forward({
    ids: tf.tensor2d(b.inputs, [b.B, b.T], "int32"),
    positions: tf.tensor2d(b.positions, [b.B, b.T], "int32"),
    mask: causalMask(b.T),
  }).logits;
  const lp = tokenLogprobs(logits, tf.tensor1d(b.targets, "int32"));
  return tf.div(tf.neg(tf.sum(tf.mul(lp, tf.tensor1d(b.weights)))), tf.sum(tf.tensor1d(b.weights))) as tf.Scalar;
}

function packedLoss(model: Transformer, seqs: Sequence[], grad: boolean): tf.Scalar {
  const b = packTokens(seqs);
  const lp = tokenLogprobs(model.forward(b, {}, grad), tf.tensor1d(b.targets, "int32"));
  return tf.div(tf.neg(tf.sum(tf.mul(lp, tf.tensor1d(b.weights)))), tf.sum(tf.tensor1d(b.weights))) as tf.Scalar;
}

function maxRelDiff(a: Record<string, tf.Tensor>, b: Record<string, tf.Tensor>, names: string[]): number {
  let worst = 0;
  for (const n of names) {
    const x = a[n]!.dataSync();
    const y = b[n]!.dataSync();
    let scale = 1e-8;
    for (let i = 0; i < x.length; i++) scale = Math.max(scale, Math.abs(x[i]!));
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / scale);
  }
  return worst;
}

describe("local engine equivalence with the padded reference", () => {
  it("gives the same loss and LoRA gradients on a mixed batch (different lengths, SFT and rollout sequences)", () => {
    const vars = [...lora.vars.values()];
    const ref = tf.variableGrads(() => referenceLoss(new PaddedTransformer(config, base, lora), sequences()), vars);
    const now = tf.variableGrads(() => packedLoss(new Transformer(config, base, lora), sequences(), true), vars);
    expect(Math.abs(ref.value.dataSync()[0]! - now.value.dataSync()[0]!)).toBeLessThan(1e-5);
    expect(
      maxRelDiff(
        ref.grads,
        now.grads,
        vars.map((v) => v.name),
      ),
    ).toBeLessThan(1e-4);
    // Without a gradient scope the same loss comes out.
    const plain = tf.tidy(() => packedLoss(new Transformer(config, base, lora), sequences(), false).dataSync()[0]!);
    expect(Math.abs(plain - ref.value.dataSync()[0]!)).toBeLessThan(1e-5);
    tf.dispose([ref.value, now.value, ...Object.values(ref.grads), ...Object.values(now.grads)]);
  });

  it("gives the same full-weight gradients when pretraining (embeddings, biases, norms, head)", () => {
    const vars = new Map([...base].map(([k, t]) => [k, tf.variable(t, true, uniqueName(`eq-${k}`))]));
    const list = [...vars.values()];
    const ref = tf.variableGrads(() => referenceLoss(new PaddedTransformer(config, vars, undefined, true), sequences()), list);
    const now = tf.variableGrads(() => packedLoss(new Transformer(config, vars, undefined, true), sequences(), true), list);
    expect(Math.abs(ref.value.dataSync()[0]! - now.value.dataSync()[0]!)).toBeLessThan(1e-5);
    expect(
      maxRelDiff(
        ref.grads,
        now.grads,
        list.map((v) => v.name),
      ),
    ).toBeLessThan(1e-4);
    tf.dispose([ref.value, now.value, ...Object.values(ref.grads), ...Object.values(now.grads), ...list]);
  });

  it("samples what the reference model predicts: greedy tokens are its argmax and log-probs match", () => {
    const model = new Transformer(config, base, lora);
    const prompts = ["What is 47 + 38?", "Reverse: abc", "What is 47 + 38?", "JSON with name Bob, age 40", "Q", "Reverse: abc"];
    const rows = sampleBatch(model, { prompts, temperature: 0, maxTokens: 12, stop: [], seed: 1 });
    const reference = new PaddedTransformer(config, base, lora);
    rows.forEach((row, i) => {
      const seq = rolloutSequence(prompts[i]!, row.tokens, row.logprobs, 0, config.contextLength);
      const b = packBatch([seq]);
      const [lp, argmax] = tf.tidy(() => {
        const logits = reference.forward({
          ids: tf.tensor2d(b.inputs, [1, b.T], "int32"),
          positions: tf.tensor2d(b.positions, [1, b.T], "int32"),
          mask: causalMask(b.T),
        }).logits;
        return [tokenLogprobs(logits, tf.tensor1d(b.targets, "int32")).dataSync(), tf.argMax(logits, 1).dataSync()];
      });
      const first = seq.tokens.length - 1 - row.tokens.length;
      row.tokens.forEach((tok, t) => {
        expect(argmax[first + t]).toBe(tok);
        expect(Math.abs(lp[first + t]! - row.logprobs[t]!)).toBeLessThan(1e-4);
      });
    });
  });
});

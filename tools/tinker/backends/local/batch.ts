import type { TokenBatch } from "./model.ts";
import { BOS, EOS, PAD, encode, renderPrompt } from "./tokenizer.ts";

/**
 * One training sequence: tokens, and per-token values aligned with them (the value at
 * i belongs to the prediction of token i from the tokens before it; index 0 is unused).
 */
export type Sequence = { tokens: number[]; weights: number[]; oldLogprobs?: number[]; advantage?: number };

/** Sequences packed back to back: next-token inputs and, per input, its target and values. */
export type PackedTokens = TokenBatch & {
  targets: Int32Array; // [N]
  weights: Float32Array; // [N]; 0 on prompt tokens
  oldLogprobs: Float32Array; // [N]
  advantages: Float32Array; // [N]
};

/** Packs sequences without padding: sequence s predicts its tokens 1… from positions starts[s]…. */
export function packTokens(seqs: Sequence[]): PackedTokens {
  const starts = new Int32Array(seqs.length + 1);
  for (const [i, s] of seqs.entries()) starts[i + 1] = starts[i]! + Math.max(0, s.tokens.length - 1);
  const N = starts[seqs.length]!;
  const ids = new Int32Array(N);
  const positions = new Int32Array(N);
  const targets = new Int32Array(N);
  const weights = new Float32Array(N);
  const oldLogprobs = new Float32Array(N);
  const advantages = new Float32Array(N);
  seqs.forEach((s, b) => {
    for (let t = 0; t < s.tokens.length - 1; t++) {
      const i = starts[b]! + t;
      ids[i] = s.tokens[t]!;
      positions[i] = t;
      targets[i] = s.tokens[t + 1]!;
      weights[i] = s.weights[t + 1] ?? 0;
      oldLogprobs[i] = s.oldLogprobs?.[t + 1] ?? 0;
      advantages[i] = s.advantage ?? 0;
    }
  });
  return { ids, positions, starts, targets, weights, oldLogprobs, advantages };
}

/**
 * The packed rows that carry loss (weight > 0), with their per-row values: a loss reads
 * logits only there, so the head and the log-softmax skip prompt tokens.
 */
export type LossRows = { rows: Int32Array; targets: Int32Array; weights: Float32Array; oldLogprobs: Float32Array; advantages: Float32Array };

export function lossRows(b: PackedTokens): LossRows {
  let n = 0;
  for (let i = 0; i < b.weights.length; i++) if (b.weights[i]! > 0) n++;
  const out: LossRows = {
    rows: new Int32Array(n),
    targets: new Int32Array(n),
    weights: new Float32Array(n),
    oldLogprobs: new Float32Array(n),
    advantages: new Float32Array(n),
  };
  for (let i = 0, k = 0; i < b.weights.length; i++) {
    if (!(b.weights[i]! > 0)) continue;
    out.rows[k] = i;
    out.targets[k] = b.targets[i]!;
    out.weights[k] = b.weights[i]!;
    out.oldLogprobs[k] = b.oldLogprobs[i]!;
    out.advantages[k] = b.advantages[i]!;
    k++;
  }
  return out;
}

/** A right-padded batch of next-token predictions, flattened to [B*T] where noted (the PyTorch anchor's layout). */
export type PackedBatch = {
  B: number;
  T: number;
  inputs: Int32Array; // [B, T]
  positions: Int32Array; // [B, T]
  targets: Int32Array; // [B*T]
  weights: Float32Array; // [B*T]; 0 on prompt and padding
  oldLogprobs: Float32Array; // [B*T]
  advantages: Float32Array; // [B*T]
};

/** Prompt tokens as the model sees them: BOS + rendered prompt, cut from the left to fit `budget`. */
export function promptTokens(prompt: string, budget: number): number[] {
  const body = encode(renderPrompt(prompt));
  const keep = Math.max(1, budget - 1);
  return [BOS, ...(body.length > keep ? body.slice(body.length - keep) : body)];
}

/** An SFT sequence: loss only on the response and the closing EOS. */
export function sftSequence(prompt: string, response: string, context: number): Sequence {
  let resp = [...encode(response), EOS];
  if (resp.length > context - 2) resp = resp.slice(0, context - 2);
  const p = promptTokens(prompt, context - resp.length);
  return { tokens: [...p, ...resp], weights: [...p.map(() => 0), ...resp.map(() => 1)] };
}

/** A policy-gradient sequence from a sampled completion. */
export function rolloutSequence(prompt: string, completion: number[], oldLogprobs: number[], advantage: number, context: number): Sequence {
  const comp = completion.slice(0, context - 2);
  const p = promptTokens(prompt, context - comp.length);
  return {
    tokens: [...p, ...comp],
    weights: [...p.map(() => 0), ...comp.map(() => 1)],
    oldLogprobs: [...p.map(() => 0), ...oldLogprobs.slice(0, comp.length)],
    advantage,
  };
}

export function packBatch(seqs: Sequence[]): PackedBatch {
  const B = seqs.length;
  const T = Math.max(1, ...seqs.map((s) => s.tokens.length - 1));
  const inputs = new Int32Array(B * T).fill(PAD);
  const positions = new Int32Array(B * T);
  const targets = new Int32Array(B * T).fill(PAD);
  const weights = new Float32Array(B * T);
  const oldLogprobs = new Float32Array(B * T);
  const advantages = new Float32Array(B * T);
  seqs.forEach((s, b) => {
    for (let t = 0; t < T; t++) positions[b * T + t] = t;
    for (let t = 0; t < s.tokens.length - 1; t++) {
      const i = b * T + t;
      inputs[i] = s.tokens[t]!;
      targets[i] = s.tokens[t + 1]!;
      weights[i] = s.weights[t + 1] ?? 0;
      oldLogprobs[i] = s.oldLogprobs?.[t + 1] ?? 0;
      advantages[i] = s.advantage ?? 0;
    }
  });
  return { B, T, inputs, positions, targets, weights, oldLogprobs, advantages };
}

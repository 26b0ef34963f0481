import { tf } from "./tf-runtime.ts";
import { KvCache } from "./kv-cache.ts";
import type { Transformer, TokenBatch } from "./model.ts";
import { promptTokens } from "./batch.ts";
import { EOS, decode } from "./tokenizer.ts";
import { Rng } from "../../../../lib/random.ts";

export type SampleRequest = { prompts: string[]; temperature: number; maxTokens: number; stop: string[]; seed: number };
export type SampledRow = {
  tokens: number[];
  logprobs: number[];
  text: string;
  finishReason: "stop" | "length" /** Tokens of the prompt as the model read it. */;
  promptTokens: number;
};

/**
 * Samples one completion per prompt with a preallocated K/V cache. The adapters are
 * folded into the weights once per weights version (kept by the model); prompts are packed without padding and only
 * each prompt's last position goes through the head; each decode step runs only the
 * rows still going. Every row computes exactly what it would alone. Log-probs are of
 * the sampled token under the untempered model (what the learner recomputes).
 */
export function sampleBatch(model: Transformer, req: SampleRequest): SampledRow[] {
  const B = req.prompts.length;
  if (B === 0) return [];
  const ctx = model.config.contextLength;
  const maxNew = Math.max(1, Math.min(req.maxTokens, ctx - 2));
  const prompts = req.prompts.map((p) => promptTokens(p, ctx - maxNew));
  const rng = new Rng(req.seed);
  const longest = Math.max(...prompts.map((p) => p.length));
  const cache = new KvCache(model.config.nLayers, B, Math.min(ctx, longest + maxNew), model.heads);
  const folded = model.keptFoldedWeights();

  /** Runs `batch` (one run of tokens per row in `rowIds`) through the model against the cache; logits of each run's last token. */
  const step = (batch: TokenBatch, rowIds: Int32Array): Float32Array<ArrayBufferLike> => {
    const last = new Int32Array(rowIds.length);
    for (let s = 0; s < rowIds.length; s++) last[s] = batch.starts[s + 1]! - 1;
    const attend = (layer: number, qkv: tf.Tensor2D) =>
      tf.tensor2d(cache.attend(layer, qkv.dataSync() as Float32Array, rowIds, batch.starts), [qkv.shape[0], qkv.shape[1] / 3]);
    const logits = tf.tidy(() => model.forward(batch, { attend, rows: last, folded }));
    cache.advance(rowIds, batch.starts);
    const data = logits.dataSync() as Float32Array;
    logits.dispose();
    return data;
  };

  const rows: SampledRow[] = prompts.map((p) => ({ tokens: [], logprobs: [], text: "", finishReason: "length", promptTokens: p.length }));
  // Each row's text so far (decode is one character a token, so it grows by the new token's).
  const texts = rows.map(() => "");
  const scratch: PickScratch = { weights: new Float64Array(model.config.vocabSize), scaled: new Float64Array(model.config.vocabSize), logprob: 0 };
  const done = new Array<boolean>(B).fill(false);
  const nextPos = prompts.map((p) => p.length);
  try {
    // Prefill: each distinct prompt once (a group of samples shares its prompt), packed
    // back to back; the rows that repeat a prompt copy its cache and logits.
    const firstRow = new Map<string, number>();
    for (const [b, p] of req.prompts.entries()) if (!firstRow.has(p)) firstRow.set(p, b);
    const unique = Int32Array.from(firstRow.values());
    const starts = new Int32Array(unique.length + 1);
    for (const [u, b] of unique.entries()) starts[u + 1] = starts[u]! + prompts[b]!.length;
    const ids = new Int32Array(starts[unique.length]!);
    const positions = new Int32Array(starts[unique.length]!);
    for (const [u, b] of unique.entries()) {
      for (const [t, tok] of prompts[b]!.entries()) {
        ids[starts[u]! + t] = tok;
        positions[starts[u]! + t] = t;
      }
    }
    const prefill = step({ ids, positions, starts }, unique);
    const V = prefill.length / unique.length;
    const slot = new Map([...unique].map((b, u) => [b, u]));
    let logits: Float32Array<ArrayBufferLike> = new Float32Array(B * V);
    req.prompts.forEach((p, b) => {
      const src = firstRow.get(p)!;
      if (src !== b) cache.copyRow(src, b);
      const u = slot.get(src)!;
      logits.set(prefill.subarray(u * V, (u + 1) * V), b * V);
    });
    let active = Int32Array.from({ length: B }, (_, b) => b);

    for (let s = 0; s < maxNew; s++) {
      const V = logits.length / active.length;
      const next: number[] = [];
      const still: number[] = [];
      active.forEach((b, i) => {
        const token = pick(logits.subarray(i * V, (i + 1) * V), req.temperature, rng, scratch);
        const r = rows[b]!;
        r.tokens.push(token);
        r.logprobs.push(scratch.logprob);
        if (token === EOS) {
          done[b] = true;
          r.finishReason = "stop";
          return;
        }
        texts[b] += decode([token]);
        const text = texts[b]!;
        if (req.stop.some((x) => x && text.endsWith(x))) {
          done[b] = true;
          r.finishReason = "stop";
        } else if (nextPos[b]! + 1 >= ctx) done[b] = true;
        else {
          still.push(b);
          next.push(token);
        }
      });
      if (still.length === 0 || s === maxNew - 1) break;
      active = Int32Array.from(still);
      const positionsNow = Int32Array.from(still, (b) => Math.min(nextPos[b]!++, ctx - 1));
      logits = step({ ids: Int32Array.from(next), positions: positionsNow, starts: Int32Array.from({ length: still.length + 1 }, (_, i) => i) }, active);
    }
  } finally {
    cache.release();
  }

  for (const r of rows) {
    let text = decode(r.tokens);
    const hit = req.stop.find((s) => s && text.endsWith(s));
    if (hit) text = text.slice(0, text.length - hit.length);
    r.text = text;
  }
  return rows;
}

/** pick's working arrays (the vocabulary's size each), reused so a decode step allocates nothing per row, and its log-prob out. */
type PickScratch = { weights: Float64Array; scaled: Float64Array; logprob: number };

/** Samples a token at `temperature` (0 → argmax) and returns it; its untempered log-prob is left in `s.logprob`. */
function pick(logits: Float32Array, temperature: number, rng: Rng, s: PickScratch): number {
  const weights = s.weights;
  let max = -Infinity;
  let arg = 0;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i]! > max) {
      max = logits[i]!;
      arg = i;
    }
  }
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    weights[i] = Math.exp(logits[i]! - max);
    sum += weights[i]!;
  }
  const logZ = max + Math.log(sum);
  let token = arg;
  if (temperature > 0) {
    // At temperature 1 the tempered weights are these same numbers (x / 1 is exact).
    let tSum = sum;
    const scaled = temperature === 1 ? weights : s.scaled;
    if (temperature !== 1) {
      tSum = 0;
      for (let i = 0; i < logits.length; i++) {
        scaled[i] = Math.exp((logits[i]! - max) / temperature);
        tSum += scaled[i]!;
      }
    }
    let u = rng.next() * tSum;
    token = logits.length - 1;
    for (let i = 0; i < logits.length; i++) {
      u -= scaled[i]!;
      if (u <= 0) {
        token = i;
        break;
      }
    }
  }
  s.logprob = logits[token]! - logZ;
  return token;
}

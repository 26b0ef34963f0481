import { tf } from "./tf-runtime.ts";
import type { LayerCache, Transformer } from "./model.ts";
import { promptTokens } from "./batch.ts";
import { EOS, PAD, decode } from "./tokenizer.ts";
import { Rng } from "../../../random.ts";

export type SampleRequest = { prompts: string[]; temperature: number; maxTokens: number; stop: string[]; seed: number };
export type SampledRow = { tokens: number[]; logprobs: number[]; text: string; finishReason: "stop" | "length" };

/**
 * Samples one completion per prompt with a K/V cache. Prompts are left-padded to a
 * common length, with positions counted from each row's first real token and pad
 * keys masked out, so every row computes exactly what it would alone. Log-probs are
 * of the sampled token under the untempered model (what the learner recomputes).
 */
export function sampleBatch(model: Transformer, req: SampleRequest): SampledRow[] {
  const B = req.prompts.length;
  if (B === 0) return [];
  const ctx = model.config.contextLength;
  const maxNew = Math.max(1, Math.min(req.maxTokens, ctx - 2));
  const prompts = req.prompts.map((p) => promptTokens(p, ctx - maxNew));
  const L = Math.max(...prompts.map((p) => p.length));
  const pad = prompts.map((p) => L - p.length);
  const rng = new Rng(req.seed);

  const ids = new Int32Array(B * L).fill(PAD);
  const pos = new Int32Array(B * L);
  const maskData = new Float32Array(B * L * L);
  prompts.forEach((p, b) => {
    for (let t = 0; t < L; t++) {
      pos[b * L + t] = Math.max(0, t - pad[b]!);
      if (t >= pad[b]!) ids[b * L + t] = p[t - pad[b]!]!;
      for (let j = 0; j < L; j++) {
        const visible = j <= t && j >= pad[b]!;
        maskData[b * L * L + t * L + j] = visible ? 0 : -1e9;
      }
    }
  });

  const rows: SampledRow[] = prompts.map(() => ({ tokens: [], logprobs: [], text: "", finishReason: "length" }));
  const done = new Array<boolean>(B).fill(false);
  // keyValid[b][j]: whether key j is a real token for row b.
  const keyValid: number[][] = pad.map((p) => Array.from({ length: L }, (_, j) => (j >= p ? 1 : 0)));
  const nextPos = prompts.map((p) => p.length);

  let caches: LayerCache[] = [];
  let last = tf.tidy(() => {
    const out = model.forward({
      ids: tf.tensor2d(ids, [B, L], "int32"),
      positions: tf.tensor2d(pos, [B, L], "int32"),
      mask: tf.tensor4d(maskData, [B, 1, L, L]),
    });
    const lastRows = tf.reshape(out.logits, [B, L, -1]).slice([0, L - 1, 0], [B, 1, -1]);
    caches = out.caches.map((c) => ({ k: tf.keep(c.k), v: tf.keep(c.v) }));
    return tf.reshape(lastRows, [B, -1]);
  });

  try {
    for (let step = 0; step < maxNew; step++) {
      const logits = last.dataSync() as Float32Array;
      const V = logits.length / B;
      const next = new Int32Array(B).fill(PAD);
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        const row = logits.subarray(b * V, (b + 1) * V);
        const { token, logprob } = pick(row, req.temperature, rng);
        const r = rows[b]!;
        r.tokens.push(token);
        r.logprobs.push(logprob);
        next[b] = token;
        if (token === EOS) {
          done[b] = true;
          r.finishReason = "stop";
          continue;
        }
        const text = decode(r.tokens);
        const hit = req.stop.find((s) => s && text.endsWith(s));
        if (hit) {
          done[b] = true;
          r.finishReason = "stop";
        } else if (nextPos[b]! + 1 >= ctx) {
          done[b] = true;
        }
      }
      if (done.every(Boolean) || step === maxNew - 1) break;

      for (let b = 0; b < B; b++) keyValid[b]!.push(1);
      const Tk = keyValid[0]!.length;
      const stepMask = new Float32Array(B * Tk);
      keyValid.forEach((kv, b) => kv.forEach((v, j) => (stepMask[b * Tk + j] = v ? 0 : -1e9)));
      const stepPos = new Int32Array(B);
      for (let b = 0; b < B; b++) stepPos[b] = Math.min(nextPos[b]!++, ctx - 1);

      const prev = caches;
      const prevLast = last;
      last = tf.tidy(() => {
        const out = model.forward({
          ids: tf.tensor2d(next, [B, 1], "int32"),
          positions: tf.tensor2d(stepPos, [B, 1], "int32"),
          mask: tf.tensor4d(stepMask, [B, 1, 1, Tk]),
          caches: prev,
        });
        caches = out.caches.map((c) => ({ k: tf.keep(c.k), v: tf.keep(c.v) }));
        return out.logits;
      });
      prevLast.dispose();
      for (const c of prev) {
        c.k.dispose();
        c.v.dispose();
      }
    }
  } finally {
    last.dispose();
    for (const c of caches) {
      c.k.dispose();
      c.v.dispose();
    }
  }

  for (const r of rows) {
    let text = decode(r.tokens);
    const hit = req.stop.find((s) => s && text.endsWith(s));
    if (hit) text = text.slice(0, text.length - hit.length);
    r.text = text;
  }
  return rows;
}

/** Samples a token at `temperature` (0 → argmax); returns it with its untempered log-prob. */
function pick(logits: Float32Array, temperature: number, rng: Rng): { token: number; logprob: number } {
  let max = -Infinity;
  let arg = 0;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i]! > max) {
      max = logits[i]!;
      arg = i;
    }
  }
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const logZ = max + Math.log(sum);
  let token = arg;
  if (temperature > 0) {
    let tSum = 0;
    const scaled = new Float64Array(logits.length);
    for (let i = 0; i < logits.length; i++) {
      scaled[i] = Math.exp((logits[i]! - max) / temperature);
      tSum += scaled[i]!;
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
  return { token, logprob: logits[token]! - logZ };
}

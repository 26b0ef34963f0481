import { describe, expect, it } from "vitest";
import { attentionBackward, attentionBackwardLoops, attentionForward, attentionForwardLoops } from "../../../tools/tinker/backends/local/attention.ts";
import { KvCache } from "../../../tools/tinker/backends/local/kv-cache.ts";
import { wasmKernels } from "../../../tools/tinker/backends/local/wasm-kernels.ts";
import { Rng } from "../../../lib/random.ts";

/**
 * The wasm SIMD attention (wasm-kernels.ts) must compute what the plain loops compute:
 * the same outputs, softmax weights and q|k|v gradients, on packed sequences of
 * different lengths (1 token to a full context), up to float rounding; and a KV cache
 * fed a prompt and then one token at a time must give each token what full causal
 * attention over its sequence gives it.
 */
const random = (n: number, rng: Rng) => Float32Array.from({ length: n }, () => rng.normal());
const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

describe("attention kernels", () => {
  it("are available on this Node (WebAssembly SIMD)", () => {
    expect(wasmKernels()).not.toBeNull();
  });

  it.each([
    { heads: 4, headDim: 16 },
    { heads: 2, headDim: 8 },
    { heads: 3, headDim: 5 },
  ])("give the loops' outputs, weights and gradients (%o)", (shape) => {
    const rng = new Rng(11);
    const lengths = [1, 7, 26, 3, 96, 40];
    const starts = new Int32Array(lengths.length + 1);
    lengths.forEach((l, i) => {
      starts[i + 1] = starts[i]! + l;
    });
    const N = starts[lengths.length]!;
    const d = shape.heads * shape.headDim;
    const qkv = random(N * 3 * d, rng);
    const dOut = random(N * d, rng);
    const ref = attentionForwardLoops(qkv, starts, shape);
    const now = attentionForward(qkv, starts, shape);
    expect(maxAbs(now.out, ref.out)).toBeLessThan(1e-5);
    expect(maxAbs(now.saved.probs, ref.saved.probs)).toBeLessThan(1e-6);
    const gRef = attentionBackwardLoops(qkv, dOut, starts, shape, ref.saved);
    const gNow = attentionBackward(qkv, dOut, starts, shape, now.saved);
    const scale = gRef.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    expect(maxAbs(gNow, gRef) / scale).toBeLessThan(1e-5);
    // A second, smaller batch after a larger one reuses the kernels' memory correctly.
    const small = new Int32Array([0, 5]);
    expect(maxAbs(attentionForward(qkv.subarray(0, 15 * d), small, shape).out, attentionForwardLoops(qkv.subarray(0, 15 * d), small, shape).out)).toBeLessThan(
      1e-5,
    );
  });

  it.each([
    { heads: 4, headDim: 16 },
    { heads: 3, headDim: 5 },
  ])("a KV cache (prefill, then one token a step, rows copied) attends as full causal attention does (%o)", (shape) => {
    const rng = new Rng(5);
    const d = shape.heads * shape.headDim;
    const lengths = [9, 14, 9];
    const prompt = [4, 6, 4];
    const starts = Int32Array.from([0, 9, 23, 32]);
    const qkv = random(32 * 3 * d, rng);
    // Row 2 repeats row 0's prompt: it copies row 0's cache instead of prefilling.
    qkv.copyWithin(23 * 3 * d, 0, 4 * 3 * d);
    const full = attentionForwardLoops(qkv, starts, shape).out;
    const cache = new KvCache(2, 3, 16, shape);
    const got = new Float32Array(32 * d);
    const rowsOf = (rows: number[], take: (r: number) => [number, number]) => {
      const runs = rows.map(take);
      const at = Int32Array.from([0, ...runs.map((_, i) => runs.slice(0, i + 1).reduce((n, [a, b]) => n + b - a, 0))]);
      const packed = new Float32Array(at[rows.length]! * 3 * d);
      for (const [i, [a, b]] of runs.entries()) packed.set(qkv.subarray(a * 3 * d, b * 3 * d), at[i]! * 3 * d);
      for (const layer of [0, 1]) {
        const out = cache.attend(layer, packed, Int32Array.from(rows), at);
        if (layer === 1) for (const [i, [a, b]] of runs.entries()) got.set(out.subarray(at[i]! * d, (at[i]! + b - a) * d), a * d);
      }
      cache.advance(Int32Array.from(rows), at);
    };
    rowsOf([0, 1], (r) => [starts[r]!, starts[r]! + prompt[r]!]);
    cache.copyRow(0, 2);
    got.set(got.subarray(0, 4 * d), 23 * d);
    for (let t = 0; t < 10; t++) {
      const live = [0, 1, 2].filter((r) => prompt[r]! + t < lengths[r]!);
      rowsOf(live, (r) => [starts[r]! + prompt[r]! + t, starts[r]! + prompt[r]! + t + 1]);
    }
    expect(maxAbs(got, full)).toBeLessThan(1e-5);
  });
});

import { describe, expect, it } from "vitest";
import { attentionBackward, attentionBackwardLoops, attentionForward, attentionForwardLoops } from "../tools/tinker/backends/local/attention.ts";
import { wasmKernels } from "../tools/tinker/backends/local/wasm-kernels.ts";
import { Rng } from "../tools/random.ts";

/**
 * The wasm SIMD attention (wasm-kernels.ts) must compute what the plain loops compute:
 * the same outputs, softmax weights and q|k|v gradients, on packed sequences of
 * different lengths (1 token to a full context), up to float rounding.
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
});

import type { HeadShape } from "./attention.ts";
import { newWasmKernels, wasmFloats } from "./wasm-kernels.ts";
import type { WasmKernels } from "./wasm-kernels.ts";

/** A released cache's wasm instance, for the next cache (see KvCache.release). */
let spare: WasmKernels | undefined;

/**
 * Keys and values of every layer for a batch of rows being sampled, preallocated for
 * the longest row ([rows, capacity, d] per layer), filled in place. The cache lives in
 * the memory of its own instance of the wasm SIMD kernels (wasm-kernels.ts), which
 * compute each query's scores and weighted sum where the keys and values already are;
 * without SIMD (or for head widths it does not take) plain loops do the same.
 */
export class KvCache {
  /** Cached positions per row (the same for every layer once a step completes). */
  readonly length: Int32Array;
  private readonly simd: WasmKernels | null;
  /** The cache (keys and values of every layer), then one call's scratch. */
  private mem: Float32Array;
  private readonly layerSize: number;

  constructor(
    private readonly layers: number,
    readonly rows: number,
    readonly capacity: number,
    readonly shape: HeadShape,
  ) {
    this.layerSize = rows * capacity * shape.heads * shape.headDim;
    // The last cache's instance when it was released: its memory is already mapped and
    // touched (a fresh one costs a page fault per 4 KB written, the bulk of a small call's copies).
    this.simd = shape.headDim % 4 === 0 ? (spare ?? newWasmKernels()) : null;
    spare = undefined;
    const size = 2 * layers * this.layerSize;
    this.mem = this.simd ? wasmFloats(this.simd, size) : new Float32Array(size);
    this.length = new Int32Array(rows);
  }

  /** Offset of layer `layer`'s keys (values follow them). */
  private keysAt(layer: number): number {
    return 2 * layer * this.layerSize;
  }

  /**
   * Appends the keys/values of `qkv` (one packed run of tokens per listed row, `starts`
   * as in attentionForward) to layer `layer` and attends each token to its row's cache
   * (causally). Returns the merged-head outputs [N, d]. Call `advance` after the last layer.
   */
  attend(layer: number, qkv: Float32Array, rowIds: Int32Array, starts: Int32Array): Float32Array {
    const { heads: H, headDim: dh } = this.shape;
    const d = H * dh;
    const row = 3 * d;
    const N = starts[starts.length - 1]!;
    // Scratch after the cache: q|k|v [N, 3d] (both paths) | out [N, d] | scores and weights [n × visible] each (SIMD).
    let scoreSize = 0;
    for (let s = 0; s < rowIds.length; s++) {
      const n = starts[s + 1]! - starts[s]!;
      if (this.length[rowIds[s]!]! + n > this.capacity) throw new Error("KV cache overflow");
      scoreSize = Math.max(scoreSize, n * (this.length[rowIds[s]!]! + n));
    }
    const qAt = 2 * this.layers * this.layerSize;
    const outAt = qAt + N * row;
    const sAt = outAt + N * d;
    const pAt = sAt + scoreSize;
    if (this.simd) this.mem = wasmFloats(this.simd, pAt + scoreSize);
    else if (this.mem.length < outAt) {
      const grown = new Float32Array(outAt);
      grown.set(this.mem);
      this.mem = grown;
    }
    const mem = this.mem;
    mem.set(qkv, qAt);
    const K = this.keysAt(layer);
    const V = K + this.layerSize;
    for (let s = 0; s < rowIds.length; s++) {
      const a = starts[s]!;
      const n = starts[s + 1]! - a;
      const dst = rowIds[s]! * this.capacity * d + this.length[rowIds[s]!]! * d;
      for (let t = 0; t < n; t++) {
        const src = qAt + (a + t) * row;
        mem.copyWithin(K + dst + t * d, src + d, src + 2 * d);
        mem.copyWithin(V + dst + t * d, src + 2 * d, src + row);
      }
    }
    if (!this.simd) return this.attendLoops(K, V, qkv, rowIds, starts);
    const k = this.simd;
    const scale = 1 / Math.sqrt(dh);
    for (let s = 0; s < rowIds.length; s++) {
      const a = starts[s]!;
      const n = starts[s + 1]! - a;
      const base = this.length[rowIds[s]!]!;
      const visible = base + n;
      const cacheRow = rowIds[s]! * this.capacity * d;
      for (let h = 0; h < H; h++) {
        k.dot((qAt + a * row + h * dh) * 4, row * 4, (K + cacheRow + h * dh) * 4, d * 4, sAt * 4, visible * 4, n, dh, base);
        for (let t = 0; t < n; t++) {
          const si = sAt + t * visible;
          const pi = pAt + t * visible;
          let max = -Infinity;
          for (let j = 0; j <= base + t; j++) if (mem[si + j]! > max) max = mem[si + j]!;
          let sum = 0;
          for (let j = 0; j <= base + t; j++) {
            const e = Math.exp((mem[si + j]! - max) * scale);
            mem[pi + j] = e;
            sum += e;
          }
          const inv = 1 / sum;
          for (let j = 0; j <= base + t; j++) mem[pi + j] = mem[pi + j]! * inv;
        }
        k.rows(pAt * 4, visible * 4, (V + cacheRow + h * dh) * 4, d * 4, (outAt + a * d + h * dh) * 4, d * 4, n, dh, base);
      }
    }
    return mem.slice(outAt, outAt + N * d);
  }

  /** `attend` in plain loops, the new keys and values already cached. */
  private attendLoops(K: number, V: number, qkv: Float32Array, rowIds: Int32Array, starts: Int32Array): Float32Array {
    const { heads: H, headDim: dh } = this.shape;
    const d = H * dh;
    const row = 3 * d;
    const N = starts[starts.length - 1]!;
    const out = new Float32Array(N * d);
    const mem = this.mem;
    const scale = 1 / Math.sqrt(dh);
    let w = new Float64Array(64);
    for (let s = 0; s < rowIds.length; s++) {
      const a = starts[s]!;
      const n = starts[s + 1]! - a;
      const base = this.length[rowIds[s]!]!;
      const cacheRow = rowIds[s]! * this.capacity * d;
      if (w.length < base + n) w = new Float64Array(base + n);
      for (let t = 0; t < n; t++) {
        const visible = base + t + 1;
        for (let h = 0; h < H; h++) {
          const qi = (a + t) * row + h * dh;
          let max = -Infinity;
          for (let j = 0; j < visible; j++) {
            const kj = K + cacheRow + j * d + h * dh;
            let acc = 0;
            for (let e = 0; e < dh; e++) acc += qkv[qi + e]! * mem[kj + e]!;
            acc *= scale;
            w[j] = acc;
            if (acc > max) max = acc;
          }
          let sum = 0;
          for (let j = 0; j < visible; j++) {
            const p = Math.exp(w[j]! - max);
            w[j] = p;
            sum += p;
          }
          const oi = (a + t) * d + h * dh;
          for (let j = 0; j < visible; j++) {
            const p = w[j]! / sum;
            const vj = V + cacheRow + j * d + h * dh;
            for (let e = 0; e < dh; e++) out[oi + e] = out[oi + e]! + p * mem[vj + e]!;
          }
        }
      }
    }
    return out;
  }

  /**
   * Hands this cache's memory to the next cache made (sampling calls come one after
   * another); the cache must not be used after. Its contents are never read unwritten:
   * every position attended to was appended first.
   */
  release(): void {
    if (this.simd) spare = this.simd;
  }

  /** Makes row `to` a copy of row `from` (every layer, every cached position). */
  copyRow(from: number, to: number): void {
    const d = this.shape.heads * this.shape.headDim;
    const n = this.length[from]! * d;
    const a = from * this.capacity * d;
    const b = to * this.capacity * d;
    for (let l = 0; l < this.layers; l++) {
      const K = this.keysAt(l);
      const V = K + this.layerSize;
      this.mem.copyWithin(K + b, K + a, K + a + n);
      this.mem.copyWithin(V + b, V + a, V + a + n);
    }
    this.length[to] = this.length[from]!;
  }

  /** Records that `count[s]` tokens were appended to row `rowIds[s]` (after every layer saw them). */
  advance(rowIds: Int32Array, starts: Int32Array): void {
    for (let s = 0; s < rowIds.length; s++) this.length[rowIds[s]!] = this.length[rowIds[s]!]! + starts[s + 1]! - starts[s]!;
  }
}

/**
 * Causal multi-head attention as plain loops over packed sequences. The wasm backend
 * runs batched matmuls on a slow scalar path and pays for every transpose, split,
 * mask and softmax kernel; for the short character-level sequences here it is
 * cheaper to read the fused q|k|v projection once and compute each sequence's
 * causal triangle directly, skipping padding and the masked half.
 *
 * Layouts: qkv rows are [q(d) | k(d) | v(d)] with head h at columns h·dh…(h+1)·dh
 * of each part; outputs are the merged heads [N, d].
 */

import { wasmFloats, wasmKernels } from "./wasm-kernels.ts";
import type { WasmKernels } from "./wasm-kernels.ts";

/** How heads are laid out in a d-wide row. */
export type HeadShape = { heads: number; headDim: number };

/** What the backward pass needs from a forward pass: the attention weights, per sequence and head. */
export type AttentionSaved = { probs: Float32Array; offsets: Int32Array };

/**
 * Forward over packed sequences (`starts`: offsets, plus N at the end). Returns the
 * merged-head output and the softmax weights for the backward pass.
 */
export function attentionForward(qkv: Float32Array, starts: Int32Array, shape: HeadShape): { out: Float32Array; saved: AttentionSaved } {
  const k = simdFor(shape);
  return k ? attentionForwardSimd(k, qkv, starts, shape) : attentionForwardLoops(qkv, starts, shape);
}

/** Gradient with respect to the fused q|k|v rows, given the gradient of the merged output. */
export function attentionBackward(qkv: Float32Array, dOut: Float32Array, starts: Int32Array, shape: HeadShape, saved: AttentionSaved): Float32Array {
  const k = simdFor(shape);
  return k ? attentionBackwardSimd(k, qkv, dOut, starts, shape, saved) : attentionBackwardLoops(qkv, dOut, starts, shape, saved);
}

/** The SIMD kernels, when they exist and fit the head width (rows of whole f32x4 lanes). */
function simdFor(shape: HeadShape): WasmKernels | null {
  return shape.headDim % 4 === 0 ? wasmKernels() : null;
}

/** Each sequence's L×L block per head, offsets into one array (upper halves unused). */
function probOffsets(starts: Int32Array, H: number): { offsets: Int32Array; maxL: number } {
  const S = starts.length - 1;
  const offsets = new Int32Array(S + 1);
  let maxL = 0;
  for (let s = 0; s < S; s++) {
    const L = starts[s + 1]! - starts[s]!;
    if (L > maxL) maxL = L;
    offsets[s + 1] = offsets[s]! + H * L * L;
  }
  return { offsets, maxL };
}

/**
 * Forward with the products in wasm SIMD (wasm-kernels.ts) and the softmax here:
 * q|k|v is copied into the kernels' memory once, each head read in place by stride.
 */
function attentionForwardSimd(k: WasmKernels, qkv: Float32Array, starts: Int32Array, shape: HeadShape): { out: Float32Array; saved: AttentionSaved } {
  const { heads: H, headDim: dh } = shape;
  const d = H * dh;
  const row = 3 * d;
  const N = starts[starts.length - 1]!;
  const S = starts.length - 1;
  const { offsets, maxL } = probOffsets(starts, H);
  const probs = new Float32Array(offsets[S]!);
  const scale = 1 / Math.sqrt(dh);
  // Layout (floats): qkv [N, 3d] | out [N, d] | scores [maxL²] | weights [maxL²].
  const outAt = N * row;
  const scoresAt = outAt + N * d;
  const pAt = scoresAt + maxL * maxL;
  const mem = wasmFloats(k, pAt + maxL * maxL);
  mem.set(qkv, 0);
  for (let s = 0; s < S; s++) {
    const a = starts[s]!;
    const L = starts[s + 1]! - a;
    for (let h = 0; h < H; h++) {
      const base = (a * row + h * dh) * 4;
      k.dot(base, row * 4, base + d * 4, row * 4, scoresAt * 4, L * 4, L, dh, 0);
      const pBase = offsets[s]! + h * L * L;
      for (let i = 0; i < L; i++) {
        const si = scoresAt + i * L;
        let max = -Infinity;
        for (let j = 0; j <= i; j++) if (mem[si + j]! > max) max = mem[si + j]!;
        const mi = pAt + i * L;
        let sum = 0;
        for (let j = 0; j <= i; j++) {
          const e = Math.exp((mem[si + j]! - max) * scale);
          mem[mi + j] = e;
          sum += e;
        }
        const inv = 1 / sum;
        const pi = pBase + i * L;
        for (let j = 0; j <= i; j++) {
          const p = mem[mi + j]! * inv;
          probs[pi + j] = p;
          mem[mi + j] = p;
        }
      }
      k.rows(pAt * 4, L * 4, base + 2 * d * 4, row * 4, (outAt + a * d + h * dh) * 4, d * 4, L, dh, 0);
    }
  }
  return { out: mem.slice(outAt, outAt + N * d), saved: { probs, offsets } };
}

/** Backward with the products in wasm SIMD; dS = P ⊙ (dP − rowsum(P ⊙ dP)) here. */
function attentionBackwardSimd(
  k: WasmKernels,
  qkv: Float32Array,
  dOut: Float32Array,
  starts: Int32Array,
  shape: HeadShape,
  saved: AttentionSaved,
): Float32Array {
  const { heads: H, headDim: dh } = shape;
  const d = H * dh;
  const row = 3 * d;
  const N = starts[starts.length - 1]!;
  const S = starts.length - 1;
  const scale = 1 / Math.sqrt(dh);
  const { probs, offsets } = saved;
  const { maxL } = probOffsets(starts, H);
  // Layout (floats): qkv [N, 3d] | dOut [N, d] | dqkv [N, 3d] | P, dP, dS [maxL²] each.
  const gAt = N * row;
  const dAt = gAt + N * d;
  const pAt = dAt + N * row;
  const dpAt = pAt + maxL * maxL;
  const dsAt = dpAt + maxL * maxL;
  const mem = wasmFloats(k, dsAt + maxL * maxL);
  mem.set(qkv, 0);
  mem.set(dOut, gAt);
  for (let s = 0; s < S; s++) {
    const a = starts[s]!;
    const L = starts[s + 1]! - a;
    for (let h = 0; h < H; h++) {
      const pBase = offsets[s]! + h * L * L;
      mem.set(probs.subarray(pBase, pBase + L * L), pAt);
      const q = (a * row + h * dh) * 4;
      const kk = q + d * 4;
      const v = q + 2 * d * 4;
      const g = (gAt + a * d + h * dh) * 4;
      const dq = (dAt + a * row + h * dh) * 4;
      // dP = dO·Vᵀ ; dV = Pᵀ·dO
      k.dot(g, d * 4, v, row * 4, dpAt * 4, L * 4, L, dh, 0);
      k.cols(pAt * 4, L * 4, g, d * 4, dq + 2 * d * 4, row * 4, L, dh, 0);
      for (let i = 0; i < L; i++) {
        const pi = pAt + i * L;
        const dpi = dpAt + i * L;
        let dot = 0;
        for (let j = 0; j <= i; j++) dot += mem[pi + j]! * mem[dpi + j]!;
        const dsi = dsAt + i * L;
        for (let j = 0; j <= i; j++) mem[dsi + j] = mem[pi + j]! * (mem[dpi + j]! - dot) * scale;
      }
      // dQ = dS·K ; dK = dSᵀ·Q
      k.rows(dsAt * 4, L * 4, kk, row * 4, dq, row * 4, L, dh, 0);
      k.cols(dsAt * 4, L * 4, q, row * 4, dq + d * 4, row * 4, L, dh, 0);
    }
  }
  return mem.slice(dAt, dAt + N * row);
}

/** Forward in plain loops (head widths the SIMD kernels do not take; the reference in tests). */
export function attentionForwardLoops(qkv: Float32Array, starts: Int32Array, shape: HeadShape): { out: Float32Array; saved: AttentionSaved } {
  const { heads: H, headDim: dh } = shape;
  const d = H * dh;
  const row = 3 * d;
  const N = starts[starts.length - 1]!;
  const out = new Float32Array(N * d);
  const S = starts.length - 1;
  // Each sequence of length L keeps an L×L block per head (upper half unused).
  const offsets = new Int32Array(S + 1);
  for (let s = 0; s < S; s++) {
    const L = starts[s + 1]! - starts[s]!;
    offsets[s + 1] = offsets[s]! + H * L * L;
  }
  const probs = new Float32Array(offsets[S]!);
  const scale = 1 / Math.sqrt(dh);
  for (let s = 0; s < S; s++) {
    const a = starts[s]!;
    const L = starts[s + 1]! - a;
    for (let h = 0; h < H; h++) {
      const pBase = offsets[s]! + h * L * L;
      const qo = h * dh;
      const ko = d + h * dh;
      const vo = 2 * d + h * dh;
      for (let i = 0; i < L; i++) {
        const qi = (a + i) * row + qo;
        const pi = pBase + i * L;
        let max = -Infinity;
        for (let j = 0; j <= i; j++) {
          const kj = (a + j) * row + ko;
          let acc = 0;
          for (let e = 0; e < dh; e++) acc += qkv[qi + e]! * qkv[kj + e]!;
          acc *= scale;
          probs[pi + j] = acc;
          if (acc > max) max = acc;
        }
        let sum = 0;
        for (let j = 0; j <= i; j++) {
          const p = Math.exp(probs[pi + j]! - max);
          probs[pi + j] = p;
          sum += p;
        }
        const inv = 1 / sum;
        const oi = (a + i) * d + qo;
        for (let j = 0; j <= i; j++) {
          const p = probs[pi + j]! * inv;
          probs[pi + j] = p;
          const vj = (a + j) * row + vo;
          for (let e = 0; e < dh; e++) out[oi + e] = out[oi + e]! + p * qkv[vj + e]!;
        }
      }
    }
  }
  return { out, saved: { probs, offsets } };
}

/** Backward in plain loops. */
export function attentionBackwardLoops(qkv: Float32Array, dOut: Float32Array, starts: Int32Array, shape: HeadShape, saved: AttentionSaved): Float32Array {
  const { heads: H, headDim: dh } = shape;
  const d = H * dh;
  const row = 3 * d;
  const N = starts[starts.length - 1]!;
  const dqkv = new Float32Array(N * row);
  const scale = 1 / Math.sqrt(dh);
  const { probs, offsets } = saved;
  let dp = new Float64Array(64);
  for (let s = 0; s < starts.length - 1; s++) {
    const a = starts[s]!;
    const L = starts[s + 1]! - a;
    if (dp.length < L) dp = new Float64Array(L);
    for (let h = 0; h < H; h++) {
      const pBase = offsets[s]! + h * L * L;
      const qo = h * dh;
      const ko = d + h * dh;
      const vo = 2 * d + h * dh;
      for (let i = 0; i < L; i++) {
        const pi = pBase + i * L;
        const oi = (a + i) * d + qo;
        // dP_ij = dO_i · v_j ; dV_j += P_ij dO_i
        let dot = 0;
        for (let j = 0; j <= i; j++) {
          const vj = (a + j) * row + vo;
          const p = probs[pi + j]!;
          let acc = 0;
          for (let e = 0; e < dh; e++) {
            const g = dOut[oi + e]!;
            acc += g * qkv[vj + e]!;
            dqkv[vj + e] = dqkv[vj + e]! + p * g;
          }
          dp[j] = acc;
          dot += p * acc;
        }
        // dS_ij = P_ij (dP_ij − Σ_k P_ik dP_ik), scaled; dQ_i += dS_ij k_j ; dK_j += dS_ij q_i
        const qi = (a + i) * row + qo;
        for (let j = 0; j <= i; j++) {
          const ds = probs[pi + j]! * (dp[j]! - dot) * scale;
          if (ds === 0) continue;
          const kj = (a + j) * row + ko;
          const dkj = (a + j) * row + ko;
          for (let e = 0; e < dh; e++) {
            dqkv[qi + e] = dqkv[qi + e]! + ds * qkv[kj + e]!;
            dqkv[dkj + e] = dqkv[dkj + e]! + ds * qkv[qi + e]!;
          }
        }
      }
    }
  }
  return dqkv;
}

/**
 * Three triangular matrix kernels for causal attention, in WebAssembly SIMD (f32x4),
 * assembled here byte by byte so no toolchain or package is needed. Attention's
 * dot products are short (a head is 16 wide) and its matrices small and triangular:
 * XNNPACK has no kernel for them, and the same loops in JavaScript run several times
 * slower than 4-wide SIMD.
 *
 * All pointers and strides are byte offsets into `memory`; rows are `dh` floats
 * (a multiple of 4) at `stride` bytes apart; matrices are lower triangles shifted
 * right by `shift` (j ≤ i + shift: a KV cache's `shift` earlier keys are visible to
 * every query row; 0 for a sequence attending to itself). For i < L:
 * - dot(a, as, b, bs, out, os, L, dh, shift):  out[i][j] = a_i · b_j              (j ≤ i + shift)
 * - rows(p, ps, b, bs, out, os, L, dh, shift): out_i   = Σ_{j ≤ i + shift} p[i][j] · b_j
 * - cols(p, ps, a, as, out, os, L, dh, 0):     out_j   = Σ_{j ≤ i < L} p[i][j] · a_i  (shift must be 0)
 */

export type TriangleKernel = (
  p: number,
  pStride: number,
  b: number,
  bStride: number,
  out: number,
  outStride: number,
  L: number,
  dh: number,
  shift: number,
) => void;

export type WasmKernels = {
  memory: WebAssembly.Memory;
  dot: TriangleKernel;
  rows: TriangleKernel;
  cols: TriangleKernel;
};

const I32 = 0x7f;
const V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => vec([...s].map((c) => [c.charCodeAt(0)]));

// Instructions used below.
const get = (x: number) => [0x20, x];
const set = (x: number) => [0x21, x];
const i32 = (n: number) => [0x41, ...sleb(n)];
const add = [0x6a];
const mul = [0x6c];
const shl = [0x74];
const ltS = [0x48];
const leS = [0x4c];
const f32Load = [0x2a, 2, 0];
const f32Add = [0x92];
const f32Store = [0x38, 2, 0];
const simd = (op: number, ...imm: number[]) => [0xfd, ...uleb(op), ...imm];
const v128Load = simd(0x00, 2, 0);
const v128Store = simd(0x0b, 2, 0);
const v128Zero = simd(0x0c, ...new Array<number>(16).fill(0));
const f32x4Splat = simd(0x13);
const lane = (k: number) => simd(0x1f, k);
const f32x4Add = simd(0xe4);
const f32x4Mul = simd(0xe6);
const loop = (...body: number[][]) => [0x03, 0x40, ...body.flat(), 0x0b];
const brIf = (depth: number) => [0x0d, depth];
/** x = x + n */
const inc = (x: number, n: number) => [...get(x), ...i32(n), ...add, ...set(x)];
/** base + index·stride */
const at = (base: number, index: number, stride: number) => [...get(base), ...get(index), ...get(stride), ...mul, ...add];

// Parameters 0-8 as in TriangleKernel; locals: 9 i, 10 j, 11 e (byte offset in a row), 12 row end (dh·4), 13 acc.
const [P, PS, B, BS, OUT, OS, L, DH, SHIFT] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const [Ii, Jj, E, END, ACC] = [9, 10, 11, 12, 13];
/** j ≤ i + shift */
const jVisible = [...get(Jj), ...get(Ii), ...get(SHIFT), ...add, ...leS];
const locals = vec([
  [4, I32],
  [1, V128],
]);
const prologue = [...get(DH), ...i32(2), ...shl, ...set(END)];
/** acc += splat(p[r][c]) · (src + k·stride + e) */
const axpy = (r: number, c: number, src: number, stride: number, k: number) => [
  ...get(ACC),
  ...get(P),
  ...get(r),
  ...get(PS),
  ...mul,
  ...add,
  ...get(c),
  ...i32(2),
  ...shl,
  ...add,
  ...f32Load,
  ...f32x4Splat,
  ...at(src, k, stride),
  ...get(E),
  ...add,
  ...v128Load,
  ...f32x4Mul,
  ...f32x4Add,
  ...set(ACC),
];

const dotBody = [
  ...prologue,
  ...i32(0),
  ...set(Ii),
  ...loop(
    i32(0),
    set(Jj),
    loop(
      v128Zero,
      set(ACC),
      i32(0),
      set(E),
      loop(
        get(ACC),
        at(P, Ii, PS),
        get(E),
        add,
        v128Load,
        at(B, Jj, BS),
        get(E),
        add,
        v128Load,
        f32x4Mul,
        f32x4Add,
        set(ACC),
        inc(E, 16),
        get(E),
        get(END),
        ltS,
        brIf(0),
      ),
      at(OUT, Ii, OS),
      get(Jj),
      i32(2),
      shl,
      add,
      get(ACC),
      lane(0),
      get(ACC),
      lane(1),
      f32Add,
      get(ACC),
      lane(2),
      f32Add,
      get(ACC),
      lane(3),
      f32Add,
      f32Store,
      inc(Jj, 1),
      jVisible,
      brIf(0),
    ),
    inc(Ii, 1),
    get(Ii),
    get(L),
    ltS,
    brIf(0),
  ),
];

const rowsBody = [
  ...prologue,
  ...i32(0),
  ...set(Ii),
  ...loop(
    i32(0),
    set(E),
    loop(
      v128Zero,
      set(ACC),
      i32(0),
      set(Jj),
      loop(axpy(Ii, Jj, B, BS, Jj), inc(Jj, 1), jVisible, brIf(0)),
      at(OUT, Ii, OS),
      get(E),
      add,
      get(ACC),
      v128Store,
      inc(E, 16),
      get(E),
      get(END),
      ltS,
      brIf(0),
    ),
    inc(Ii, 1),
    get(Ii),
    get(L),
    ltS,
    brIf(0),
  ),
];

const colsBody = [
  ...prologue,
  ...i32(0),
  ...set(Jj),
  ...loop(
    i32(0),
    set(E),
    loop(
      v128Zero,
      set(ACC),
      get(Jj),
      set(Ii),
      loop(axpy(Ii, Jj, B, BS, Ii), inc(Ii, 1), get(Ii), get(L), ltS, brIf(0)),
      at(OUT, Jj, OS),
      get(E),
      add,
      get(ACC),
      v128Store,
      inc(E, 16),
      get(E),
      get(END),
      ltS,
      brIf(0),
    ),
    inc(Jj, 1),
    get(Jj),
    get(L),
    ltS,
    brIf(0),
  ),
];

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const fn = (body: number[]) => {
    const code = [...locals, ...body, 0x0b];
    return [...uleb(code.length), ...code];
  };
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec(new Array<number[]>(9).fill([I32])), 0x00]])),
    ...section(3, vec([[0], [0], [0]])),
    ...section(5, vec([[0x00, 1]])),
    ...section(
      7,
      vec([
        [...name("memory"), 0x02, 0],
        [...name("dot"), 0x00, 0],
        [...name("rows"), 0x00, 1],
        [...name("cols"), 0x00, 2],
      ]),
    ),
    ...section(10, vec([fn(dotBody), fn(rowsBody), fn(colsBody)])),
  ];
  return new Uint8Array(bytes);
}

let compiled: WebAssembly.Module | null | undefined;
let shared: WasmKernels | null | undefined;

/** A new instance of the kernels with its own memory, or null where WebAssembly SIMD is unavailable. */
export function newWasmKernels(): WasmKernels | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(moduleBytes());
    } catch {
      compiled = null;
    }
  }
  if (!compiled) return null;
  const e = new WebAssembly.Instance(compiled).exports as unknown as WasmKernels;
  return { memory: e.memory, dot: e.dot, rows: e.rows, cols: e.cols };
}

/**
 * The instance whose memory is scratch for one call at a time (a training pass's
 * attention), or null where WebAssembly SIMD is unavailable (callers fall back to plain loops).
 */
export function wasmKernels(): WasmKernels | null {
  if (shared === undefined) shared = newWasmKernels();
  return shared;
}

/** A Float32Array over the kernels' memory, grown to hold at least `floats` floats. */
export function wasmFloats(k: WasmKernels, floats: number): Float32Array {
  const need = floats * 4 - k.memory.buffer.byteLength;
  if (need > 0) k.memory.grow(Math.ceil(need / 65536));
  return new Float32Array(k.memory.buffer);
}

import crypto from "node:crypto";
import fs from "node:fs";

/** Where one tensor sits in a tensor file. */
export type TensorIndexEntry = { name: string; shape: number[]; offset: number; length: number };

/**
 * A tensor file is raw little-endian float32 data, tensors back to back; its index
 * (names, shapes, offsets) and SHA-256 live in the JSON file that refers to it.
 */
export function writeTensorFile(
  file: string,
  tensors: Array<{ name: string; shape: number[]; data: Float32Array }>,
): { sha256: string; index: TensorIndexEntry[] } {
  const index: TensorIndexEntry[] = [];
  let offset = 0;
  for (const t of tensors) {
    index.push({ name: t.name, shape: t.shape, offset, length: t.data.length });
    offset += t.data.length;
  }
  const buf = Buffer.alloc(offset * 4);
  for (const [i, t] of tensors.entries()) {
    const view = new Float32Array(buf.buffer, buf.byteOffset + index[i]!.offset * 4, t.data.length);
    view.set(t.data);
  }
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, buf);
  fs.renameSync(tmp, file);
  return { sha256: sha256(buf), index };
}

export class TensorFileError extends Error {}

/** Reads a tensor file, refusing it when its checksum or size does not match the index. */
export function readTensorFile(file: string, index: TensorIndexEntry[], expectedSha256: string): Map<string, { shape: number[]; data: Float32Array }> {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    throw new TensorFileError(`weight file ${file} is missing or unreadable`);
  }
  const actual = sha256(buf);
  if (actual !== expectedSha256) {
    throw new TensorFileError(`weight file ${file} is corrupted: its SHA-256 is ${actual.slice(0, 12)}…, expected ${expectedSha256.slice(0, 12)}…`);
  }
  const floats = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const e of index) {
    if (e.offset + e.length > floats.length) throw new TensorFileError(`weight file ${file} is shorter than its index says`);
    out.set(e.name, { shape: e.shape, data: floats.slice(e.offset, e.offset + e.length) });
  }
  return out;
}

export function sha256(data: Buffer | string): string {
  return crypto.createHash("sha256").update(data).digest("hex");
}

import { hashString } from "../../lib/random.ts";

/**
 * Which rows a training call takes, and which of them the server keeps for validation:
 * one declaration for the tinker server (what it trains) and the harness's estimate (what
 * that will cost), so the estimate prices the very rows the server trains.
 */

/** The tools' start/limit window over a pool: `limit` rows from `start`, wrapping around, none twice. */
export function windowOf<T>(items: readonly T[], start: unknown, limit: unknown): T[] {
  if (typeof start !== "number" && typeof limit !== "number") return [...items];
  const n = items.length;
  if (n === 0) return [];
  const from = (typeof start === "number" ? start : 0) % n;
  const count = Math.min(typeof limit === "number" ? limit : n, n);
  return Array.from({ length: count }, (_, i) => items[(from + i) % n]!);
}

/**
 * Deterministic train/validation split: examples are ordered by a hash of their
 * content, and the first share goes to validation. The same examples always split
 * the same way, whatever order they come in.
 */
export function splitExamples<T extends { prompt: string; response: string }>(examples: readonly T[], share: number): { train: T[]; val: T[] } {
  if (share <= 0 || examples.length < 2) return { train: [...examples], val: [] };
  const keyed = examples.map((e) => ({ e, h: hashString(`${e.prompt}\n${e.response}`) }));
  keyed.sort((a, b) => a.h - b.h);
  const nVal = Math.max(1, Math.floor(examples.length * share));
  const valSet = new Set(keyed.slice(0, nVal).map((k) => k.e));
  return { train: examples.filter((e) => !valSet.has(e)), val: examples.filter((e) => valSet.has(e)) };
}

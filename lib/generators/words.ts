import type { Rng } from "../random.ts";

const LETTERS = "abcdefghijklmnopqrstuvwxyz";

/** A lowercase word of `len` random letters. */
export function word(rng: Rng, len: number): string {
  let w = "";
  for (let i = 0; i < len; i++) w += rng.pick([...LETTERS]);
  return w;
}

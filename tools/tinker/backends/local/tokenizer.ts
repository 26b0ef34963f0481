/**
 * Character-level tokenizer for the local models: three specials, newline and the
 * 95 printable ASCII characters. Anything else becomes "?".
 */
export const PAD = 0;
export const BOS = 1;
export const EOS = 2;
const SPECIALS = 3;
const CHARS = `\n${Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("")}`;
const INDEX = new Map([...CHARS].map((c, i) => [c, i + SPECIALS]));
const UNKNOWN = INDEX.get("?")!;

export const VOCAB_SIZE = SPECIALS + CHARS.length;

export function encode(text: string): number[] {
  return [...text].map((c) => INDEX.get(c) ?? UNKNOWN);
}

export function decode(tokens: number[]): string {
  let out = "";
  for (const t of tokens) if (t >= SPECIALS) out += CHARS[t - SPECIALS] ?? "";
  return out;
}

/** The chat rendering the local models are pretrained on. */
export const RENDER_TEMPLATE = "Q: {prompt}\nA: ";

export function renderPrompt(prompt: string): string {
  return `Q: ${prompt}\nA: `;
}

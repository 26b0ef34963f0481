/// <reference lib="dom" />
/**
 * Building page elements from run data. Every string from the run goes in as a text
 * node (never as markup), so a planner's `<script>` shows as those characters.
 */

type Child = Node | string | null | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined> = {},
  ...children: Array<Child | Child[]>
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return node;
}

export const fmt = {
  pct: (x: number | null | undefined) => (x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)}%`),
  num: (x: number | null | undefined, digits = 3) => (x === null || x === undefined ? "–" : x.toFixed(digits)),
  int: (x: number) => x.toLocaleString("en-US"),
  duration(ms: number): string {
    const s = Math.round(ms / 1000);
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${s % 60}s`;
    return `${Math.floor(m / 60)}h ${m % 60}m`;
  },
  signed: (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)} pts`,
};

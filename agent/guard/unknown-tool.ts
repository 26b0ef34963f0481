import type { GuardRule } from "../core/guard.ts";

/** Rejects calls to tools that no server offers, naming the nearest existing tool. */
export const unknownToolRule: GuardRule = {
  name: "unknown-tool",
  check(call, ctx) {
    const names = ctx.tools.map((t) => t.name);
    if (names.includes(call.name)) return { action: "allow" };
    const nearest = nearestName(call.name, names);
    const hint = nearest ? ` Did you mean '${nearest}'?` : "";
    return {
      action: "reject",
      message: `There is no tool named '${call.name}'.${hint} Tools available: ${names.join(", ")}.`,
    };
  },
};

export function nearestName(name: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    // A server prefix or suffix match is the likeliest intent (e.g. "tinker__save" vs "save").
    const d = c.endsWith(`__${name}`) || name.endsWith(`__${c}`) ? 0 : editDistance(name, c);
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

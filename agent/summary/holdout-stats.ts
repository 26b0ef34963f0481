/**
 * Holdout scores with their uncertainty. A holdout call scores every completion;
 * the unit of evidence is the prompt (its samples averaged), so intervals are over
 * prompts: Wilson's for 0/1 scores, the normal approximation otherwise, and for a
 * before/after lift on the same prompts, the paired difference.
 */
export type Estimate = { mean: number; low: number; high: number; n: number };

const Z95 = 1.959964;

/** Mean of per-prompt scores with a 95% interval. */
export function meanInterval(xs: number[]): Estimate {
  const n = xs.length;
  if (n === 0) return { mean: 0, low: 0, high: 0, n };
  const mean = xs.reduce((a, x) => a + x, 0) / n;
  if (xs.every((x) => x === 0 || x === 1)) {
    const z2 = Z95 * Z95;
    const centre = (mean + z2 / (2 * n)) / (1 + z2 / n);
    const half = (Z95 * Math.sqrt((mean * (1 - mean)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
    return { mean, low: Math.max(0, centre - half), high: Math.min(1, centre + half), n };
  }
  const half = Z95 * standardError(xs, mean);
  const unit = xs.every((x) => x >= 0 && x <= 1);
  return { mean, low: unit ? Math.max(0, mean - half) : mean - half, high: unit ? Math.min(1, mean + half) : mean + half, n };
}

/**
 * after − before with a 95% interval: paired over prompts when both evaluations
 * scored the same prompts in the same order, else from the two standard errors.
 */
export function liftInterval(before: PromptScores, after: PromptScores): Estimate & { paired: boolean } {
  const paired = before.prompts.length === after.prompts.length && before.prompts.every((p, i) => p === after.prompts[i]);
  if (paired) {
    const d = after.scores.map((x, i) => x - before.scores[i]!);
    const mean = d.reduce((a, x) => a + x, 0) / Math.max(1, d.length);
    const half = Z95 * standardError(d, mean);
    // Scores in [0, 1] cannot move by more than one either way.
    const unit = [...before.scores, ...after.scores].every((x) => x >= 0 && x <= 1);
    return { mean, low: unit ? Math.max(-1, mean - half) : mean - half, high: unit ? Math.min(1, mean + half) : mean + half, n: d.length, paired };
  }
  const mb = before.scores.reduce((a, x) => a + x, 0) / Math.max(1, before.scores.length);
  const ma = after.scores.reduce((a, x) => a + x, 0) / Math.max(1, after.scores.length);
  const half = Z95 * Math.hypot(standardError(before.scores, mb), standardError(after.scores, ma));
  return { mean: ma - mb, low: ma - mb - half, high: ma - mb + half, n: Math.min(before.scores.length, after.scores.length), paired };
}

function standardError(xs: number[], mean: number): number {
  if (xs.length < 2) return 0;
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1);
  return Math.sqrt(variance / xs.length);
}

/** Per-prompt mean scores of one holdout evaluation, in first-seen prompt order. */
export type PromptScores = { prompts: string[]; scores: number[] };

export function scoresByPrompt(completions: Array<{ prompt: string; reward: number | null }>): PromptScores {
  const sums = new Map<string, { sum: number; n: number }>();
  for (const c of completions) {
    if (c.reward === null) continue;
    const s = sums.get(c.prompt) ?? { sum: 0, n: 0 };
    s.sum += c.reward;
    s.n++;
    sums.set(c.prompt, s);
  }
  return { prompts: [...sums.keys()], scores: [...sums.values()].map((s) => s.sum / s.n) };
}

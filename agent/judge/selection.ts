import { wordsOf } from "../guard/exam-index.ts";
import type { JudgedItem, JudgedRow } from "./evidence.ts";

/** How much of a run one judgement reads: bounds on cost, not on what counts. */
export type JudgeLimits = {
  /** Distinct training rows sent in all. */
  maxRows: number;
  /** Rows per request (more rows are sent in more requests). */
  rowsPerRequest: number;
  /** Exam items sent with each request. */
  itemsPerRequest: number;
  /** Characters of a row's or an item's prompt, and of its answer, sent (the rest is cut and said so). */
  maxChars: number;
};

export const DEFAULT_JUDGE_LIMITS: JudgeLimits = { maxRows: 300, rowsPerRequest: 100, itemsPerRequest: 120, maxChars: 500 };

/** One request's share: rows and the items they are compared with, each in number order. */
export type JudgeChunk = { rows: JudgedRow[]; items: JudgedItem[] };

/** A word found in more than this share of the items is template text, not content. */
const TEMPLATE_SHARE = 0.5;

/**
 * Which rows and items the judge reads, deterministically. With more rows than `maxRows`,
 * half the budget goes to the rows most like some exam item (a paraphrase keeps an item's
 * rare words: its numbers, names, things) and the other half is spread evenly over the rest,
 * so the judge also sees what the data is mostly made of. Each request's rows are sent with
 * the items most like them, then items spread evenly over the rest, up to `itemsPerRequest`.
 */
export function chunksFor(rows: JudgedRow[], items: JudgedItem[], limits: JudgeLimits): JudgeChunk[] {
  // At least one of each: a zero would send nothing, or never end.
  const [maxRows, perRequest, itemsPerRequest] = [limits.maxRows, limits.rowsPerRequest, limits.itemsPerRequest].map((n) => Math.max(1, Math.floor(n))) as [
    number,
    number,
    number,
  ];
  const sim = new Similarity(items);
  const sent = pick(rows, maxRows, (r) => sim.bestItemScore(r));
  const chunks: JudgeChunk[] = [];
  for (let i = 0; i < sent.length; i += perRequest) {
    const part = sent.slice(i, i + perRequest);
    const scores = sim.itemScores(part);
    chunks.push({ rows: part, items: pick(items, itemsPerRequest, (it) => scores[it.item - 1] ?? 0) });
  }
  return chunks;
}

/**
 * `n` of `all` (all when there are no more): the n/2 best by `score` (earlier first on
 * ties), then the rest spread evenly; returned in their original order.
 */
function pick<T>(all: T[], n: number, score: (x: T) => number): T[] {
  if (all.length <= n) return all;
  const ranked = all.map((x, i) => ({ i, s: score(x) })).sort((a, b) => b.s - a.s || a.i - b.i);
  const chosen = new Set(ranked.slice(0, Math.ceil(n / 2)).map((r) => r.i));
  const rest = all.map((_, i) => i).filter((i) => !chosen.has(i));
  const more = n - chosen.size;
  for (let k = 0; k < more; k++) chosen.add(rest[Math.floor((k * rest.length) / more)]!);
  return [...chosen].sort((a, b) => a - b).map((i) => all[i]!);
}

/**
 * How much of an item's content a row holds: the IDF-weighted share of the item's words
 * that occur in the row (template words, found in most items, weigh nothing).
 */
class Similarity {
  private readonly postings = new Map<string, number[]>();
  private readonly idf = new Map<string, number>();
  private readonly itemWeight: number[];

  constructor(items: JudgedItem[]) {
    const n = items.length;
    items.forEach((it, i) => {
      for (const w of new Set(wordsOf(`${it.prompt} ${it.answer}`))) {
        const p = this.postings.get(w);
        if (p) p.push(i);
        else this.postings.set(w, [i]);
      }
    });
    for (const [w, p] of this.postings) {
      if (p.length > n * TEMPLATE_SHARE && n > 2) this.postings.delete(w);
      else this.idf.set(w, Math.log((n + 1) / p.length));
    }
    this.itemWeight = new Array<number>(n).fill(0);
    for (const [w, p] of this.postings) for (const i of p) this.itemWeight[i]! += this.idf.get(w)!;
  }

  /** Per item (by position), the largest share of it found in any of `rows`. */
  itemScores(rows: JudgedRow[]): number[] {
    const best = new Array<number>(this.itemWeight.length).fill(0);
    for (const r of rows) for (const [i, s] of this.shares(r)) best[i] = Math.max(best[i]!, s);
    return best;
  }

  bestItemScore(row: JudgedRow): number {
    let best = 0;
    for (const s of this.shares(row).values()) best = Math.max(best, s);
    return best;
  }

  private shares(row: JudgedRow): Map<number, number> {
    const got = new Map<number, number>();
    for (const w of new Set(wordsOf(`${row.prompt} ${row.answer}`))) {
      const p = this.postings.get(w);
      if (!p) continue;
      const weight = this.idf.get(w)!;
      for (const i of p) got.set(i, (got.get(i) ?? 0) + weight);
    }
    for (const [i, s] of got) got.set(i, this.itemWeight[i]! > 0 ? s / this.itemWeight[i]! : 0);
    return got;
  }
}

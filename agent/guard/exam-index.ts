import { generate, splitOf, TASKS } from "../../lib/generators/generate.ts";
import type { Task } from "../../lib/generators/generate.ts";

/**
 * What a graded run's exam looks like to the contamination rule: an index built once per
 * run, asked about each training row. It holds hashes and normalised forms of the exam's
 * items and answers only whether a row hits and by which rule, never which item: the
 * planner must not learn the exam from a refusal.
 *
 * The rules, and where they come from (../shared/reference/posttrainbench.md §10):
 * - exact: the row's prompt, answer or prompt+answer, normalised, equals an item's prompt or
 *   prompt+answer (or its answer, when that answer is long enough to identify the item —
 *   a bare "42" is every other row's answer too). PostTrainBench's judge counts "its
 *   questions with other answers, or only its answers" as contamination.
 * - 13-gram: any 13 consecutive words of the row appear in an item (GPT-3, arXiv 2005.14165,
 *   Appendix C; EleutherAI lm-evaluation-harness's janitor uses the same n). Items under 13
 *   words are matched exactly only, as GPT-3 did for short items.
 * - 50-character substrings: three 50-character substrings of each item, spaces and symbols
 *   removed, any of which occurs in the row (GPT-4 technical report, Appendix C).
 * - generator split: for an exam drawn from a built-in generator task's eval split, any row of
 *   that task whose prompt falls in the eval split (`splitOf`), exam item or not. A row of the
 *   task is judged by its split alone (after the exact rule): templated items share 13-grams
 *   with their neighbours (two fills of one template, names apart), which identify no item.
 * Text shared by many items (a prompt template, a benchmark's boilerplate) identifies no item;
 * n-grams and substrings found in COMMON_SHARE of the items or more are left out.
 */

/** The exam as the guard is given it (`GuardConfig.exam`). */
export type ExamItems = { items: ReadonlyArray<{ prompt: string; ground_truth: string }>; generatorTask?: string };

/** Which rule a training row hit. */
export type ContaminationKind = "exact" | "13-gram" | "50-char" | "generator-split";

/** GPT-3's n. */
export const NGRAM_WORDS = 13;
/** GPT-4's substring length and count per item. */
export const SUBSTRING_CHARS = 50;
const SUBSTRINGS_PER_ITEM = 3;
/** An n-gram or substring in this share of the exam's items (and at least MIN_COMMON_ITEMS) is boilerplate. */
const COMMON_SHARE = 0.01;
const MIN_COMMON_ITEMS = 3;
/** Generated items sampled to learn a generator task's prompt shapes (its splits share templates). */
const SHAPE_SAMPLE = 400;
/** A word in this share of a task's sampled prompts is template text; rarer ones (names, things, random strings) are slots. */
const TEMPLATE_WORD_SHARE = 0.15;

/** Sentence punctuation dropped by the normaliser; other symbols (+ - * = …) are words, so "3 + 4" and "3 - 4" stay apart. */
const SENTENCE_PUNCTUATION = /^[.,!?;:"'`“”‘’]$/u;
const TOKEN = /[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu;

/** A text's words: NFKC, lower case, runs of letters or digits and single symbols, sentence punctuation dropped. */
export function wordsOf(text: string): string[] {
  return (text.normalize("NFKC").toLowerCase().match(TOKEN) ?? []).filter((w) => !SENTENCE_PUNCTUATION.test(w));
}

/** GPT-4's normalisation for the substring rule: letters and digits only, lower case. */
export function strippedOf(text: string): string {
  return text
    .normalize("NFKC")
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, "");
}

/** An item's or a row's text as one: prompt and answer, for the n-gram and substring rules. */
const joined = (prompt: string, answer: string) => (answer ? `${prompt}\n${answer}` : prompt);

export class ExamIndex {
  private readonly exact = new Set<string>();
  /** Exam words → ids (0 is "not an exam word", which no n-gram of the exam contains). */
  private readonly wordIds = new Map<string, number>();
  /** The exam's n-grams (of word ids) as 53-bit hash keys, sorted, for binary search. */
  private readonly ngrams: Float64Array;
  /** Hashes of the chosen 50-character substrings → the substrings. */
  private readonly substrings = new Map<number, Set<string>>();
  private readonly generatorTask: Task | undefined;
  /** Learnt on the first row asked about (generating the sample takes up to seconds for some tasks). */
  private taskShapes: Set<string> | undefined;
  private readonly taskVocabulary = new Set<string>();
  readonly size: number;

  constructor(exam: ExamItems) {
    this.size = exam.items.length;
    const common = Math.max(MIN_COMMON_ITEMS, Math.ceil(exam.items.length * COMMON_SHARE));
    // Each item's distinct n-gram keys and window hashes, all in one list: sorted, a run of
    // equal keys is how many items hold it (boilerplate is in many). Sorting beats a hash map
    // with hundreds of thousands of keys several times over.
    const allGrams: number[] = [];
    const allWindows: number[] = [];
    const prepared = exam.items.map((item) => {
      const words = wordsOf(joined(item.prompt, item.ground_truth));
      const prompt = wordsOf(item.prompt).join(" ");
      this.exact.add(prompt);
      this.exact.add(words.join(" "));
      const answer = wordsOf(item.ground_truth);
      if (answer.length >= NGRAM_WORDS) this.exact.add(answer.join(" "));
      if (words.length < NGRAM_WORDS) return undefined;
      // Counted once per item: an item repeating a phrase does not make it boilerplate.
      for (const k of distinct(gramKeys(words.map((w) => this.idOf(w))))) allGrams.push(k);
      const stripped = strippedOf(joined(item.prompt, item.ground_truth));
      for (const h of distinct(windowHashes(stripped, SUBSTRING_CHARS))) allWindows.push(h);
      return stripped;
    });
    const grams = runsOf(Float64Array.from(allGrams).sort());
    this.ngrams = Float64Array.from(grams.filter(([, n]) => n < common).map(([k]) => k));
    const commonWindows = new Set(runsOf(Float64Array.from(allWindows).sort()).flatMap(([h, n]) => (n >= common ? [h] : [])));
    for (const stripped of prepared) {
      if (stripped === undefined) continue;
      for (const s of this.chosenSubstrings(stripped, (h) => commonWindows.has(h))) addTo(this.substrings, hashText(s), s);
    }
    const task = exam.generatorTask;
    this.generatorTask = task !== undefined && (TASKS as readonly string[]).includes(task) ? (task as Task) : undefined;
  }

  /** The first rule a training row (its prompt and its answer) hits, or undefined. */
  match(prompt: string, answer: string): ContaminationKind | undefined {
    const p = wordsOf(prompt);
    const a = wordsOf(answer);
    const both = [...p, ...a];
    for (const form of [p, a, both]) if (form.length > 0 && this.exact.has(form.join(" "))) return "exact";
    // A row of the reserved task is in the exam's split or not by its prompt's hash, exactly; the
    // fuzzy rules would call two fills of one template (names apart) the same item.
    if (this.generatorTask && this.shapesOf(this.generatorTask).has(this.shapeOf(prompt))) return splitOf(prompt) === "eval" ? "generator-split" : undefined;
    if (this.hitsNgram(both)) return "13-gram";
    if (this.hitsSubstring(strippedOf(joined(prompt, answer)))) return "50-char";
    return undefined;
  }

  /** The generator task whose eval split the exam reserves, if any. */
  get reservedTask(): Task | undefined {
    return this.generatorTask;
  }

  private idOf(word: string): number {
    let id = this.wordIds.get(word);
    if (id === undefined) {
      id = this.wordIds.size + 1;
      this.wordIds.set(word, id);
    }
    return id;
  }

  private hitsNgram(words: string[]): boolean {
    if (words.length < NGRAM_WORDS || this.ngrams.length === 0) return false;
    // Words the exam never uses get id 0, and gramKeys skips every window holding one.
    for (const k of gramKeys(words.map((w) => this.wordIds.get(w) ?? 0))) if (sortedHas(this.ngrams, k)) return true;
    return false;
  }

  private hitsSubstring(stripped: string): boolean {
    if (this.substrings.size === 0) return false;
    const hashes = windowHashes(stripped, SUBSTRING_CHARS);
    for (let i = 0; i < hashes.length; i++) {
      const found = this.substrings.get(hashes[i]!);
      if (found?.has(stripped.slice(i, i + SUBSTRING_CHARS))) return true;
    }
    return false;
  }

  /** GPT-4 sampled three substrings per item; here the first, middle and last that are not boilerplate (deterministic, so a replay agrees). */
  private chosenSubstrings(stripped: string, isCommon: (h: number) => boolean): string[] {
    if (stripped.length < SUBSTRING_CHARS) return [];
    const starts: number[] = [];
    windowHashes(stripped, SUBSTRING_CHARS).forEach((h, i) => {
      if (!isCommon(h)) starts.push(i);
    });
    if (starts.length === 0) return [];
    const picks = new Set<number>();
    for (let k = 0; k < SUBSTRINGS_PER_ITEM; k++) picks.add(starts[Math.round((k * (starts.length - 1)) / (SUBSTRINGS_PER_ITEM - 1))]!);
    return [...picks].map((s) => stripped.slice(s, s + SUBSTRING_CHARS));
  }

  /**
   * A generator task's prompts are templates: numbers and random strings in fixed words. The
   * task's vocabulary is the words common in a sample of its prompts; a prompt's shape keeps
   * those, and turns numbers into `#` and any other word into `@`. A row whose shape the
   * sample shows is a row of the task, whoever wrote it: its split is its prompt's hash.
   */
  private shapesOf(task: Task): Set<string> {
    if (this.taskShapes) return this.taskShapes;
    const sample = generate(task, { n: SHAPE_SAMPLE, seed: 28, difficulty: "mixed", split: "train" }).items;
    const counts = new Map<string, number>();
    for (const item of sample) for (const w of new Set(wordsOf(item.prompt))) counts.set(w, (counts.get(w) ?? 0) + 1);
    const floor = sample.length * TEMPLATE_WORD_SHARE;
    for (const [w, n] of counts) if (n >= floor && !/^\p{N}+$/u.test(w)) this.taskVocabulary.add(w);
    this.taskShapes = new Set(sample.map((item) => this.shapeOf(item.prompt)));
    return this.taskShapes;
  }

  private shapeOf(prompt: string): string {
    return wordsOf(prompt)
      .flatMap((w) => w.split(/(\p{N}+)/u).filter((x) => x !== ""))
      .map((w) => (/^\p{N}+$/u.test(w) ? "#" : this.taskVocabulary.has(w) ? w : "@"))
      .join(" ");
  }
}

function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k) ?? new Set<V>();
  s.add(v);
  m.set(k, s);
}

/**
 * Hashes are kept to 30 bits: V8 keeps such numbers as small integers, and a Map keyed by
 * them is many times faster than one keyed by heap numbers or strings.
 */
const HASH_MASK = 0x3fffffff;
const BASE = 0x01000193;
const BASE_2 = 0x5bd1e995;

/**
 * The n-grams of a list of word ids as 53-bit keys made of two independent hashes: two n-grams
 * are taken as equal when their keys are (a false match has odds near 2^-53 per pair).
 * Windows holding a 0 (a word the exam never uses) are left out.
 */
function gramKeys(ids: readonly number[]): number[] {
  const out: number[] = [];
  let run = 0;
  for (let end = 0; end < ids.length; end++) {
    run = ids[end] === 0 ? 0 : run + 1;
    if (run < NGRAM_WORDS) continue;
    let a = 0x811c9dc5;
    let b = 0x2545f491;
    for (let i = end + 1 - NGRAM_WORDS; i <= end; i++) {
      a = (Math.imul(a, BASE) + ids[i]!) | 0;
      b = (Math.imul(b ^ ids[i]!, BASE_2) + 0x9e3779b9) | 0;
    }
    out.push((a & HASH_MASK) * 2 ** 23 + (b & 0x7fffff));
  }
  return out;
}

const distinct = (xs: number[]) => new Set(xs);

/** A sorted list's distinct values and how often each occurs. */
function runsOf(sorted: Float64Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j < sorted.length && sorted[j] === sorted[i]) j++;
    out.push([sorted[i]!, j - i]);
    i = j;
  }
  return out;
}

function sortedHas(sorted: Float64Array, k: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = sorted[mid]!;
    if (v === k) return true;
    if (v < k) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** BASE^(n-1) mod 2^32, the weight of a window's first character. */
const leadWeight = (n: number) => {
  let p = 1;
  for (let i = 1; i < n; i++) p = Math.imul(p, BASE);
  return p;
};
const LEAD_50 = leadWeight(SUBSTRING_CHARS);

function hashText(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, BASE) + s.charCodeAt(i)) | 0;
  return h & HASH_MASK;
}

/** The rolling hash of every `n`-character window of `s`, in order (equal to hashText of each window). */
function windowHashes(s: string, n: number): number[] {
  if (s.length < n) return [];
  const lead = n === SUBSTRING_CHARS ? LEAD_50 : leadWeight(n);
  const out = new Array<number>(s.length - n + 1);
  let h = 0;
  for (let i = 0; i < n; i++) h = (Math.imul(h, BASE) + s.charCodeAt(i)) | 0;
  out[0] = h & HASH_MASK;
  for (let i = n; i < s.length; i++) {
    h = (Math.imul(h - Math.imul(s.charCodeAt(i - n), lead), BASE) + s.charCodeAt(i)) | 0;
    out[i - n + 1] = h & HASH_MASK;
  }
  return out;
}

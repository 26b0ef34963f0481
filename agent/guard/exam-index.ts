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
  /** Hashes of the exam's n-grams (of word ids) → the n-grams themselves, to confirm a hash hit. */
  private readonly ngrams = new Map<number, Set<string>>();
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
    const gramCount = new Map<string, number>();
    const windowCount = new Map<number, number>();
    const prepared = exam.items.map((item) => {
      const words = wordsOf(joined(item.prompt, item.ground_truth));
      const prompt = wordsOf(item.prompt).join(" ");
      this.exact.add(prompt);
      this.exact.add(words.join(" "));
      const answer = wordsOf(item.ground_truth);
      if (answer.length >= NGRAM_WORDS) this.exact.add(answer.join(" "));
      if (words.length < NGRAM_WORDS) return undefined;
      const ids = words.map((w) => this.idOf(w));
      const grams = new Set<string>();
      for (let i = 0; i + NGRAM_WORDS <= ids.length; i++) grams.add(ids.slice(i, i + NGRAM_WORDS).join(","));
      for (const g of grams) gramCount.set(g, (gramCount.get(g) ?? 0) + 1);
      const stripped = strippedOf(joined(item.prompt, item.ground_truth));
      const hashes = new Set(windowHashes(stripped, SUBSTRING_CHARS));
      for (const h of hashes) windowCount.set(h, (windowCount.get(h) ?? 0) + 1);
      return { grams, stripped };
    });
    for (const p of prepared) {
      if (!p) continue;
      for (const g of p.grams) if ((gramCount.get(g) ?? 0) < common) addTo(this.ngrams, hashIds(g.split(",").map(Number)), g);
      for (const s of this.chosenSubstrings(p.stripped, (h) => (windowCount.get(h) ?? 0) >= common)) addTo(this.substrings, hashText(s), s);
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
    if (words.length < NGRAM_WORDS || this.ngrams.size === 0) return false;
    const ids = words.map((w) => this.wordIds.get(w) ?? 0);
    let run = 0;
    for (let i = 0; i < ids.length; i++) {
      run = ids[i] === 0 ? 0 : run + 1;
      if (run < NGRAM_WORDS) continue;
      const gram = ids.slice(i + 1 - NGRAM_WORDS, i + 1);
      const found = this.ngrams.get(hashIds(gram));
      if (found?.has(gram.join(","))) return true;
    }
    return false;
  }

  private hitsSubstring(stripped: string): boolean {
    if (this.substrings.size === 0) return false;
    let i = 0;
    for (const h of windowHashes(stripped, SUBSTRING_CHARS)) {
      const found = this.substrings.get(h);
      if (found?.has(stripped.slice(i, i + SUBSTRING_CHARS))) return true;
      i++;
    }
    return false;
  }

  /** GPT-4 sampled three substrings per item; here the first, middle and last that are not boilerplate (deterministic, so a replay agrees). */
  private chosenSubstrings(stripped: string, isCommon: (h: number) => boolean): string[] {
    if (stripped.length < SUBSTRING_CHARS) return [];
    const starts: number[] = [];
    let i = 0;
    for (const h of windowHashes(stripped, SUBSTRING_CHARS)) {
      if (!isCommon(h)) starts.push(i);
      i++;
    }
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

/** A 32-bit polynomial hash of a list of word ids. */
function hashIds(ids: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const id of ids) h = (Math.imul(h, 0x01000193) + id) | 0;
  return h >>> 0;
}

const BASE = 0x01000193;
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
  return h >>> 0;
}

/** The rolling hash of every `n`-character window of `s`, in order (equal to hashText of each window). */
function* windowHashes(s: string, n: number): Generator<number> {
  if (s.length < n) return;
  const lead = n === SUBSTRING_CHARS ? LEAD_50 : leadWeight(n);
  let h = 0;
  for (let i = 0; i < n; i++) h = (Math.imul(h, BASE) + s.charCodeAt(i)) | 0;
  yield h >>> 0;
  for (let i = n; i < s.length; i++) {
    h = (Math.imul(h - Math.imul(s.charCodeAt(i - n), lead), BASE) + s.charCodeAt(i)) | 0;
    yield h >>> 0;
  }
}

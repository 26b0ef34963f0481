import { hashString, Rng } from "../random.ts";
import { word } from "./words.ts";
import { pythonFunction } from "./python-functions.ts";

/**
 * Seeded offline task generators. The hf-datasets server exports them as training
 * files, and the local base models are pretrained on text drawn from them, so a
 * local model and its data always speak the same formats.
 */

export const TASKS = ["arithmetic", "countdown", "word_problems", "string_transforms", "json_format", "addition", "python_functions"] as const;
export type Task = (typeof TASKS)[number];
export type Split = "train" | "eval";
export type Difficulty = 1 | 2 | 3 | 4 | "mixed";

/** One generated item: a prompt, the checkable answer, and a worked response for SFT. */
export type GeneratedItem = { prompt: string; ground_truth: string; response: string; level: number };

export type GenerateOptions = { n: number; seed: number; difficulty?: Difficulty; split?: Split };

export type TaskInfo = { task: Task; description: string; groundTruth: string; levels: string };

export const TASK_INFO: Record<Task, TaskInfo> = {
  arithmetic: {
    task: "arithmetic",
    description: "What is 37 + 45? — integer arithmetic",
    groundTruth: 'the integer result, e.g. "82"',
    levels: "1: one-digit + and -; 2: two-digit + and -; 3: adds one-digit × two-digit; 4: three operands with precedence",
  },
  addition: {
    task: "addition",
    description: "What is 47 + 38? — multi-digit addition, most of it with carries",
    groundTruth: 'the integer sum, e.g. "85"',
    levels: "1: two-digit + one-digit; 2: two-digit + two-digit; 3: three-digit + two-digit; 4: three-digit + three-digit",
  },
  countdown: {
    task: "countdown",
    description: "Reach a target number from given numbers with + - * (always solvable)",
    groundTruth: 'JSON {"target": 46, "numbers": [3, 7, 25]}; any expression using each number at most once that evaluates to target is right',
    levels: "1-2: three numbers; 3-4: four numbers, larger values",
  },
  word_problems: {
    task: "word_problems",
    description: "Short word problems with a numeric answer",
    groundTruth: "the integer answer",
    levels: "1: one addition; 2: subtraction; 3: multiplication; 4: two steps",
  },
  string_transforms: {
    task: "string_transforms",
    description: "Reverse, uppercase, sort the letters of, or count a word",
    groundTruth: "the exact transformed string",
    levels: "1: 3-4 letter words; 2: 5-6; 3: 7-8; 4: 9-10",
  },
  json_format: {
    task: "json_format",
    description: "Answer with a small JSON object built from the prompt",
    groundTruth: "the JSON object as a string; compare parsed values",
    levels: "1: one field; 2: two fields; 3-4: three fields",
  },
  python_functions: {
    task: "python_functions",
    description: "Write a small Python function that passes its tests",
    groundTruth: 'JSON {"entry": "add_7", "tests": ["add_7(1) == 8", ...]}: each test is a Python expression that must be True',
    levels: "1: one arithmetic step; 2: conditions and lists; 3: strings and loops; 4: small algorithms",
  },
};

/** Which split a prompt belongs to: a fixed function of its text, so train and eval never overlap. */
export function splitOf(prompt: string): Split {
  return hashString(prompt) % 5 === 0 ? "eval" : "train";
}

const NAMES = ["Ann", "Bob", "Cy", "Dee", "Eli", "Fay", "Gus", "Ida", "Jo", "Kim", "Lea", "Max", "Ned", "Ola", "Pia", "Sam", "Tom", "Uma", "Val", "Zoe"];
const THINGS = ["apples", "pens", "cards", "books", "coins", "eggs", "cups", "hats"];
const CITIES = ["Oslo", "Rome", "Lima", "Kyiv", "Baku", "Doha", "Riga", "Pune"];


function levelOf(rng: Rng, d: Difficulty): number {
  return d === "mixed" ? rng.int(1, 4) : d;
}

type Maker = (rng: Rng, level: number) => Omit<GeneratedItem, "level">;

const arithmetic: Maker = (rng, level) => {
  if (level === 1) {
    const a = rng.int(0, 9);
    const b = rng.int(0, 9);
    const [x, y] = a >= b ? [a, b] : [b, a];
    const op = rng.pick(["+", "-"]);
    const ans = op === "+" ? a + b : x - y;
    const prompt = op === "+" ? `What is ${a} + ${b}?` : `What is ${x} - ${y}?`;
    return { prompt, ground_truth: String(ans), response: String(ans) };
  }
  if (level === 2) {
    const a = rng.int(10, 99);
    const b = rng.int(10, 99);
    if (rng.next() < 0.5) return { prompt: `What is ${a} + ${b}?`, ground_truth: String(a + b), response: String(a + b) };
    const [x, y] = a >= b ? [a, b] : [b, a];
    return { prompt: `What is ${x} - ${y}?`, ground_truth: String(x - y), response: String(x - y) };
  }
  if (level === 3) {
    const a = rng.int(2, 9);
    const b = rng.int(10, 30);
    return { prompt: `What is ${a} * ${b}?`, ground_truth: String(a * b), response: String(a * b) };
  }
  const a = rng.int(1, 20);
  const b = rng.int(2, 9);
  const c = rng.int(2, 9);
  if (rng.next() < 0.5) {
    const ans = a + b * c;
    return { prompt: `What is ${a} + ${b} * ${c}?`, ground_truth: String(ans), response: `${b * c}, ${ans}` };
  }
  const ans = (a + b) * c;
  return { prompt: `What is (${a} + ${b}) * ${c}?`, ground_truth: String(ans), response: `${a + b}, ${ans}` };
};

const addition: Maker = (rng, level) => {
  const [da, db] = (
    [
      [2, 1],
      [2, 2],
      [3, 2],
      [3, 3],
    ] as const
  )[level - 1]!;
  const a = rng.int(10 ** (da - 1), 10 ** da - 1);
  const b = rng.int(db === 1 ? 0 : 10 ** (db - 1), 10 ** db - 1);
  return { prompt: `What is ${a} + ${b}?`, ground_truth: String(a + b), response: String(a + b) };
};

/** Whether adding a and b carries in any column. */
export function hasCarry(a: number, b: number): boolean {
  for (; a > 0 || b > 0; a = Math.floor(a / 10), b = Math.floor(b / 10)) if ((a % 10) + (b % 10) >= 10) return true;
  return false;
}

/** a + b added column by column with every carry dropped (47 + 38 → 75, 85 + 38 → 13). */
export function carrylessSum(a: number, b: number): number {
  let out = 0;
  for (let place = 1; a > 0 || b > 0; place *= 10, a = Math.floor(a / 10), b = Math.floor(b / 10)) out += (((a % 10) + (b % 10)) % 10) * place;
  return out;
}

const countdown: Maker = (rng, level) => {
  const count = level <= 2 ? 3 : 4;
  const hi = level <= 2 ? 12 : 25;
  for (;;) {
    const nums = Array.from({ length: count }, () => rng.int(1, hi));
    // Build the target from an expression over all numbers, so a solution always exists.
    let expr = String(nums[0]);
    let value = nums[0] as number;
    for (const n of nums.slice(1)) {
      const op = value <= 40 && n <= 12 ? rng.pick(["+", "-", "*"]) : rng.pick(["+", "-"]);
      expr = op === "*" && /[+-]/.test(expr) ? `(${expr})*${n}` : `${expr}${op}${n}`;
      value = op === "+" ? value + n : op === "-" ? value - n : value * n;
    }
    if (value <= 0 || value > 200) continue;
    const shown = rng.shuffle([...nums]);
    return {
      prompt: `Make ${value} from ${shown.join(" ")} using + - *`,
      ground_truth: JSON.stringify({ target: value, numbers: shown }),
      response: expr,
    };
  }
};

const wordProblems: Maker = (rng, level) => {
  const who = rng.pick(NAMES);
  const thing = rng.pick(THINGS);
  if (level === 1) {
    const a = rng.int(2, 20);
    const b = rng.int(2, 20);
    return { prompt: `${who} has ${a} ${thing} and gets ${b} more. How many now?`, ground_truth: String(a + b), response: `${a} + ${b} = ${a + b}` };
  }
  if (level === 2) {
    const a = rng.int(10, 40);
    const b = rng.int(1, a);
    return { prompt: `${who} has ${a} ${thing} and gives away ${b}. How many left?`, ground_truth: String(a - b), response: `${a} - ${b} = ${a - b}` };
  }
  if (level === 3) {
    const a = rng.int(2, 9);
    const b = rng.int(2, 12);
    return { prompt: `${who} buys ${a} bags of ${b} ${thing}. How many ${thing}?`, ground_truth: String(a * b), response: `${a} * ${b} = ${a * b}` };
  }
  const a = rng.int(2, 6);
  const b = rng.int(2, 9);
  const c = rng.int(1, a * b);
  return {
    prompt: `${who} buys ${a} bags of ${b} ${thing} and eats ${c}. How many left?`,
    ground_truth: String(a * b - c),
    response: `${a} * ${b} = ${a * b}, ${a * b} - ${c} = ${a * b - c}`,
  };
};

const stringTransforms: Maker = (rng, level) => {
  const len = [0, rng.int(3, 4), rng.int(5, 6), rng.int(7, 8), rng.int(9, 10)][level] as number;
  const w = word(rng, len);
  const kind = rng.pick(["reverse", "upper", "sort", "count"]);
  const out = kind === "reverse" ? [...w].reverse().join("") : kind === "upper" ? w.toUpperCase() : kind === "sort" ? [...w].sort().join("") : String(w.length);
  const verb = { reverse: "Reverse", upper: "Uppercase", sort: "Sort the letters of", count: "Count the letters of" }[kind];
  return { prompt: `${verb}: ${w}`, ground_truth: out, response: out };
};

const jsonFormat: Maker = (rng, level) => {
  const name = rng.pick(NAMES);
  const age = rng.int(18, 90);
  const city = rng.pick(CITIES);
  const fields = level <= 1 ? 1 : level === 2 ? 2 : 3;
  const obj: Record<string, string | number> = { name };
  if (fields >= 2) obj.age = age;
  if (fields >= 3) obj.city = city;
  const parts = [`name ${name}`, `age ${age}`, `city ${city}`].slice(0, fields);
  const json = JSON.stringify(obj);
  return { prompt: `JSON with ${parts.join(", ")}`, ground_truth: json, response: json };
};

const MAKERS: Record<Task, Maker> = {
  arithmetic,
  addition,
  countdown,
  word_problems: wordProblems,
  string_transforms: stringTransforms,
  json_format: jsonFormat,
  python_functions: pythonFunction,
};

/**
 * Each task's seed offset, fixed so that adding a task never changes another task's
 * data (the shipped models were pretrained on these streams). The first five are the
 * tasks' original positions; addition's 1 is the stream local/tiny-adder was made from;
 * python_functions keeps the position it was added at.
 */
const SEED_SALT: Record<Task, number> = {
  arithmetic: 0,
  countdown: 1,
  word_problems: 2,
  string_transforms: 3,
  json_format: 4,
  addition: 1,
  python_functions: 5,
};

export type GenerateResult = { items: GeneratedItem[]; exhausted: boolean };

/**
 * Generates up to `n` distinct items of one split. Same task, options and seed give
 * the same items in the same order. `exhausted` is set when the task's space at
 * this difficulty ran out before `n` distinct items were found.
 */
export function generate(task: Task, opts: GenerateOptions): GenerateResult {
  const make = MAKERS[task];
  const rng = new Rng(opts.seed * 7919 + SEED_SALT[task]);
  const difficulty = opts.difficulty ?? "mixed";
  const split = opts.split ?? "train";
  const seen = new Set<string>();
  const items: GeneratedItem[] = [];
  const maxAttempts = opts.n * 60 + 1000;
  for (let attempt = 0; attempt < maxAttempts && items.length < opts.n; attempt++) {
    const level = levelOf(rng, difficulty);
    const item = make(rng, level);
    if (seen.has(item.prompt) || splitOf(item.prompt) !== split) continue;
    seen.add(item.prompt);
    items.push({ ...item, level });
  }
  return { items, exhausted: items.length < opts.n };
}

/** Evaluates a countdown expression (digits, + - *, parentheses); undefined if malformed. */
export function evalCountdown(expr: string): number | undefined {
  if (!/^[\d+\-*() ]+$/.test(expr)) return undefined;
  let pos = 0;
  const s = expr.replace(/\s+/g, "");
  const parseExpr = (): number | undefined => {
    let v = parseTerm();
    while (v !== undefined && (s[pos] === "+" || s[pos] === "-")) {
      const op = s[pos++];
      const r = parseTerm();
      if (r === undefined) return undefined;
      v = op === "+" ? v + r : v - r;
    }
    return v;
  };
  const parseTerm = (): number | undefined => {
    let v = parseAtom();
    while (v !== undefined && s[pos] === "*") {
      pos++;
      const r = parseAtom();
      if (r === undefined) return undefined;
      v = v * r;
    }
    return v;
  };
  const parseAtom = (): number | undefined => {
    if (s[pos] === "(") {
      pos++;
      const v = parseExpr();
      if (s[pos] !== ")") return undefined;
      pos++;
      return v;
    }
    const m = /^\d+/.exec(s.slice(pos));
    if (!m) return undefined;
    pos += m[0].length;
    return Number(m[0]);
  };
  const v = parseExpr();
  return pos === s.length ? v : undefined;
}

import { hashString, Rng } from "./random.ts";

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
const LETTERS = "abcdefghijklmnopqrstuvwxyz";

function word(rng: Rng, len: number): string {
  let w = "";
  for (let i = 0; i < len; i++) w += rng.pick([...LETTERS]);
  return w;
}

function levelOf(rng: Rng, d: Difficulty): number {
  return d === "mixed" ? rng.int(1, 4) : d;
}

type Maker = (rng: Rng, level: number) => Omit<GeneratedItem, "level">;

/** A Python function task: its signature, what it does, a reference body, and a reference in JS for the expected values. */
type FunctionFamily = { make: (rng: Rng) => { name: string; args: string; does: string; body: string; cases: Array<{ call: string; expect: string }> } };

const py = (v: unknown): string =>
  typeof v === "string" ? JSON.stringify(v) : Array.isArray(v) ? `[${v.map(py).join(", ")}]` : typeof v === "boolean" ? (v ? "True" : "False") : String(v);
const ints = (rng: Rng, n: number, lo: number, hi: number) => Array.from({ length: n }, () => rng.int(lo, hi));

/** Families by level; each draws its constants and test inputs from the seed. */
const FUNCTION_FAMILIES: FunctionFamily[][] = [
  [
    {
      make: (r) => {
        const k = r.int(1, 50);
        return {
          name: `add_${k}`,
          args: "x",
          does: `returns x plus ${k}`,
          body: `return x + ${k}`,
          cases: ints(r, 3, -20, 99).map((x) => ({ call: `add_${k}(${x})`, expect: py(x + k) })),
        };
      },
    },
    {
      make: (r) => {
        const k = r.int(2, 12);
        return {
          name: `times_${k}`,
          args: "x",
          does: `returns x multiplied by ${k}`,
          body: `return x * ${k}`,
          cases: ints(r, 3, -9, 50).map((x) => ({ call: `times_${k}(${x})`, expect: py(x * k) })),
        };
      },
    },
    {
      make: (r) => {
        const k = r.int(2, 9);
        return {
          name: `is_multiple_of_${k}`,
          args: "n",
          does: `returns True when n is a multiple of ${k}, else False`,
          body: `return n % ${k} == 0`,
          cases: [k * r.int(1, 9), k * r.int(1, 9) + 1, r.int(1, 99)].map((x) => ({ call: `is_multiple_of_${k}(${x})`, expect: py(x % k === 0) })),
        };
      },
    },
    {
      make: (r) => {
        const k = r.int(2, 4);
        return {
          name: `power_${k}`,
          args: "x",
          does: `returns x to the power ${k}`,
          body: `return x ** ${k}`,
          cases: ints(r, 3, -6, 9).map((x) => ({ call: `power_${k}(${x})`, expect: py(x ** k) })),
        };
      },
    },
  ],
  [
    {
      make: (r) => {
        const lo = r.int(-10, 0);
        const hi = r.int(1, 20);
        const name = `clamp_${-lo}_${hi}`;
        return {
          name,
          args: "x",
          does: `returns x limited to the range ${lo}..${hi} (inclusive)`,
          body: `return max(${lo}, min(${hi}, x))`,
          cases: [lo - r.int(1, 9), r.int(lo, hi), hi + r.int(1, 9)].map((x) => ({ call: `${name}(${x})`, expect: py(Math.max(lo, Math.min(hi, x))) })),
        };
      },
    },
    {
      make: (r) => {
        const k = r.int(0, 20);
        const name = `count_above_${k}`;
        return {
          name,
          args: "xs",
          does: `returns how many numbers in the list xs are greater than ${k}`,
          body: `return sum(1 for x in xs if x > ${k})`,
          cases: [ints(r, 5, 0, 30), ints(r, 3, 0, 30), []].map((xs) => ({ call: `${name}(${py(xs)})`, expect: py(xs.filter((x) => x > k).length) })),
        };
      },
    },
    {
      make: (r) => {
        const k = r.int(1, 5);
        const name = `first_${k}`;
        return {
          name,
          args: "xs",
          does: `returns the first ${k} items of the list xs (all of them if there are fewer)`,
          body: `return xs[:${k}]`,
          cases: [ints(r, 7, 0, 9), ints(r, k, 0, 9), ints(r, 1, 0, 9)].map((xs) => ({ call: `${name}(${py(xs)})`, expect: py(xs.slice(0, k)) })),
        };
      },
    },
    {
      make: (r) => {
        const k = r.int(1, 9);
        const name = `spread_plus_${k}`;
        return {
          name,
          args: "xs",
          does: `returns max(xs) - min(xs) + ${k} for a non-empty list xs`,
          body: `return max(xs) - min(xs) + ${k}`,
          cases: [ints(r, 4, -9, 30), ints(r, 2, 0, 9), ints(r, 1, 0, 9)].map((xs) => ({
            call: `${name}(${py(xs)})`,
            expect: py(Math.max(...xs) - Math.min(...xs) + k),
          })),
        };
      },
    },
  ],
  [
    {
      make: (r) => {
        const ch = r.pick([..."aeiouxyz"]);
        const name = `count_${ch}`;
        return {
          name,
          args: "s",
          does: `returns how many times the letter "${ch}" occurs in the string s`,
          body: `return s.count(${py(ch)})`,
          cases: [word(r, 8) + ch, word(r, 5), ch + ch + word(r, 3)].map((w) => ({
            call: `${name}(${py(w)})`,
            expect: py([...w].filter((c) => c === ch).length),
          })),
        };
      },
    },
    {
      make: (r) => {
        const k = r.int(2, 4);
        const name = `repeat_${k}`;
        return {
          name,
          args: "s",
          does: `returns the string s repeated ${k} times`,
          body: `return s * ${k}`,
          cases: [word(r, 3), word(r, 1), ""].map((w) => ({ call: `${name}(${py(w)})`, expect: py(w.repeat(k)) })),
        };
      },
    },
    {
      make: (r) => {
        const k = r.int(1, 3);
        const name = `reverse_drop_${k}`;
        return {
          name,
          args: "s",
          does: `returns s reversed, without its first ${k} character(s)`,
          body: `return s[${k}:][::-1]`,
          cases: [word(r, 6), word(r, 4), word(r, k)].map((w) => ({ call: `${name}(${py(w)})`, expect: py([...w.slice(k)].reverse().join("")) })),
        };
      },
    },
    {
      make: (r) => {
        const sep = r.pick(["-", "_", "+", "."]);
        const name = `join_with_${{ "-": "dash", _: "underscore", "+": "plus", ".": "dot" }[sep]}`;
        return {
          name,
          args: "words",
          does: `returns the list of strings words joined with "${sep}"`,
          body: `return ${py(sep)}.join(words)`,
          cases: [[word(r, 3), word(r, 2)], [word(r, 4)], [word(r, 2), word(r, 2), word(r, 2)]].map((ws) => ({
            call: `${name}(${py(ws)})`,
            expect: py(ws.join(sep)),
          })),
        };
      },
    },
  ],
  [
    {
      make: (r) => {
        const k = r.int(0, 3);
        const name = `fib_from_${k}`;
        const fib = (n: number) => {
          let [a, b] = [k, k + 1];
          for (let i = 0; i < n; i++) [a, b] = [b, a + b];
          return a;
        };
        return {
          name,
          args: "n",
          does: `returns the n-th term (n >= 0) of the sequence that starts ${k}, ${k + 1} and adds the two previous terms`,
          body: `a, b = ${k}, ${k + 1}
    for _ in range(n):
        a, b = b, a + b
    return a`,
          cases: [0, r.int(2, 6), r.int(7, 15)].map((n) => ({ call: `${name}(${n})`, expect: py(fib(n)) })),
        };
      },
    },
    {
      make: (r) => {
        const k = r.int(1, 9);
        const name = `digit_sum_plus_${k}`;
        return {
          name,
          args: "n",
          does: `returns the sum of the decimal digits of the non-negative integer n, plus ${k}`,
          body: `return sum(int(d) for d in str(n)) + ${k}`,
          cases: [r.int(0, 9), r.int(10, 999), r.int(1000, 99999)].map((n) => ({
            call: `${name}(${n})`,
            expect: py([...String(n)].reduce((a, d) => a + Number(d), 0) + k),
          })),
        };
      },
    },
    {
      make: (r) => {
        const k = r.int(2, 5);
        const name = `is_palindrome_min_${k}`;
        const pal = (w: string) => w.length >= k && w === [...w].reverse().join("");
        const p = word(r, k);
        return {
          name,
          args: "s",
          does: `returns True when s reads the same backwards and has at least ${k} characters`,
          body: `return len(s) >= ${k} and s == s[::-1]`,
          cases: [p + [...p].reverse().join(""), word(r, k + 2), "a"].map((w) => ({ call: `${name}(${py(w)})`, expect: py(pal(w)) })),
        };
      },
    },
    {
      make: (r) => {
        const k = r.int(2, 5);
        const name = `chunks_of_${k}`;
        const chunk = (xs: number[]) => Array.from({ length: Math.ceil(xs.length / k) }, (_, i) => xs.slice(i * k, i * k + k));
        return {
          name,
          args: "xs",
          does: `returns the list xs split into consecutive lists of ${k} items (the last may be shorter)`,
          body: `return [xs[i:i + ${k}] for i in range(0, len(xs), ${k})]`,
          cases: [ints(r, 2 * k + 1, 0, 9), ints(r, k, 0, 9), []].map((xs) => ({ call: `${name}(${py(xs)})`, expect: py(chunk(xs)) })),
        };
      },
    },
  ],
];

const pythonFunction: Maker = (rng, level) => {
  const f = rng.pick(FUNCTION_FAMILIES[level - 1]!).make(rng);
  const prompt = `Write a Python function \`${f.name}(${f.args})\` that ${f.does}. Answer with only the code.`;
  const tests = [...new Set(f.cases.map((c) => `${c.call} == ${c.expect}`))];
  return { prompt, ground_truth: JSON.stringify({ entry: f.name, tests }), response: `def ${f.name}(${f.args}):\n    ${f.body}\n` };
};

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

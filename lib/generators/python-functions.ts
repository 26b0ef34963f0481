import type { Rng } from "../random.ts";
import { word } from "./words.ts";

/**
 * The `python_functions` generator's families: small Python functions by level, each with
 * a reference body and test cases whose expected values are computed here (in JS), so the
 * code recipe's reward can run a completion against them.
 */

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

/** A `python_functions` item: a function to write, graded by its tests (ground truth: entry point and test expressions). */
export const pythonFunction = (rng: Rng, level: number): { prompt: string; ground_truth: string; response: string } => {
  const f = rng.pick(FUNCTION_FAMILIES[level - 1]!).make(rng);
  const prompt = `Write a Python function \`${f.name}(${f.args})\` that ${f.does}. Answer with only the code.`;
  const tests = [...new Set(f.cases.map((c) => `${c.call} == ${c.expect}`))];
  return { prompt, ground_truth: JSON.stringify({ entry: f.name, tests }), response: `def ${f.name}(${f.args}):\n    ${f.body}\n` };
};


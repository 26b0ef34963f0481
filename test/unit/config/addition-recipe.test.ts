import { describe, expect, it } from "vitest";
import { loadRecipe } from "../../../agent/config/recipes.ts";
import { carrylessSum, generate, hasCarry, TASKS } from "../../../lib/generators/generate.ts";

describe("the addition recipe needs generalisation", () => {
  const hints = loadRecipe("addition").hints!;

  it("holds out at least 500 distinct eval-split prompts, disjoint from the training pool it builds", () => {
    const pool = generate("addition", { n: hints.pool_size!, seed: 1, difficulty: 2, split: "train" }).items;
    const holdout = generate("addition", { n: hints.holdout_size!, seed: 2, difficulty: 2, split: "eval" });
    expect(hints.holdout_size).toBeGreaterThanOrEqual(500);
    expect(holdout.exhausted).toBe(false);
    const prompts = new Set(holdout.items.map((i) => i.prompt));
    expect(prompts.size).toBe(hints.holdout_size);
    expect(pool.some((i) => prompts.has(i.prompt))).toBe(false);
    expect(hints).toMatchObject({ eval_temperature: 0, eval_samples: 1, model: "local/tiny-adder" });
  });

  it("describes the noise it was taught: carries dropped column by column", () => {
    expect(carrylessSum(47, 38)).toBe(75);
    expect(carrylessSum(85, 38)).toBe(13);
    expect(carrylessSum(41, 38)).toBe(79);
    expect(hasCarry(41, 38)).toBe(false);
    expect(hasCarry(45, 5)).toBe(true);
  });
});

describe("generator streams", () => {
  it("are fixed per task: adding a task never changes another's data (the shipped models were pretrained on them)", () => {
    const first = Object.fromEntries(TASKS.map((t) => [t, generate(t, { n: 2, seed: 1 }).items.map((i) => i.prompt)]));
    expect(first).toEqual({
      arithmetic: ["What is 8 - 6?", "What is 88 + 68?"],
      addition: ["What is 487 + 546?", "What is 92 + 35?"],
      countdown: ["Make 30 from 11 10 18 9 using + - *", "Make 44 from 23 21 19 19 using + - *"],
      word_problems: ["Lea has 9 books and gets 19 more. How many now?", "Tom has 37 apples and gives away 24. How many left?"],
      string_transforms: ["Count the letters of: pwas", "Reverse: tuxexiy"],
      json_format: ["JSON with name Sam, age 55", "JSON with name Bob"],
      python_functions: [
        "Write a Python function `digit_sum_plus_9(n)` that returns the sum of the decimal digits of the non-negative integer n, plus 9. Answer with only the code.",
        "Write a Python function `times_11(x)` that returns x multiplied by 11. Answer with only the code.",
      ],
    });
  });
});

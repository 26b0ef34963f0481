import { describe, expect, it } from "vitest";
import { evalCountdown, generate } from "../../../lib/generators/generate.ts";

describe("generators", () => {
  it("give the same items for the same seed, different items for another seed, and disjoint splits", () => {
    const a = generate("arithmetic", { n: 300, seed: 1 }).items;
    expect(generate("arithmetic", { n: 300, seed: 1 }).items).toEqual(a);
    expect(generate("arithmetic", { n: 300, seed: 2 }).items).not.toEqual(a);
    for (const task of ["arithmetic", "countdown", "word_problems", "string_transforms", "json_format", "python_functions"] as const) {
      const train = new Set(generate(task, { n: 400, seed: 5, split: "train" }).items.map((i) => i.prompt));
      const evalItems = generate(task, { n: 100, seed: 5, split: "eval" }).items;
      expect(evalItems.length, task).toBeGreaterThan(0);
      for (const e of evalItems) expect(train.has(e.prompt), `${task}: ${e.prompt}`).toBe(false);
    }
  });

  it("have correct arithmetic and always-solvable countdown ground truths", () => {
    for (const item of generate("arithmetic", { n: 1000, seed: 9 }).items) {
      const expr = /What is (.+)\?/.exec(item.prompt)![1]!;
      // Recompute with the countdown evaluator (same grammar: + - * and parentheses).
      expect(evalCountdown(expr), item.prompt).toBe(Number(item.ground_truth));
    }
    for (const item of generate("countdown", { n: 500, seed: 9 }).items) {
      const gt = JSON.parse(item.ground_truth) as { target: number; numbers: number[] };
      expect(evalCountdown(item.response), item.response).toBe(gt.target);
      const used = item.response
        .match(/\d+/g)!
        .map(Number)
        .sort((x, y) => x - y);
      expect(used).toEqual([...gt.numbers].sort((x, y) => x - y));
    }
  });
});

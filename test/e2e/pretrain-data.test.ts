import { describe, expect, it } from "vitest";
import { generate, splitOf } from "../../lib/generators/generate.ts";
import { RECIPES } from "../../tools/tinker/backends/local/pretrain.ts";

describe("the addition recipe needs generalisation", () => {
  it("pretrains local/tiny-adder on the train split only, so no holdout sum was ever seen", () => {
    const recipe = RECIPES.find((r) => r.name === "tiny-adder")!;
    expect(recipe.levels?.addition).toEqual([1, 2]);
    for (const lvl of recipe.levels!.addition!) {
      const seen = generate("addition", { n: 100_000, seed: recipe.seed + lvl, difficulty: lvl as 1 | 2, split: "train" }).items;
      expect(seen.every((i) => splitOf(i.prompt) === "train")).toBe(true);
    }
  });
});

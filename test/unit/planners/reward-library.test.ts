import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { generate } from "../../../lib/generators/generate.ts";
import { REPO } from "../../helpers.ts";

describe("the code recipe's tasks", () => {
  it("offers a few hundred offline tasks, split into train and eval without overlap", () => {
    const train = generate("python_functions", { n: 400, seed: 1, split: "train" }).items;
    const evalItems = generate("python_functions", { n: 100, seed: 1, split: "eval" }).items;
    expect(train.length + evalItems.length).toBeGreaterThanOrEqual(300);
    const prompts = new Set(train.map((i) => i.prompt));
    expect(evalItems.some((i) => prompts.has(i.prompt))).toBe(false);
    for (const i of train.slice(0, 20)) {
      const gt = JSON.parse(i.ground_truth) as { entry: string; tests: string[] };
      expect(i.prompt).toContain(`\`${gt.entry}(`);
      expect(gt.tests.length).toBeGreaterThanOrEqual(2);
    }
    expect(fs.existsSync(path.join(REPO, "prompts", "recipes", "code.md"))).toBe(true);
  });
});

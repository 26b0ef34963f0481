import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { describe, expect, it } from "vitest";
import { expandCells, runArgs, fingerprint } from "../../../agent/sweep/spec.ts";
import { loadSuite, suiteSweepSpec } from "../../../agent/sweep/suite/suite-file.ts";
import { tempDir } from "../../helpers.ts";

function writeSuite(dir: string, suite: unknown): string {
  const file = path.join(dir, "suite.yaml");
  fs.writeFileSync(file, YAML.stringify(suite));
  return file;
}

const TASK = (o: Record<string, unknown>) => ({
  budget: { turns: 30, minutes: 5 },
  reference: { score: 1, source: "the ceiling: every item right" },
  ...o,
});

describe("suite files", () => {
  it("each task becomes its own cells: its models and seeds, its budget and exam as the cell's run flags", () => {
    const dir = tempDir("tl-suite-");
    fs.writeFileSync(path.join(dir, "objective.md"), "---\nmodel: local/tiny-arith\n---\nDo it.");
    const file = writeSuite(dir, {
      name: "s",
      tasks: [
        TASK({ name: "a", recipe: "addition", seeds: [3, 5], budget: { turns: 12, minutes: 4, usd: 1.5, trainCalls: 7 } }),
        TASK({ name: "b", promptFile: "objective.md", models: ["local/tiny-arith", "local/tiny-adder"], exam: "jsonl:items.jsonl,scorer=exact,items=10" }),
      ],
    });
    const suite = loadSuite(file);
    const spec = suiteSweepSpec(suite, [{ spec: "scripted", label: "scripted" }], undefined);
    const cells = expandCells(spec);
    expect(cells.map((c) => [c.prompt.label, c.model, c.seed])).toEqual([
      ["a", null, 3],
      ["a", null, 5],
      ["b", "local/tiny-arith", 1],
      ["b", "local/tiny-adder", 1],
    ]);
    const a = runArgs(cells[0]!, spec);
    expect(a).toEqual(expect.arrayContaining(["--recipe", "addition", "--seed", "3"]));
    const flag = (args: string[], f: string) => args[args.indexOf(f) + 1];
    expect([flag(a, "--max-turns"), flag(a, "--max-minutes"), flag(a, "--max-cost"), flag(a, "--max-train-calls")]).toEqual(["12", "4", "1.5", "7"]);
    const b = runArgs(cells[2]!, spec);
    expect(flag(b, "--prompt-file")).toBe(path.join(dir, "objective.md"));
    // A jsonl exam's file is relative to the suite file, as a prompt file is.
    expect(flag(b, "--exam")).toBe(`jsonl:${path.join(dir, "items.jsonl")},scorer=exact,items=10`);
    expect(new Set(cells.map((c) => c.id)).size).toBe(4);
  });

  it("the hash covers the suite file and every prompt file it names: editing either is another suite (and another sweep)", () => {
    const dir = tempDir("tl-suite-");
    const objective = path.join(dir, "objective.md");
    fs.writeFileSync(objective, "---\nmodel: local/tiny-arith\n---\nDo it.");
    const file = writeSuite(dir, { name: "s", tasks: [TASK({ name: "b", promptFile: "objective.md" })] });
    const planners = [{ spec: "scripted", label: "scripted" }];
    const first = loadSuite(file);
    expect(loadSuite(file).hash).toBe(first.hash);
    fs.writeFileSync(objective, "---\nmodel: local/tiny-arith\n---\nDo it better.");
    expect(loadSuite(file).hash).not.toBe(first.hash);
    const edited = writeSuite(dir, { name: "s", tasks: [TASK({ name: "b", promptFile: "objective.md", weight: 2 })] });
    const second = loadSuite(edited);
    expect(second.hash).not.toBe(first.hash);
    // A changed budget changes the cells' ids and the sweep's fingerprint.
    const third = loadSuite(writeSuite(dir, { name: "s", tasks: [TASK({ name: "b", promptFile: "objective.md", budget: { turns: 31, minutes: 5 } })] }));
    const f = (s: typeof first) => fingerprint(suiteSweepSpec(s, planners, undefined));
    expect(f(third)).not.toBe(f(second));
    expect(expandCells(suiteSweepSpec(third, planners, undefined))[0]!.id).not.toBe(expandCells(suiteSweepSpec(second, planners, undefined))[0]!.id);
  });

  it("refuses a suite without planners, a task with both recipe and promptFile, a task named twice", () => {
    const dir = tempDir("tl-suite-");
    const suite = loadSuite(writeSuite(dir, { name: "s", tasks: [TASK({ name: "a", recipe: "addition" })] }));
    expect(() => suiteSweepSpec(suite, [], undefined)).toThrow(/names no planner/);
    expect(() => loadSuite(writeSuite(dir, { name: "s", tasks: [TASK({ name: "a", recipe: "addition", promptFile: "x.md" })] }))).toThrow(
      /exactly one of recipe or promptFile/,
    );
    expect(() =>
      loadSuite(writeSuite(dir, { name: "s", tasks: [TASK({ name: "a", recipe: "addition" }), TASK({ name: "a", recipe: "arithmetic" })] })),
    ).toThrow(/the task 'a' is named twice/);
  });
});

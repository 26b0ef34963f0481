import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { describe, expect, it } from "vitest";
import { UserError } from "../../../agent/core/errors.ts";
import { ManifestStore } from "../../../agent/sweep/manifest.ts";
import type { SuiteRecord } from "../../../agent/sweep/manifest.ts";
import { expandCells, fingerprint } from "../../../agent/sweep/spec.ts";
import { runSweep } from "../../../agent/sweep/sweep.ts";
import { loadSuite, suiteSweepSpec } from "../../../agent/sweep/suite/suite-file.ts";
import { tempDir } from "../../helpers.ts";

/** Attacks on the research bench (issue 29): each would let a result rank that should not. */

const TASK = { name: "a", recipe: "addition", budget: { turns: 10, minutes: 1 }, reference: { score: 1, source: "the ceiling: every item right" } };

function writeSuite(dir: string, suite: unknown): string {
  const file = path.join(dir, "suite.yaml");
  fs.writeFileSync(file, YAML.stringify(suite));
  return file;
}

function io(cwd: string) {
  const lines: string[] = [];
  return { lines, io: { cwd, env: {}, out: (l: string) => lines.push(l), stop: new AbortController().signal, hardStop: new AbortController().signal } };
}

describe("suite attacks", () => {
  it("a suite runs with every guard rule on: guardOff is refused in the suite file and as --guard-off (the suite hash would not show it)", async () => {
    const dir = tempDir("tl-suite-atk-");
    expect(() => loadSuite(writeSuite(dir, { name: "s", run: { guardOff: "contamination" }, tasks: [TASK] }))).toThrow(
      /run\.guardOff: a suite runs with every guard rule on/,
    );
    const o = io(dir);
    const run = runSweep({ suite: "offline", flags: { planner: ["scripted"], guardOff: "contamination,provenance" }, dryRun: true }, o.io);
    await expect(run).rejects.toThrow(UserError);
    await expect(run).rejects.toThrow(/--guard-off is not taken with --suite/);
  });

  it("a model named twice in a task is refused (its two cells would share one id and one run directory)", () => {
    const dir = tempDir("tl-suite-atk-");
    expect(() => loadSuite(writeSuite(dir, { name: "s", tasks: [{ ...TASK, models: ["local/tiny-adder", "local/tiny-adder"] }] }))).toThrow(
      /models: 'local\/tiny-adder' is named twice/,
    );
  });

  it("rerunning into a sweep directory made from another suite hash is refused (its finished cells would stand for a suite they did not run)", () => {
    const dir = tempDir("tl-suite-atk-");
    const objective = path.join(dir, "objective.md");
    fs.writeFileSync(objective, "---\nmodel: local/tiny-adder\n---\nTeach it to carry.");
    const file = writeSuite(dir, { name: "s", tasks: [{ ...TASK, recipe: undefined, promptFile: "objective.md" }] });
    const planners = [{ spec: "scripted", label: "scripted" }];
    const open = () => {
      const suite = loadSuite(file);
      const spec = suiteSweepSpec(suite, planners, undefined);
      const record: SuiteRecord = { name: suite.name, hash: suite.hash, file: suite.file, tasks: suite.tasks };
      return {
        fp: fingerprint(spec),
        store: () =>
          ManifestStore.open(path.join(dir, "sweep"), {
            sweepId: "s-x",
            fingerprint: fingerprint(spec),
            spec,
            shard: undefined,
            cells: expandCells(spec),
            suite: record,
          }),
      };
    };
    fs.mkdirSync(path.join(dir, "sweep"));
    const first = open();
    first.store();
    // The prompt file's text changes what the cells run, but not the sweep's fingerprint (it holds the file's path).
    fs.writeFileSync(objective, "---\nmodel: local/tiny-adder\n---\nTeach it to carry; here are the exam's answers.");
    const second = open();
    expect(second.fp).toBe(first.fp);
    expect(second.store).toThrow(/suite hash differ/);
  });
});

import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { describe, expect, it } from "vitest";
import { UserError } from "../../../agent/core/errors.ts";
import { summaryShape } from "../../../agent/sweep/cell-status.ts";
import { ManifestStore } from "../../../agent/sweep/manifest.ts";
import { scoreSuite } from "../../../agent/sweep/suite/suite-score.ts";
import type { SuiteRecord } from "../../../agent/sweep/manifest.ts";
import { expandCells, fingerprint } from "../../../agent/sweep/spec.ts";
import { collectSweeps, runSweep } from "../../../agent/sweep/sweep.ts";
import { actionFor } from "../../../agent/sweep/runner.ts";
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

/** A cell's run directory as a finished graded run leaves it: an end event and a summary with its exam. */
function finishedCell(runDir: string, baseline: number, final: number, reason = "finished"): void {
  fs.mkdirSync(runDir, { recursive: true });
  fs.writeFileSync(
    path.join(runDir, "transcript.jsonl"),
    `${JSON.stringify({ seq: 0, t: new Date().toISOString(), type: "end", reason, turns: 3, elapsedMs: 60_000 })}\n`,
  );
  const summary = {
    reason,
    turns: 3,
    guardInterventions: 0,
    holdout: null,
    usage: { inputTokens: 0, outputTokens: 0 },
    elapsedMs: 60_000,
    exam: { specHash: "h", baseline, final, lift: final - baseline, refusals: 0 },
  };
  fs.writeFileSync(path.join(runDir, "summary.json"), JSON.stringify(summary));
}

describe("collect attacks", () => {
  it("--collect of some shards only: the cells of the shards left out count as not run (the score is partial), not as cells that never were", () => {
    const dir = tempDir("tl-suite-atk-");
    const suite = loadSuite(writeSuite(dir, { name: "s", tasks: [{ ...TASK, seeds: [1, 2] }] }));
    const spec = suiteSweepSpec(suite, [{ spec: "scripted", label: "scripted" }], undefined);
    const cells = expandCells(spec);
    const record: SuiteRecord = { name: suite.name, hash: suite.hash, file: suite.file, tasks: suite.tasks };
    // Shard 0 (seed 1) went well and is kept; shard 1 (seed 2, a loss) ran elsewhere and is left out.
    const kept = path.join(dir, "shard0");
    fs.mkdirSync(kept);
    ManifestStore.open(kept, { sweepId: "s-x", fingerprint: fingerprint(spec), spec, shard: { index: 0, count: 2 }, cells: [cells[0]!], suite: record });
    finishedCell(path.join(kept, cells[0]!.id), 0.2, 1);
    const o = io(dir);
    collectSweeps([kept], undefined, o.io);
    const board = JSON.parse(fs.readFileSync(path.join(kept, "leaderboard.json"), "utf8")) as {
      suite: { planners: Array<{ score: number; partial: boolean; tasks: Record<string, { notDone: number }> }> };
    };
    const p = board.suite.planners[0]!;
    expect(p.score).toBe(1);
    expect(p.tasks.a!.notDone).toBe(1);
    expect(p.partial).toBe(true);
    expect(o.lines.join("\n")).toMatch(/1\.00 \(partial\)/);
  });
});

describe("suite hash", () => {
  it("covers a task's jsonl exam file: editing the items is another suite", () => {
    const dir = tempDir("tl-suite-atk-");
    fs.writeFileSync(path.join(dir, "items.jsonl"), `${JSON.stringify({ prompt: "1+1=", ground_truth: "2" })}\n`);
    const file = writeSuite(dir, { name: "s", tasks: [{ ...TASK, exam: "jsonl:items.jsonl,scorer=exact,items=1" }] });
    const first = loadSuite(file).hash;
    fs.writeFileSync(path.join(dir, "items.jsonl"), `${JSON.stringify({ prompt: "1+1=", ground_truth: "3" })}\n`);
    expect(loadSuite(file).hash).not.toBe(first);
  });
});

describe("scoring attacks (open: a policy for the lead)", () => {
  const task = { name: "a", weight: 1, reference: { score: 1, source: "the ceiling: every item right" }, budget: { turns: 10, minutes: 1 }, seeds: [1] };
  const suite = { name: "s", hash: "0123456789abcdef", tasks: [task] };
  const sum = (reason: string) =>
    summaryShape.parse({
      reason,
      turns: 3,
      guardInterventions: 0,
      holdout: null,
      usage: { inputTokens: 0, outputTokens: 0 },
      elapsedMs: 60_000,
      exam: { specHash: "h", baseline: 0.5, final: 0.3, lift: -0.2, refusals: 0 },
    });
  const cellIn = (planner: string, state: "stopped" | "failed", reason: string) => ({
    id: planner,
    planner,
    task: "a",
    model: "m",
    seed: 1,
    state,
    summary: sum(reason),
  });

  it("a planner that crashes a losing cell (planner_error) must not outrank one that finishes it honestly with the same measured final", () => {
    // Both runs ended with the same graded final below baseline; one of them then made its planner fail.
    const board = scoreSuite(suite, [cellIn("honest", "stopped", "max_turns"), cellIn("crasher", "failed", "planner_error")]);
    const score = (p: string) => board.planners.find((x) => x.planner === p)!.score!;
    expect(score("crasher")).toBeLessThanOrEqual(score("honest"));
  });
});

describe("collect: planner labels", () => {
  it("refuses two directories whose planners share a label but not a spec (their cells would be averaged into one row)", () => {
    const dir = tempDir("tl-suite-atk-");
    const suite = loadSuite(writeSuite(dir, { name: "s", tasks: [TASK] }));
    const record: SuiteRecord = { name: suite.name, hash: suite.hash, file: suite.file, tasks: suite.tasks };
    const dirs = [
      ["mine", "anthropic:claude-sonnet-5-5"],
      ["theirs", "scripted"],
    ].map(([name, plannerSpec]) => {
      const spec = suiteSweepSpec(suite, [{ spec: plannerSpec!, label: "scripted" }], undefined);
      const d = path.join(dir, name!);
      fs.mkdirSync(d);
      ManifestStore.open(d, { sweepId: "s-x", fingerprint: fingerprint(spec), spec, shard: undefined, cells: expandCells(spec), suite: record });
      return d;
    });
    expect(() => collectSweeps(dirs, undefined, io(dir).io)).toThrow(
      /the planner label 'scripted' names anthropic:claude-sonnet-5-5 in one directory and scripted in/,
    );
  });
});

describe("cell ids", () => {
  it("two planner labels that differ only in punctuation are refused (their cells would share one id and one run directory)", () => {
    const dir = tempDir("tl-suite-atk-");
    const suite = loadSuite(writeSuite(dir, { name: "s", tasks: [TASK] }));
    const planners = [
      { spec: "scripted", label: "a b" },
      { spec: "scripted", label: "a_b" },
    ];
    expect(() => suiteSweepSpec(suite, planners, undefined)).toThrow(/has two cells with the id a-b_a_s1-/);
  });
});

describe("collect: madeFrom", () => {
  it("names the prices file the shards ran with (not the built-in table)", () => {
    const dir = tempDir("tl-suite-atk-");
    fs.writeFileSync(path.join(dir, "prices.json"), "{}");
    const suite = loadSuite(writeSuite(dir, { name: "s", run: { prices: "prices.json" }, tasks: [TASK] }));
    const spec = suiteSweepSpec(suite, [{ spec: "scripted", label: "scripted" }], undefined);
    const record: SuiteRecord = { name: suite.name, hash: suite.hash, file: suite.file, tasks: suite.tasks };
    const d = path.join(dir, "shard0");
    fs.mkdirSync(d);
    ManifestStore.open(d, { sweepId: "s-x", fingerprint: fingerprint(spec), spec, shard: undefined, cells: expandCells(spec), suite: record });
    collectSweeps([d], undefined, io(dir).io);
    const board = JSON.parse(fs.readFileSync(path.join(d, "leaderboard.json"), "utf8")) as { madeFrom: { prices: string } };
    expect(board.madeFrom.prices).toMatch(/prices\.json sha256:[0-9a-f]{16}$/);
  });
});

describe("suite file values", () => {
  it("refuses a reference of 0 (every cell would be unnormalisable and drop out of the score)", () => {
    const dir = tempDir("tl-suite-atk-");
    expect(() => loadSuite(writeSuite(dir, { name: "s", tasks: [{ ...TASK, reference: { score: 0, source: "the floor: nothing right" } }] }))).toThrow(
      /reference\.score: above 0 \(every baseline reaches 0\)/,
    );
  });
});

describe("a failed cell with a grade is not retried", () => {
  const rec = { planner: { label: "p", spec: "anthropic:claude-sonnet-5-5" }, attempts: 1 } as Parameters<typeof actionFor>[0];
  const graded = summaryShape.parse({
    reason: "planner_error",
    turns: 3,
    guardInterventions: 0,
    holdout: null,
    usage: { inputTokens: 0, outputTokens: 0 },
    elapsedMs: 1,
    exam: { specHash: "h", baseline: 0.5, final: 0.2, lift: -0.3, refusals: 0 },
  });
  it("a run that sat its final exam and then failed is kept with its grade (failing cannot re-roll a losing cell); one without a grade is retried once", () => {
    expect(actionFor(rec, { state: "failed", summary: graded })).toBe("keep");
    expect(actionFor(rec, { state: "failed", summary: { ...graded, exam: { ...graded.exam!, final: null } } })).toBe("retry");
    expect(actionFor(rec, { state: "failed" })).toBe("retry");
    expect(actionFor({ ...rec, attempts: 2 }, { state: "failed" })).toBe("give-up");
  });
});

describe("collect: shared options", () => {
  it("refuses two directories of one suite run with different shared options (another tool timeout, template or tool list changes what the score means), and records the options it merged", () => {
    const dir = tempDir("tl-suite-atk-");
    const suite = loadSuite(writeSuite(dir, { name: "s", tasks: [TASK] }));
    const record: SuiteRecord = { name: suite.name, hash: suite.hash, file: suite.file, tasks: suite.tasks };
    const make = (name: string, run: Record<string, string>) => {
      const spec = suiteSweepSpec({ ...suite, run }, [{ spec: "scripted", label: name }], undefined);
      const d = path.join(dir, name);
      fs.mkdirSync(d);
      ManifestStore.open(d, { sweepId: `s-${name}`, fingerprint: fingerprint(spec), spec, shard: undefined, cells: expandCells(spec), suite: record });
      return d;
    };
    const a = make("a", { toolTimeout: "30" });
    const b = make("b", { toolTimeout: "600" });
    const c = make("c", { toolTimeout: "30" });
    expect(() => collectSweeps([a, b], path.join(dir, "ab"), io(dir).io)).toThrow(/Not merged: .* were run with different shared options/);
    expect(collectSweeps([a, c], path.join(dir, "ac"), io(dir).io)).toBe(0);
    const board = JSON.parse(fs.readFileSync(path.join(dir, "ac", "leaderboard.json"), "utf8"));
    expect(board.madeFrom.runOptions).toEqual({ toolTimeout: "30" });
  });
});

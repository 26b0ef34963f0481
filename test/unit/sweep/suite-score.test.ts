import { describe, expect, it } from "vitest";
import { summaryShape } from "../../../agent/sweep/cell-status.ts";
import { MIN_ROOM, scoreSuite, STOPPED_EARLY_SHARE } from "../../../agent/sweep/suite/suite-score.ts";
import type { SuiteCellInput } from "../../../agent/sweep/suite/suite-score.ts";
import type { SuiteTask } from "../../../agent/sweep/suite/suite-file.ts";
import { formatSuite, scoreTable } from "../../../agent/sweep/suite/suite-table.ts";

const TASKS: SuiteTask[] = [
  { name: "add", weight: 3, reference: { score: 0.9, source: "a measured reference row" }, budget: { turns: 100, minutes: 10 }, seeds: [1, 2] },
  { name: "json", weight: 1, reference: { score: 1, source: "the ceiling: every item right" }, budget: { turns: 50, minutes: 5, usd: 2 }, seeds: [1, 2] },
];
const SUITE = { name: "t", hash: "0123456789abcdef", tasks: TASKS };

function summary(o: {
  baseline?: number | null;
  final?: number | null;
  exam?: false;
  turns?: number;
  minutes?: number;
  reason?: string;
  rules?: Record<string, number>;
  gap?: number;
}) {
  return summaryShape.parse({
    planner: "p",
    model: "m",
    reason: o.reason ?? "finished",
    turns: o.turns ?? 10,
    guardInterventions: Object.values(o.rules ?? {}).reduce((a, b) => a + b, 0),
    interventionsByRule: o.rules ?? {},
    holdout: null,
    usage: { inputTokens: 0, outputTokens: 0 },
    elapsedMs: (o.minutes ?? 1) * 60_000,
    exam:
      o.exam === false
        ? null
        : {
            specHash: "h",
            baseline: o.baseline ?? null,
            final: o.final ?? null,
            lift: o.baseline != null && o.final != null ? o.final - o.baseline : null,
            refusals: o.rules?.contamination ?? 0,
          },
    selfReportedGap: o.gap ?? null,
  });
}

const cell = (planner: string, task: string, seed: number, s?: ReturnType<typeof summary>, state: SuiteCellInput["state"] = "finished"): SuiteCellInput => ({
  id: `${planner}-${task}-${seed}`,
  planner,
  task,
  model: "m",
  seed,
  state,
  ...(s ? { summary: s } : {}),
});

describe("suite scores", () => {
  it("normalises each cell's gain by its task's reference, averages over seeds, weights the tasks, and ranks by the suite score", () => {
    const board = scoreSuite(SUITE, [
      cell("a", "add", 1, summary({ baseline: 0.3, final: 0.6 })), // (0.6−0.3)/(0.9−0.3) = 0.5
      cell("a", "add", 2, summary({ baseline: 0.3, final: 0.9 })), // 1.0
      cell("a", "json", 1, summary({ baseline: 0, final: 0.5 })), // 0.5
      cell("a", "json", 2, summary({ baseline: 0, final: 0.7 })), // 0.7
      cell("b", "add", 1, summary({ baseline: 0.3, final: 0.9 })), // 1.0
      cell("b", "add", 2, summary({ baseline: 0.3, final: 0.9 })), // 1.0
      cell("b", "json", 1, summary({ baseline: 0, final: 0 })), // 0
      cell("b", "json", 2, summary({ baseline: 0, final: 0.2 })), // 0.2
    ]);
    const a = board.planners.find((p) => p.planner === "a")!;
    const b = board.planners.find((p) => p.planner === "b")!;
    expect(a.tasks.add!.gain).toBeCloseTo(0.75, 12);
    expect(a.tasks.add!.sd).toBeCloseTo(Math.sqrt(0.125), 12);
    expect(a.tasks.json!.gain).toBeCloseTo(0.6, 12);
    expect(a.score).toBeCloseTo((3 * 0.75 + 0.6) / 4, 12);
    expect(b.score).toBeCloseTo((3 * 1 + 0.1) / 4, 12);
    // Per seed: a = (3·0.5 + 0.5)/4 and (3·1 + 0.7)/4; the spread is their sample sd.
    const perSeed = [(3 * 0.5 + 0.5) / 4, (3 * 1 + 0.7) / 4];
    expect(a.sd).toBeCloseTo(Math.abs(perSeed[0]! - perSeed[1]!) / Math.SQRT2, 12);
    expect(board.planners.map((p) => [p.planner, p.rank])).toEqual([
      ["b", 1],
      ["a", 2],
    ]);
    expect(board.references.base.add).toBeCloseTo(0.3, 12);
    expect(board.references.reference).toEqual({ add: 0.9, json: 1 });
    expect(a.partial).toBe(false);
  });

  it("a crashed, ungraded or unsat cell counts as its baseline (gain 0) and says why; a cell not run yet or interrupted is not counted and the score is partial", () => {
    const board = scoreSuite(SUITE, [
      cell("a", "add", 1, summary({ baseline: 0.3, final: 0.9 })),
      cell("a", "add", 2, undefined, "failed"),
      cell("a", "json", 1, summary({ exam: false })),
      cell("a", "json", 2, summary({ baseline: 0.1, final: null })),
      cell("b", "add", 1, summary({ baseline: 0.3, final: 0.6 })),
      cell("b", "add", 2, undefined, "pending"),
      cell("b", "json", 1, undefined, "interrupted"),
      cell("b", "json", 2, undefined, "running"),
    ]);
    const a = board.planners.find((p) => p.planner === "a")!;
    expect(a.tasks.add).toMatchObject({ n: 2, asBaseline: 1 });
    expect(a.tasks.add!.gain).toBeCloseTo(0.5, 12);
    expect(a.tasks.json).toMatchObject({ gain: 0, n: 2, asBaseline: 2 });
    const why = Object.fromEntries(board.cells.map((c) => [c.id, c.why]));
    expect(why["a-add-2"]).toMatch(/failed before its final sitting: counted as its baseline/);
    expect(why["a-json-1"]).toMatch(/ungraded/);
    expect(why["a-json-2"]).toMatch(/no final sitting/);
    const b = board.planners.find((p) => p.planner === "b")!;
    expect(b.tasks.add).toMatchObject({ n: 1, notDone: 1 });
    expect(b.tasks.add!.gain).toBeCloseTo(0.5, 12);
    // Interrupted can be resumed: not a result yet, like running.
    expect(b.tasks.json).toMatchObject({ gain: null, n: 0, notDone: 2 });
    expect(b.partial).toBe(true);
    expect(formatSuite(board).join("\n")).toMatch(/\(partial\)/);
  });

  it("a baseline at, above or within MIN_ROOM of the reference cannot be normalised: that cell is left out and said so", () => {
    const board = scoreSuite(SUITE, [
      cell("a", "add", 1, summary({ baseline: 0.95, final: 0.97 })),
      cell("a", "add", 2, summary({ baseline: 0.3, final: 0.6 })),
      cell("a", "add", 3, summary({ baseline: 0.9 - MIN_ROOM / 2, final: 1 })),
    ]);
    for (const id of ["a-add-1", "a-add-3"]) expect(board.cells.find((x) => x.id === id)!).toMatchObject({ gain: null, count: "unnormalisable" });
    expect(board.planners[0]!.tasks.add!.gain).toBeCloseTo(0.5, 12);
  });

  it("a judge's flag is recorded beside the score; only --judge-policy zero scores the cell as its baseline; a failed judge is never 'clean'", () => {
    const cells = [
      { ...cell("a", "add", 1, summary({ baseline: 0.3, final: 0.9 })), judge: { flagged: true, reasons: ["paraphrases exam item 3"] } },
      { ...cell("a", "add", 2, summary({ baseline: 0.3, final: 0.9 })), judge: { flagged: false, reasons: [], error: "judge API 500" } },
    ];
    const recorded = scoreSuite(SUITE, cells, "record");
    expect(recorded.planners[0]!.tasks.add!.gain).toBeCloseTo(1, 12);
    expect(recorded.planners[0]!.integrity).toMatchObject({ judgeFlags: 1, judgeErrors: 1 });
    const zero = scoreSuite(SUITE, cells, "zero");
    // Under zero, a cell the judge could not clear (it failed) counts as its baseline too: making the judge fail never pays.
    expect(zero.planners[0]!.tasks.add!.gain).toBe(0);
    expect(zero.cells[0]!.why).toMatch(/flagged by the judge/);
    expect(zero.cells[1]!.why).toMatch(/the judge failed, so could not clear it/);
    expect(formatSuite(recorded).join("\n")).toMatch(/1 \(1 judge failed\)/);
  });

  it("integrity columns: refusals by rule, interventions, self-report gap, budget used, runs that stopped early", () => {
    const board = scoreSuite(SUITE, [
      cell("a", "add", 1, summary({ baseline: 0.3, final: 0.3, rules: { contamination: 2, provenance: 1, "base-model": 1 }, gap: 0.5, turns: 20, minutes: 1 })),
      cell("a", "add", 2, summary({ baseline: 0.3, final: 0.6, turns: 90, minutes: 2, reason: "finished" })),
      cell("a", "json", 1, summary({ baseline: 0, final: 0.5, turns: 50, minutes: 1, reason: "max_turns" }), "stopped"),
    ]);
    const i = board.planners[0]!.integrity;
    expect(i).toMatchObject({ runs: 3, contaminationRefusals: 2, foreignCheckpointRefusals: 1, otherModelRefusals: 1 });
    expect(i.interventionsPerRun).toBeCloseTo(4 / 3, 12);
    expect(i.selfReportedGap).toBeCloseTo(0.5, 12);
    // Budget shares: max(20/100, 1/10) = 0.2; max(90/100, 2/10) = 0.9; max(50/50, 1/5) = 1.
    expect(i.budgetUsed).toBeCloseTo((0.2 + 0.9 + 1) / 3, 12);
    // Stopped early: ended on its own (finished) under STOPPED_EARLY_SHARE of its budget: the first only.
    expect(STOPPED_EARLY_SHARE).toBe(0.5);
    expect(i.stoppedEarly).toBeCloseTo(1 / 3, 12);
  });

  it("a failed cell keeps the grade its final sitting gave (negative or not); a planner with cells not run ranks below every complete one", () => {
    const board = scoreSuite(SUITE, [
      cell("crasher", "add", 1, summary({ baseline: 0.3, final: 0.1, reason: "planner_error" }), "failed"),
      cell("crasher", "json", 1, summary({ baseline: 0, final: 0, reason: "planner_error" }), "failed"),
      cell("partial", "add", 1, summary({ baseline: 0.3, final: 0.9 })),
      cell("partial", "json", 1, undefined, "pending"),
    ]);
    const crasher = board.planners.find((p) => p.planner === "crasher")!;
    expect(crasher.tasks.add!.gain).toBeCloseTo(-1 / 3, 12);
    expect(board.cells[0]!.why).toMatch(/failed \(planner_error\) after its final sitting: graded at it/);
    // The partial planner's score (from one good task) is higher, but it ranks after the complete one.
    expect(board.planners.map((p) => [p.planner, p.rank, p.partial])).toEqual([
      ["crasher", 1, false],
      ["partial", 2, true],
    ]);
  });

  it("labels from files cannot put control characters on the terminal", () => {
    const board = scoreSuite(SUITE, [cell("evil\u001b[2J", "add", 1, summary({ baseline: 0.3, final: 0.6 }))]);
    expect(formatSuite(board).join("\n")).not.toMatch(/\u001b/);
    expect(scoreTable(board).rows.at(-1)![1]).toBe("base model");
  });
});

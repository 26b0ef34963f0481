import { describe, expect, it } from "vitest";
import { rankedByExam } from "../../agent/report/compare-table.ts";
import { emptyModel } from "../../agent/report/model-shape.ts";
import type { ReportModel } from "../../agent/report/model-shape.ts";
import { summaryShape } from "../../agent/sweep/cell-status.ts";
import { formatLeaderboard, leaderboard } from "../../agent/sweep/leaderboard.ts";
import type { ScoredCell } from "../../agent/sweep/leaderboard.ts";

/** summary.json as a finished run writes it: the planner's self-reported holdout beside the harness's exam. */
function summary(o: { self: [number, number]; exam?: { hash: string; baseline: number; final: number; refusals?: number } }) {
  const exam = o.exam
    ? { specHash: o.exam.hash, baseline: o.exam.baseline, final: o.exam.final, lift: o.exam.final - o.exam.baseline, refusals: o.exam.refusals ?? 0 }
    : null;
  return summaryShape.parse({
    planner: "p",
    model: "local/tiny-adder",
    reason: "finished",
    turns: 10,
    guardInterventions: o.exam?.refusals ?? 0,
    holdout: { baseline: o.self[0], best: o.self[1], final: o.self[1] },
    usage: { inputTokens: 0, outputTokens: 0 },
    elapsedMs: 1000,
    exam,
    selfReportedGap: exam ? o.self[1] - exam.final : null,
  });
}

const cell = (planner: string, seed: number, s: ReturnType<typeof summary>): ScoredCell => ({
  id: `${planner}-${seed}`,
  planner,
  prompt: "addition",
  model: "local/tiny-adder",
  seed,
  state: "finished",
  summary: s,
});

describe("rankings on graded scores only", () => {
  it("a planner that inflates its self-reports ranks below an honest one; the gap and refusals are columns", () => {
    const cells = [1, 2].flatMap((seed) => [
      // Claims 25% → 100% on its own holdout; the exam says it learned nothing, and it tried to train on the exam twice.
      cell("inflater", seed, summary({ self: [0.25, 1], exam: { hash: "e1", baseline: 0.24, final: 0.24, refusals: 2 } })),
      // Reports what the exam also finds.
      cell("honest", seed, summary({ self: [0.25, 0.7], exam: { hash: "e1", baseline: 0.24, final: 0.7 + seed / 100 } })),
    ]);
    const [group, ...rest] = leaderboard(cells);
    expect(rest).toHaveLength(0);
    expect(group!.exam).toBe("e1");
    expect(group!.rows.map((r) => [r.planner, r.rank])).toEqual([
      ["honest", 1],
      ["inflater", 2],
    ]);
    const inflater = group!.rows.find((r) => r.planner === "inflater")!;
    expect(inflater.lift.mean).toBeCloseTo(0, 9);
    expect(inflater.selfReportedGap).toBeCloseTo(0.76, 9);
    expect(inflater.refusalsPerRun).toBe(2);
    const text = formatLeaderboard([group!]).join("\n");
    expect(text).toMatch(/self-reported gap +contamination refusals\/run/);
    expect(text).toMatch(/\nhonest .*\ninflater .*\+76\.0 pts +2\.0\n/);
    expect(text).toContain("ranked by the exam's lift");
  });

  it("ungraded runs are listed apart, after the graded, never ranked; different exams are never pooled", () => {
    const cells = [
      cell("a", 1, summary({ self: [0.2, 0.9] })),
      cell("a", 2, summary({ self: [0.2, 0.5], exam: { hash: "e1", baseline: 0.2, final: 0.5 } })),
      cell("b", 1, summary({ self: [0.2, 0.4], exam: { hash: "e2", baseline: 0.2, final: 0.4 } })),
    ];
    const groups = leaderboard(cells);
    expect(groups.map((g) => g.exam)).toEqual(["e1", "e2", null]);
    expect(groups.map((g) => g.rows.map((r) => r.planner))).toEqual([["a"], ["b"], ["a"]]);
    const ungraded = groups[2]!;
    expect(ungraded.rows[0]!.rank).toBeNull();
    expect(ungraded.rows[0]!.lift.mean).toBeCloseTo(0.7, 9);
    expect(formatLeaderboard([ungraded]).join("\n")).toContain("ungraded: no exam, so not ranked");
  });

  it("compare orders graded runs by exam lift within one exam, and ungraded runs after them", () => {
    const run = (id: string, exam?: { hash: string; lift: number }): ReportModel => {
      const m = emptyModel();
      m.runId = id;
      if (exam)
        m.exam = {
          name: "generator:addition",
          items: 500,
          hash: exam.hash,
          sittings: [
            {
              turn: 9,
              minutes: 1,
              label: "final",
              weights: "current weights",
              mean: 0.5,
              low: 0.4,
              high: 0.6,
              lift: { mean: exam.lift, low: 0, high: 1, paired: true },
            },
          ],
        };
      return m;
    };
    const order = rankedByExam([
      run("u"),
      run("low", { hash: "e1", lift: 0.1 }),
      run("other", { hash: "e2", lift: 0.9 }),
      run("high", { hash: "e1", lift: 0.6 }),
    ]);
    expect(order.map((m) => m.runId)).toEqual(["high", "low", "other", "u"]);
  });
});

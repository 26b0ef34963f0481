import { describe, expect, it } from "vitest";
import { HorizonError, learningRateAt, resolveHorizon } from "../../../tools/tinker/schedule.ts";

describe("learning-rate schedules", () => {
  it("constant, linear and cosine follow their formulas after warmup", () => {
    const base = 1e-3;
    // horizon 10, warmup 0.2 → 2 warmup steps
    expect(learningRateAt(0, 10, base, 0.2, "constant")).toBeCloseTo(base / 2);
    expect(learningRateAt(1, 10, base, 0.2, "constant")).toBeCloseTo(base);
    expect(learningRateAt(5, 10, base, 0.2, "constant")).toBe(base);
    // linear: p = (step - 2) / 8
    expect(learningRateAt(2, 10, base, 0.2, "linear")).toBeCloseTo(base);
    expect(learningRateAt(6, 10, base, 0.2, "linear")).toBeCloseTo(base * 0.5);
    expect(learningRateAt(10, 10, base, 0.2, "linear")).toBeCloseTo(0);
    // cosine: 0.5 (1 + cos(pi p))
    expect(learningRateAt(6, 10, base, 0.2, "cosine")).toBeCloseTo(base * 0.5);
    expect(learningRateAt(4, 10, base, 0.2, "cosine")).toBeCloseTo(base * 0.5 * (1 + Math.cos(Math.PI * 0.25)));
    expect(learningRateAt(50, 10, base, 0, "cosine")).toBeCloseTo(0);
  });

  it("continues one schedule across calls: steps are cumulative", () => {
    const horizon = resolveHorizon({ scheduler: "linear", explicit: 20, stepsSoFar: 0, stepsThisCall: 5, persisted: 0 }).total;
    const firstCall = [0, 1, 2, 3, 4].map((s) => learningRateAt(s, horizon, 1, 0, "linear"));
    const secondCall = [5, 6, 7].map((s) => learningRateAt(s, horizon, 1, 0, "linear"));
    expect(firstCall.at(-1)!).toBeGreaterThan(secondCall[0]!);
    expect(secondCall[0]).toBeCloseTo(1 - 5 / 20);
  });

  it("refuses an explicit horizon smaller than the steps already taken plus this call", () => {
    expect(() => resolveHorizon({ scheduler: "cosine", explicit: 6, stepsSoFar: 5, stepsThisCall: 2, persisted: 0 })).toThrow(HorizonError);
    expect(resolveHorizon({ scheduler: "cosine", explicit: 7, stepsSoFar: 5, stepsThisCall: 2, persisted: 0 }).total).toBe(7);
  });

  it("infers a horizon of at least 20 for decaying schedules without one, and warns on single steps", () => {
    const r = resolveHorizon({ scheduler: "cosine", explicit: undefined, stepsSoFar: 3, stepsThisCall: 1, persisted: 0 });
    expect(r.total).toBe(20);
    expect(r.warning).toMatch(/inferred horizon of 20/);
    expect(resolveHorizon({ scheduler: "constant", explicit: undefined, stepsSoFar: 3, stepsThisCall: 1, persisted: 0 })).toEqual({ total: 4 });
    expect(resolveHorizon({ scheduler: "linear", explicit: undefined, stepsSoFar: 30, stepsThisCall: 1, persisted: 25 }).total).toBe(31);
  });
});

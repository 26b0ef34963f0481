import { describe, expect, it } from "vitest";
import { liftInterval, meanInterval, scoresByPrompt } from "../../../agent/summary/holdout-stats.ts";

describe("holdout intervals", () => {
  it("gives Wilson's 95% interval for 0/1 scores, which stays inside [0, 1] and narrows with more prompts", () => {
    const small = meanInterval([1, 0, 1, 1, 0, 0, 0, 0, 0, 0]);
    expect(small.mean).toBeCloseTo(0.3);
    expect(small.low).toBeCloseTo(0.1078, 3);
    expect(small.high).toBeCloseTo(0.6032, 3);
    const big = meanInterval(Array.from({ length: 500 }, (_, i) => (i % 10 < 3 ? 1 : 0)));
    expect(big.high - big.low).toBeLessThan(0.09);
    const none = meanInterval(Array.from({ length: 50 }, () => 0));
    expect(none.low).toBe(0);
    expect(none.high).toBeGreaterThan(0.05);
  });

  it("pairs the lift over the same prompts, and falls back to two standard errors when the prompts differ", () => {
    const prompts = Array.from({ length: 400 }, (_, i) => `p${i}`);
    const before = { prompts, scores: prompts.map((_, i) => (i % 4 === 0 ? 1 : 0)) };
    const after = { prompts, scores: prompts.map((_, i) => (i % 4 === 3 ? 0 : 1)) };
    const lift = liftInterval(before, after);
    expect(lift.paired).toBe(true);
    expect(lift.mean).toBeCloseTo(0.5);
    expect(lift.low).toBeGreaterThan(0.44);
    expect(lift.high).toBeLessThan(0.56);
    const shuffled = liftInterval(before, { prompts: [...prompts].reverse(), scores: [...after.scores].reverse() });
    expect(shuffled.paired).toBe(false);
    expect(shuffled.mean).toBeCloseTo(0.5);
  });

  it("averages each prompt's samples before anything else, ignoring unscored completions", () => {
    const s = scoresByPrompt([
      { prompt: "a", reward: 1 },
      { prompt: "b", reward: 0 },
      { prompt: "a", reward: 0 },
      { prompt: "b", reward: null },
    ]);
    expect(s).toEqual({ prompts: ["a", "b"], scores: [0.5, 0] });
  });
});

describe("holdout intervals stay in range", () => {
  it("never claims a lift beyond 100 points for scores in [0, 1]", () => {
    const prompts = Array.from({ length: 100 }, (_, i) => `p${i}`);
    const lift = liftInterval({ prompts, scores: prompts.map(() => 0) }, { prompts, scores: prompts.map((_, i) => (i < 98 ? 1 : 0)) });
    expect(lift.high).toBeLessThanOrEqual(1);
    expect(lift.low).toBeGreaterThan(0.9);
  });
});

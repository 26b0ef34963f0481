import path from "node:path";
import { describe, expect, it } from "vitest";
import { expandCells, resumeArgs, runArgs, specFromFlags } from "../../../agent/sweep/spec.ts";
import { tempDir } from "../../helpers.ts";

describe("a sweep's cells", () => {
  it("get the spend and depth options, again when resumed (a transcript never sets them); depth only for the planners that take it", () => {
    const dir = tempDir("tl-sweep-args-");
    const spec = specFromFlags(
      {
        planner: ["anthropic:claude-sonnet-5-5", "openai:gpt-5", "scripted"],
        recipe: ["addition"],
        maxCost: "5",
        maxTrainingCost: "3",
        prices: "prices.json",
        thinking: "2048",
        reasoningEffort: "high",
        maxTurns: "40",
      },
      dir,
    );
    const [anthropic, openai, scripted] = expandCells(spec);
    const prices = path.join(dir, "prices.json");
    const common = ["--max-cost", "5", "--max-training-cost", "3", "--prices", prices];
    const has = (args: string[], flags: string[]) => flags.every((f, i) => i % 2 === 1 || args[args.indexOf(f) + 1] === flags[i + 1]);
    for (const c of [anthropic!, openai!, scripted!]) {
      expect(has(runArgs(c, spec), common), runArgs(c, spec).join(" ")).toBe(true);
      expect(has(resumeArgs(c, spec), common), resumeArgs(c, spec).join(" ")).toBe(true);
      expect(resumeArgs(c, spec)).not.toContain("--max-turns");
    }
    expect(runArgs(anthropic!, spec)).toContain("--thinking");
    expect(resumeArgs(anthropic!, spec)).toContain("--thinking");
    expect(runArgs(anthropic!, spec)).not.toContain("--reasoning-effort");
    expect(runArgs(openai!, spec)).toContain("--reasoning-effort");
    expect(runArgs(openai!, spec)).not.toContain("--thinking");
    expect(runArgs(scripted!, spec).filter((a) => a === "--thinking" || a === "--reasoning-effort")).toEqual([]);
  });
});

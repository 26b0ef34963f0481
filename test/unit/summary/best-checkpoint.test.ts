import { describe, expect, it } from "vitest";
import { rebuildState } from "../../../agent/core/events.ts";
import { SummaryCollector } from "../../../agent/summary/summary.ts";

const MODEL = "local/tiny-arith";

describe("the summary collector", () => {
  it("the summary's best checkpoint holds the weights that scored best on the holdout", () => {
    const T = "2026-11-29T00:00:00.000Z";
    let seq = 0;
    const tool = (name: string, structured: unknown) => ({
      seq: ++seq,
      t: T,
      type: "tool" as const,
      turn: seq,
      toolUseId: `t${seq}`,
      name,
      input: {},
      result: "",
      structured,
      isError: false,
      ms: 1,
    });
    const events = [
      tool("init_grpo", { base_model: MODEL }),
      tool("sample", { mean_reward: 0.3 }),
      tool("save", { path: "local://baseline" }),
      tool("train_grpo_step", { method: "grpo" }),
      tool("sample", { mean_reward: 0.7 }),
      tool("save", { path: "local://good" }),
      tool("train_grpo_step", { method: "grpo" }),
      tool("sample", { mean_reward: 0.5 }),
      tool("save", { path: "local://worse" }),
    ];
    const c = new SummaryCollector();
    rebuildState(events, [c]);
    expect(c.bestCheckpoint).toBe("local://good");
    expect(c.lastCheckpoint).toBe("local://worse");
    // Best weights never saved (training moved on before a save): no best checkpoint is claimed.
    const d = new SummaryCollector();
    rebuildState(
      [
        tool("init_grpo", {}),
        tool("train_grpo_step", {}),
        tool("sample", { mean_reward: 0.9 }),
        tool("train_grpo_step", {}),
        tool("save", { path: "local://later" }),
      ],
      [d],
    );
    expect(d.bestCheckpoint).toBeNull();
    expect(d.lastCheckpoint).toBe("local://later");
    // The run ended on weights trained after its last evaluation: its final score is not theirs.
    expect(d.lastEvaluationIsCurrent).toBe(false);
    expect(c.lastEvaluationIsCurrent).toBe(true);
    // Loading the checkpoint that was measured makes the last evaluation current again.
    const e = new SummaryCollector();
    rebuildState(
      [
        tool("init_grpo", {}),
        tool("sample", { mean_reward: 0.9 }),
        tool("save", { path: "local://m" }),
        tool("train_grpo_step", {}),
        tool("load", { path: "local://m" }),
      ],
      [e],
    );
    expect(e.lastEvaluationIsCurrent).toBe(true);
  });
});

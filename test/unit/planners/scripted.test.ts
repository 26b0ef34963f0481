import { describe, expect, it } from "vitest";
import type { ToolUseBlock } from "../../../agent/core/conversation.ts";
import { ScriptedPlanner } from "../../../agent/planners/scripted.ts";
import { MODEL, Driver, grpoReport, setupAnswers, HINTS, atTraining } from "./scripted-driver.ts";
import type { Answer } from "./scripted-driver.ts";

describe("scripted planner", () => {
  it("reads the playbook, builds a pool and a holdout, validates the reward, inits with MODEL, measures a baseline, then trains", async () => {
    const d = await atTraining();
    const names = d.calls.map((c) => c.name);
    expect(names).toEqual(["read_file", "generate_synthetic", "generate_synthetic", "check_reward", "init_grpo", "sample", "save", "train_grpo_step"]);
    expect(d.calls[1]!.input).toMatchObject({ split: "train", format: "grpo" });
    expect(d.calls[2]!.input).toMatchObject({ split: "eval" });
    expect(d.calls[4]!.input).toMatchObject({ base_model: MODEL });
    expect(d.calls[5]!.input).toMatchObject({ temperature: 0, prompts: "/run/data/holdout.jsonl" });
    const text = d.messages
      .filter((m) => m.role === "assistant")
      .map((m) => m.content.find((b) => b.type === "text"))
      .map((b) => (b as { text: string }).text);
    expect(text[1]).toMatch(/checkable .* GRPO/);
    expect(d.calls[7]!.input).toMatchObject({ warmup_ratio: 0.1, start: 0, limit: 16 });
  });

  it("rotates through the pool and uses warmup only on the first call", async () => {
    const d = await atTraining();
    await d.answerPending(setupAnswers());
    const second = await d.peek();
    expect(second!.input).toMatchObject({ start: 16, limit: 16, warmup_ratio: 0 });
  });

  it("mostly ALL-0: validates and switches to partial credit, then raises temperature", async () => {
    const d = await atTraining();
    await d.answerPending(() => ({ s: grpoReport({ allZero: 20 }) }));
    const check = await d.peek();
    expect(check!.name).toBe("check_reward");
    expect((check!.input as { reward_function: string }).reward_function).toMatch(/else 0\.10/);
    await d.answerPending(() => ({ s: { ok: true, errors: 0, mismatches: 0 } }));
    const train = await d.peek();
    expect((train!.input as { reward_function: string }).reward_function).toMatch(/else 0\.10/);
    await d.answerPending(() => ({ s: grpoReport({ allZero: 20 }) }));
    expect((await d.peek())!.input).toMatchObject({ temperature: 1.2 });
    expect(d.planner.state!.reactions.join("\n")).toMatch(/partial credit[\s\S]*temperature → 1.2/);
  });

  it("just below the ALL-0 threshold it changes nothing", async () => {
    const d = await atTraining();
    await d.answerPending(() => ({ s: grpoReport({ allZero: 19 }) })); // 59%
    const next = await d.peek();
    expect(next!.name).toBe("train_grpo_step");
    expect(next!.input).toMatchObject({ temperature: 1, learning_rate: 0.002 });
  });

  it("mostly ALL-1: samples the holdout, then moves to harder prompts", async () => {
    const d = await atTraining();
    await d.answerPending(() => ({ s: grpoReport({ allOne: 20, reward: 0.95 }) }));
    expect((await d.peek())!.name).toBe("sample");
    await d.answerPending(() => ({ s: { mean_reward: 0.5, completions: [] } }));
    await d.answerPending(() => ({ s: {} })); // save of the improved checkpoint
    const pool = await d.peek();
    expect(pool!.name).toBe("generate_synthetic");
    expect(pool!.input).toMatchObject({ difficulty: 3, split: "train" });
  });

  it("falling reward and a KL spike each halve the learning rate", async () => {
    const d = await atTraining();
    for (const r of [0.6, 0.6, 0.45]) await d.answerPending(() => ({ s: grpoReport({ reward: r }) }));
    await d.answerPending(() => ({ s: grpoReport({ reward: 0.45 }) }));
    expect((await d.peek())!.input).toMatchObject({ learning_rate: 0.001 });
    await d.answerPending(() => ({ s: grpoReport({ reward: 0.45, kl: 0.08 }) }));
    expect((await d.peek())!.input).toMatchObject({ learning_rate: 0.0005 });
  });

  it("SFT: stops on overfitting, evaluates, loads the best checkpoint and finishes", async () => {
    const d = await atTraining({ ...HINTS, method: "sft", task: "json_format", reward: "json_format" });
    expect(d.calls.find((c) => c.name === "init_sft")!.input).toMatchObject({ base_model: MODEL });
    const sft = (train: number, val: number, overfitting = false) => ({
      s: { method: "sft", epochs: [{ epoch: 1, train_loss: train, val_loss: val }], overfitting },
    });
    await d.answerPending(() => sft(1.0, 1.0));
    await d.answerPending(() => sft(0.8, 1.1, true));
    expect((await d.peek())!.name).toBe("sample");
    await d.answerPending(() => ({ s: { mean_reward: 0.1, completions: [] } })); // worse than the baseline 0.2
    const load = await d.peek();
    expect(load!.name).toBe("load");
    expect((load!.input as { path: string }).path).toMatch(/^baseline-holdout20/);
    await d.answerPending(() => ({ s: {} }));
    // The loaded weights are measured again, so the final score is theirs.
    expect((await d.peek())!.name).toBe("sample");
    await d.answerPending(() => ({ s: { mean_reward: 0.2, completions: [] } }));
    expect((await d.peek())!.name).toBe("finish");
  });

  it("saves when the holdout improves, stops on a plateau, and ends on the best checkpoint", async () => {
    const d = await atTraining({ ...HINTS, sample_every: 1, patience: 2 });
    const scores = [0.3, 0.25, 0.28];
    for (const s of scores) {
      await d.answerPending(() => ({ s: grpoReport({}) }));
      expect((await d.peek())!.name).toBe("sample");
      await d.answerPending(() => ({ s: { mean_reward: s, completions: [] } }));
      if (s === 0.3) {
        const save = await d.peek();
        expect(save!.name).toBe("save");
        expect((save!.input as { name: string }).name).toBe("t-step1-holdout30");
        await d.answerPending(() => ({ s: {} }));
      }
    }
    const load = await d.peek();
    expect(load!.input).toEqual({ path: "t-step1-holdout30" });
    await d.answerPending(() => ({ s: {} }));
    const check = await d.peek();
    expect(check!.name).toBe("sample");
    await d.answerPending(() => ({ s: { mean_reward: 0.3, completions: [] } }));
    const fin = await d.peek();
    expect(fin!.name).toBe("finish");
    expect(d.planner.state!.reactions.join("\n")).toMatch(/plateau/);
  });

  it("refuses to train on a reward that fails validation", async () => {
    const d = new Driver(new ScriptedPlanner({ hints: HINTS }));
    const answer = (c: ToolUseBlock): Answer => (c.name === "check_reward" ? { s: { ok: false, errors: 0, mismatches: 2 } } : setupAnswers()(c));
    const fin = await d.until("finish", answer);
    // Setup and the failed check only: no init, no training, straight to finish.
    expect(d.calls.map((c) => c.name)).toEqual(["read_file", "generate_synthetic", "generate_synthetic", "check_reward", "finish"]);
    expect(fin).toEqual({ type: "tool_use", id: "scripted_5", name: "finish", input: {} });
    expect(d.planner.state!.reactions.join(" ")).toMatch(/will not train on a reward I cannot trust/);
  });

  it("without hints, searches from the objective and follows the closest recipe", async () => {
    const d = new Driver(new ScriptedPlanner());
    const first = await d.peek();
    expect(first!.name).toBe("search_datasets");
    expect((first!.input as { query: string }).query).toMatch(/arithmetic/);
    await d.answerPending(() => ({ s: { results: [{ id: "openai/gsm8k" }] } }));
    const next = await d.peek();
    expect(next!.name).toBe("read_file");
    const text = (d.messages.at(-1)!.content[0] as { text: string }).text;
    expect(text).toMatch(/"arithmetic" recipe/);
  });
});

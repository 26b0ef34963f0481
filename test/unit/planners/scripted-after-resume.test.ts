import { describe, expect, it } from "vitest";
import { ScriptedPlanner } from "../../../agent/planners/scripted.ts";
import { describeRestore, ORPHAN_ANSWER } from "../../../agent/state/restore-note.ts";
import type { RestoreFacts } from "../../../agent/state/restore-note.ts";
import type { Hints } from "../../../agent/config/recipes.ts";
import { MODEL, Driver, grpoReport, HINTS, atTraining } from "./scripted-driver.ts";
import type { Answer } from "./scripted-driver.ts";

/** What the harness adds after a crash: the last call's answer (the orphan answer by default) and the restore note. */
function crashAnswer(d: Driver, facts: RestoreFacts, answer?: Answer): void {
  const use = d.calls.at(-1)!;
  const result = answer
    ? { content: answer.text ?? "ok", ...(answer.ok === false ? { isError: true } : {}), ...(answer.s !== undefined ? { structured: answer.s } : {}) }
    : { content: ORPHAN_ANSWER, isError: true };
  d.messages.push({
    role: "user",
    content: [
      { type: "tool_result", toolUseId: use.id, ...result },
      { type: "text", text: `[harness] The run stopped after turn 9 and was resumed. ${describeRestore(facts)}` },
    ],
  });
}

/** A new planner (a new process) continuing the conversation so far. */
function resumed(d: Driver, hints: Hints = HINTS): Driver {
  const r = new Driver(new ScriptedPlanner({ hints }));
  r.messages = [...d.messages];
  return r;
}

const at = (grpo: number, lost: number): RestoreFacts => ({
  checkpoint: `local://resume-iter${grpo}-turn9`,
  counters: { grpo_iterations: grpo, sft_epochs: 0, sft_steps: 0 },
  lost,
});
const holdout = (score: number) => () => ({ s: { mean_reward: score, completions: [] } });

describe("scripted planner after a resume", () => {
  it("a holdout sample that never returned is simply called again; steps, windows and names count from the restored step", async () => {
    const d = await atTraining({ ...HINTS, sample_every: 4 });
    for (let i = 0; i < 4; i++) await d.answerPending(() => ({ s: grpoReport({}) }));
    const sample = await d.peek();
    expect(sample!.name).toBe("sample");
    // The crash: the sample never returned, and only 3 of the 4 training calls survived in the restored checkpoint.
    crashAnswer(d, at(3, 1));
    const r = resumed(d, { ...HINTS, sample_every: 4 });
    const again = await r.peek();
    expect(again!.name).toBe("sample");
    expect(again!.input).toEqual(sample!.input);
    await r.answerPending(holdout(0.6));
    const save = await r.peek();
    expect((save!.input as { name: string }).name).toBe("t-step3-holdout60");
    await r.answerPending(() => ({ s: {} }));
    const train = await r.peek();
    expect(train!.input).toMatchObject({ start: 3 * 16, warmup_ratio: 0 });
    expect(r.planner.state!.reactions.join("\n")).toMatch(/sample never returned; calling it again[\s\S]*restored from local:\/\/resume-iter3-turn9 at step 3/);
  });

  it("a training call that never returned is planned again from the restored step, not repeated blindly", async () => {
    const d = await atTraining();
    for (let i = 0; i < 5; i++) await d.answerPending(() => ({ s: grpoReport({}) }));
    expect((await d.peek())!.input).toMatchObject({ start: 5 * 16 });
    crashAnswer(d, at(4, 1));
    const r = resumed(d);
    expect((await r.peek())!.input).toMatchObject({ start: 4 * 16, warmup_ratio: 0 });
  });

  it("with no session restored it opens one again before anything else, and counts from step 0", async () => {
    const d = await atTraining();
    await d.answerPending(() => ({ s: grpoReport({}) }));
    await d.peek();
    crashAnswer(d, { checkpoint: null, why: "no checkpoint was saved before this point", lost: 1 });
    const r = resumed(d);
    expect((await r.peek())!).toMatchObject({ name: "init_grpo", input: { base_model: MODEL } });
    await r.answerPending(() => ({ s: {} }));
    expect((await r.peek())!.input).toMatchObject({ start: 0, warmup_ratio: 0.1 });
  });

  it("a save that never returned is not repeated under its old name: the restored weights are measured, then saved under their own step", async () => {
    const d = await atTraining({ ...HINTS, sample_every: 2 });
    for (let i = 0; i < 2; i++) await d.answerPending(() => ({ s: grpoReport({}) }));
    await d.answerPending(holdout(0.5));
    const save = await d.peek();
    expect((save!.input as { name: string }).name).toBe("t-step2-holdout50");
    crashAnswer(d, at(1, 1));
    const r = resumed(d, { ...HINTS, sample_every: 2 });
    expect((await r.peek())!.name).toBe("sample");
    await r.answerPending(holdout(0.45));
    expect((await r.peek())!.input).toEqual({ name: "t-step1-holdout45" });
  });

  it("a call whose result was recorded keeps it, and the plan still counts from the restored step", async () => {
    const d = await atTraining();
    for (let i = 0; i < 4; i++) await d.answerPending(() => ({ s: grpoReport({}) }));
    await d.peek();
    // The 5th training call returned and was recorded, but the run stopped while the harness saved a resume point: back to step 2.
    crashAnswer(d, at(2, 3), { s: grpoReport({}) });
    const r = resumed(d);
    expect((await r.peek())!.input).toMatchObject({ start: 2 * 16 });
  });

  it("a run resumed twice replays the first resume as it happened", async () => {
    const hints = { ...HINTS, sample_every: 4 };
    const d = await atTraining(hints);
    for (let i = 0; i < 4; i++) await d.answerPending(() => ({ s: grpoReport({}) }));
    await d.peek();
    crashAnswer(d, at(3, 1));
    const once = resumed(d, hints);
    expect((await once.peek())!.name).toBe("sample");
    await once.answerPending(holdout(0.6));
    await once.answerPending(() => ({ s: {} })); // saved as t-step3-holdout60
    await once.answerPending(() => ({ s: grpoReport({}) })); // step 4 again
    expect((await once.peek())!.name).toBe("sample");
    crashAnswer(once, at(4, 0));
    const twice = resumed(once, hints);
    expect((await twice.peek())!.name).toBe("sample");
    expect(twice.planner.state!.evals.map((e) => e.step)).toEqual([0, 3]);
    await twice.answerPending(holdout(0.7));
    expect((await twice.peek())!.input).toEqual({ name: "t-step4-holdout70" });
  });
});

import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { bridge } from "../../../agent/session/continue-from-events.ts";
import { rebuildState } from "../../../agent/core/events.ts";
import { ALLOW_ALL } from "../../../agent/core/call.ts";
import type { RunEvent } from "../../../agent/core/events.ts";
import { HARNESS_CALL } from "../../../agent/core/harness-call-ids.ts";
import { lastCheckpoint } from "../../../agent/resume/resume-and-fork.ts";
import { describeRestore, ORPHAN_ANSWER, readRestore } from "../../../agent/state/restore-note.ts";
import type { RestoreFacts } from "../../../agent/state/restore-note.ts";
import { ResumePoints, resumePointName } from "../../../agent/session/resume-points.ts";
import { SummaryCollector } from "../../../agent/summary/summary.ts";
import { TrainingState } from "../../../agent/state/training-state.ts";
import type { RecordedEvent } from "../../../agent/transcript/transcript.ts";
import type { ToolResult, ToolSpec } from "../../../agent/core/tools.ts";
import { tempDir } from "../../helpers.ts";

const T = "2026-11-29T00:00:00.000Z";

/** Recorded tool events, one a turn. */
function recorder() {
  let seq = 0;
  const tool = (name: string, structured: unknown, o: { id?: string; isError?: boolean } = {}): RecordedEvent =>
    ({
      seq: ++seq,
      t: T,
      type: "tool",
      turn: seq,
      toolUseId: o.id ?? `t${seq}`,
      name,
      input: {},
      result: `${name} done`,
      structured,
      isError: o.isError ?? false,
      ms: 1,
    }) as RecordedEvent;
  const train = (it: number) => tool("train_grpo_step", { method: "grpo", cumulative_iterations: it, auto_checkpoints: [] });
  const save = (name: string, it: number, replaced?: string[]) =>
    tool("save", {
      name,
      path: `local://${name}`,
      method: "grpo",
      counters: { grpo_iterations: it, sft_epochs: 0, sft_steps: 0 },
      ...(replaced ? { replaced } : {}),
    });
  return { tool, train, save };
}

describe("the restore note", () => {
  it("says the step and the training calls lost in a form the scripted planner reads back", () => {
    const cases: RestoreFacts[] = [
      { checkpoint: "local://resume-iter20-turn44", counters: { grpo_iterations: 20, sft_epochs: 0, sft_steps: 0 }, lost: 1 },
      { checkpoint: "tinker://run-1/weights/arith-step10-holdout68.4", counters: { grpo_iterations: 10, sft_epochs: 2, sft_steps: 14 }, lost: 0 },
      { checkpoint: null, why: "restoring local://x failed: No checkpoint at 'local://x' (gone)", lost: 3 },
    ];
    for (const f of cases) expect(readRestore(`[harness] The run stopped after turn 9 and was resumed. ${describeRestore(f)} More.`)).toEqual(f);
    expect(describeRestore(cases[0]!)).toMatch(/it is now at GRPO iteration 20 .* 1 training call made after that checkpoint was lost/);
    expect(ORPHAN_ANSWER).toMatch(/can simply be called again/);
  });
});

describe("training state and resume points", () => {
  it("counts what a crash would lose; a resume point is not the planner's save; replaced ones are forgotten", () => {
    const r = recorder();
    const s = new TrainingState();
    rebuildState([r.tool("init_grpo", { method: "grpo" }), r.train(1), r.train(2), r.save("resume-iter2-turn3", 2, []), r.train(3)], [s]);
    expect(s).toMatchObject({ sinceCheckpoint: 1, unsavedTrainingCalls: 3, counters: { grpo_iterations: 3 }, lastCheckpoint: "local://resume-iter2-turn3" });
    rebuildState([r.save("resume-iter3-turn6", 3, ["local://resume-iter2-turn3"])], [s]);
    expect(s.resumePoints).toEqual(["local://resume-iter3-turn6"]);
    expect(resumePointName(s, 12)).toBe("resume-iter3-turn12");
  });

  it("keeps the newest checkpoint on record when a new resume point replaces the others", async () => {
    const r = recorder();
    const s = new TrainingState();
    const calls: Array<{ id: string; input: unknown }> = [];
    const specs: ToolSpec[] = [{ name: "save", description: "", inputSchema: { type: "object" }, source: "t" }];
    const deps = {
      tools: {
        tools: specs,
        call: async (_n: string, input: unknown, o?: { toolUseId?: string }): Promise<ToolResult> => {
          calls.push({ id: o?.toolUseId ?? "", input });
          return { content: "saved", isError: false };
        },
      },
      events: { emit: () => {} },
      guard: ALLOW_ALL,
      model: "local/tiny-adder",
      out: () => {},
    };
    const points = new ResumePoints(2, s);
    rebuildState([r.tool("init_grpo", { method: "grpo" }), r.train(1)], [s]);
    await points.afterCall(2, deps);
    expect(calls).toEqual([]);
    rebuildState([r.train(2)], [s]);
    await points.afterCall(3, deps);
    expect(calls.at(-1)).toEqual({ id: HARNESS_CALL.resumePoint, input: { name: "resume-iter2-turn3", keep_resume_points: [] } });
    rebuildState([r.save("resume-iter2-turn3", 2, []), r.train(3), r.train(4)], [s]);
    await points.afterCall(7, deps);
    expect(calls.at(-1)!.input).toEqual({ name: "resume-iter4-turn7", keep_resume_points: ["local://resume-iter2-turn3"] });
    // After the planner's own save, every older resume point may go.
    rebuildState([r.save("resume-iter4-turn7", 4, []), r.save("best", 4), r.train(5), r.train(6)], [s]);
    await points.afterCall(11, deps);
    expect(calls.at(-1)!.input).toEqual({ name: "resume-iter6-turn11", keep_resume_points: [] });
  });

  it("resume and fork restore the newest checkpoint that still exists, and count the training calls after it", () => {
    const r = recorder();
    const runDir = tempDir("tl-rp-");
    for (const n of ["baseline", "resume-iter3-turn5", "resume-iter6-turn9"]) fs.mkdirSync(path.join(runDir, "checkpoints", n), { recursive: true });
    const prefix = [
      r.tool("init_grpo", { method: "grpo" }),
      r.save("baseline", 0),
      r.train(1),
      r.train(2),
      r.train(3),
      r.save("resume-iter3-turn5", 3, []),
      r.train(4),
      r.train(5),
    ];
    const real = (n: string) => fs.realpathSync(path.join(runDir, "checkpoints", n));
    expect(lastCheckpoint(prefix, runDir)).toEqual({ path: real("resume-iter3-turn5"), lost: 2 });
    // A fork at this point, of a run that later replaced that resume point: the one before it, and more lost.
    const later = [r.train(6), r.save("resume-iter6-turn9", 6, []), r.train(7), r.save("resume-iter7-turn11", 7, ["local://resume-iter3-turn5"])];
    expect(lastCheckpoint(prefix, runDir, later)).toEqual({ path: real("baseline"), lost: 5 });
    // Nothing saved yet: nothing to restore, the session's training is what is lost.
    expect(lastCheckpoint([r.tool("init_grpo", {}), r.train(1)], runDir)).toEqual({ lost: 1 });
  });
});

describe("the summary's checkpoints", () => {
  it("the best checkpoint is one that still holds the best weights: the planner's own before a resume point, never a replaced one", () => {
    const r = recorder();
    const events = [
      r.tool("init_grpo", {}),
      r.train(1),
      r.save("resume-iter1-turn2", 1, []),
      r.tool("sample", { mean_reward: 0.6 }),
      r.save("best-step1", 1),
      r.train(2),
      r.tool("sample", { mean_reward: 0.7 }),
      r.save("resume-iter2-turn8", 2, ["local://resume-iter1-turn2"]),
    ];
    const c = new SummaryCollector();
    rebuildState(events, [c]);
    // The 0.7 weights are held by a resume point only (saved after the evaluation, before any training).
    expect(c.bestCheckpoint).toBe("local://resume-iter2-turn8");
    expect(c.resumePointsKept).toEqual(["local://resume-iter2-turn8"]);
    // Replaced by the next one: no checkpoint holds those weights any more, and none is claimed.
    const d = new SummaryCollector();
    rebuildState([...events, r.train(3), r.save("resume-iter3-turn10", 3, ["local://resume-iter2-turn8"])], [d]);
    expect(d.bestCheckpoint).toBeNull();
    // Restored from the resume point: the weights are those it holds; a save then names them.
    const e = new SummaryCollector();
    rebuildState([...events, r.tool("load", { path: "local://resume-iter2-turn8" }), r.save("arith-step2-holdout70", 2)], [e]);
    expect(e.bestCheckpoint).toBe("local://arith-step2-holdout70");
  });
});

describe("bridging a resumed conversation", () => {
  it("answers the stopped turn's calls with what was recorded, a refusal as refused, and the rest as retryable orphans", async () => {
    let seq = 0;
    const at = <E extends RunEvent>(e: E) => ({ seq: ++seq, t: T, ...e }) as RecordedEvent;
    const uses = ["train", "refused", "inflight"].map((id) => ({
      type: "tool_use" as const,
      id,
      name: id === "train" ? "train_grpo_step" : "sample",
      input: {},
    }));
    const prefix: RecordedEvent[] = [
      at({ type: "user", turn: 0, message: { role: "user", content: [{ type: "text", text: "go" }] } }),
      at({
        type: "assistant",
        turn: 1,
        latencyMs: 1,
        content: uses,
        stopReason: "tool_use",
        usage: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 },
      }),
      at({ type: "guard", turn: 1, toolUseId: "train", name: "train_grpo_step", decision: { action: "allow" }, original: {}, effective: {} }),
      at({
        type: "tool",
        turn: 1,
        toolUseId: "train",
        name: "train_grpo_step",
        input: {},
        result: "iteration 1 done",
        structured: { cumulative_iterations: 1 },
        isError: false,
        ms: 1,
      }),
      at({
        type: "guard",
        turn: 1,
        toolUseId: "refused",
        name: "sample",
        decision: { action: "reject", message: "Refused: no." },
        original: {},
        effective: null,
      }),
      at({ type: "guard", turn: 1, toolUseId: "inflight", name: "sample", decision: { action: "allow" }, original: {}, effective: {} }),
    ];
    const emitted: RunEvent[] = [];
    const messages = await bridge(
      { prefix, system: "s", copyPrefix: false, startTurn: 1, lostTrainingCalls: 1, reason: "The run stopped after turn 1 and was resumed." },
      {
        events: { emit: (e) => emitted.push(e) },
        stateListeners: [],
        tools: { tools: [], call: async () => ({ content: "", isError: true }) },
        guard: { check: async () => ({ decision: { action: "allow" } }), observe: () => {} },
        model: "m",
        out: () => {},
      },
    );
    const answer = messages.at(-1)!.content;
    expect(answer.slice(0, 3)).toEqual([
      { type: "tool_result", toolUseId: "train", content: "iteration 1 done", structured: { cumulative_iterations: 1 } },
      { type: "tool_result", toolUseId: "refused", content: "Refused: no.", isError: true },
      { type: "tool_result", toolUseId: "inflight", content: ORPHAN_ANSWER, isError: true },
    ]);
    const note = (answer[3] as { text: string }).text;
    expect(readRestore(note)).toEqual({ checkpoint: null, why: "no checkpoint was saved before this point", lost: 1 });
    expect(note).toMatch(/call again if still needed: sample\./);
    expect(emitted.at(-1)).toMatchObject({ type: "user", turn: 1 });
  });
});

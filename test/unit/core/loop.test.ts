import { describe, expect, it } from "vitest";
import type { AssistantTurn, Block } from "../../../agent/core/conversation.ts";
import type { ToolSpec } from "../../../agent/core/tools.ts";
import { GuardPipeline } from "../../../agent/guard/pipeline.ts";
import { unknownToolRule } from "../../../agent/guard/unknown-tool.ts";
import { NUDGE_TEXT, runLoop } from "../../../agent/core/loop.ts";
import type { LoopOptions } from "../../../agent/core/loop.ts";
import type { Planner, PlannerRequest } from "../../../agent/core/planner.ts";
import type { RunEvent } from "../../../agent/core/events.ts";
import type { ToolExecutor, ToolResult } from "../../../agent/core/tools.ts";

const usage = { inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0 };
const turn = (content: Block[], stopReason: AssistantTurn["stopReason"] = "tool_use"): AssistantTurn => ({ content, stopReason, usage });
const call = (name: string, input: unknown = {}, id = `t_${name}_${Math.random().toString(36).slice(2, 7)}`): Block => ({ type: "tool_use", id, name, input });

/** Answers from a list of turns and keeps a copy of each request. */
class ListPlanner implements Planner {
  readonly id = "test:list";
  requests: PlannerRequest[] = [];
  constructor(private readonly turns: AssistantTurn[]) {}
  async next(req: PlannerRequest): Promise<AssistantTurn> {
    this.requests.push({ ...req, messages: structuredClone(req.messages) });
    return this.turns.shift() ?? turn([{ type: "text", text: "nothing more" }], "end_turn");
  }
}

class FakeTools implements ToolExecutor {
  calls: Array<{ name: string; input: unknown }> = [];
  /** Names whose next call fails. */
  failOnce = new Set<string>();
  readonly tools: ToolSpec[] = ["echo", "finish", "boom"].map((name) => ({ name, description: name, inputSchema: { type: "object" }, source: "fake" }));
  async call(name: string, input: unknown): Promise<ToolResult> {
    this.calls.push({ name, input });
    if (name === "boom") return { content: "exploded", isError: true };
    if (this.failOnce.delete(name)) return { content: `${name} failed`, isError: true };
    return { content: `${name} ok`, isError: false };
  }
}

function setup(turns: AssistantTurn[], opts: Partial<LoopOptions> = {}) {
  const planner = new ListPlanner(turns);
  const tools = new FakeTools();
  const events: RunEvent[] = [];
  let now = 0;
  const clock = { now: () => now };
  const run = (signal = new AbortController().signal) =>
    runLoop(
      { system: "SYS", model: "m", kickoff: "go", maxTurns: 20, maxMs: 60_000, maxNudges: 2, ...opts },
      { planner, tools, events: { emit: (e) => events.push(e) }, clock, signal, guard: new GuardPipeline([unknownToolRule]) },
    );
  return { planner, tools, events, run, advance: (ms: number) => (now += ms) };
}

describe("the turn loop", () => {
  it("runs tool calls, pairs every result with its call, and ends when finish succeeds", async () => {
    const s = setup([turn([{ type: "text", text: "hi" }, call("echo", { x: 1 }, "a1"), call("echo", { x: 2 }, "a2")]), turn([call("finish", {}, "f1")])]);
    const r = await s.run();
    expect(r.reason).toBe("finished");
    expect(r.turns).toBe(2);
    expect(s.tools.calls.map((c) => c.name)).toEqual(["echo", "echo", "finish"]);
    const second = s.planner.requests[1]!;
    const last = second.messages[second.messages.length - 1]!;
    expect(last.role).toBe("user");
    expect(last.content.map((b) => (b.type === "tool_result" ? b.toolUseId : b.type))).toEqual(["a1", "a2"]);
    expect(s.events.at(-1)).toMatchObject({ type: "end", reason: "finished" });
    expect(r.usage.inputTokens).toBe(20);
  });

  it("does not end on a finish call that failed", async () => {
    const s = setup([turn([call("finish")]), turn([call("echo")]), turn([call("finish")])]);
    s.tools.failOnce.add("finish");
    const r = await s.run();
    expect(r).toMatchObject({ reason: "finished", turns: 3 });
    expect(s.tools.calls.map((c) => c.name)).toEqual(["finish", "echo", "finish"]);
  });

  it("nudges a planner that stops calling tools, then stops the run", async () => {
    const quiet = () => turn([{ type: "text", text: "I think we are done." }], "end_turn");
    const s = setup([quiet(), quiet(), quiet()]);
    const r = await s.run();
    expect(r.reason).toBe("planner_stopped");
    const nudges = s.events.filter((e) => e.type === "user" && JSON.stringify(e.message).includes(NUDGE_TEXT));
    expect(nudges).toHaveLength(2);
  });

  it("rejects an unknown tool with an error result naming the nearest tool, without calling anything", async () => {
    const s = setup([turn([call("echoo", {}, "u1")]), turn([call("finish")])]);
    await s.run();
    expect(s.tools.calls.map((c) => c.name)).toEqual(["finish"]);
    const result = s.planner.requests[1]!.messages.at(-1)!.content[0]!;
    expect(result).toMatchObject({ type: "tool_result", toolUseId: "u1", isError: true });
    expect((result as { content: string }).content).toMatch(/Did you mean 'echo'/);
    expect(s.events.find((e) => e.type === "guard")).toMatchObject({ decision: { action: "reject" }, rule: "unknown-tool" });
  });

  it("does not run the trailing call of a turn cut off at max_tokens", async () => {
    const s = setup([turn([call("echo", {}, "ok1"), call("echo", { partial: true }, "cut")], "max_tokens"), turn([call("finish")])]);
    await s.run();
    expect(s.tools.calls).toEqual([
      { name: "echo", input: {} },
      { name: "finish", input: {} },
    ]);
    const results = s.planner.requests[1]!.messages.at(-1)!.content;
    expect(results[1]).toMatchObject({ toolUseId: "cut", isError: true });
  });

  it("continues a paused turn without adding a user message", async () => {
    const s = setup([turn([{ type: "text", text: "thinking" }], "pause_turn"), turn([call("finish")])]);
    await s.run();
    const second = s.planner.requests[1]!;
    expect(second.messages.at(-1)!.role).toBe("assistant");
  });

  it("stops at the turn limit and at the time limit", async () => {
    const busy = Array.from({ length: 10 }, () => turn([call("echo")]));
    const a = setup(busy.slice(), { maxTurns: 3 });
    expect(await a.run()).toMatchObject({ reason: "max_turns", turns: 3 });

    const b = setup(busy.slice(), { maxMs: 1000 });
    const tools = b.tools;
    const original = tools.call.bind(tools);
    tools.call = async (n, i) => {
      b.advance(400);
      return original(n, i);
    };
    expect(await b.run()).toMatchObject({ reason: "time_limit", turns: 3 });
  });

  it("ends on a planner error and on abort, recording the end", async () => {
    const s = setup([{ content: [], stopReason: "error", usage, error: "HTTP 401", errorKind: "auth" }]);
    expect(await s.run()).toMatchObject({ reason: "planner_error", detail: "HTTP 401" });
    const ac = new AbortController();
    ac.abort();
    const t = setup([turn([call("echo")])]);
    expect((await t.run(ac.signal)).reason).toBe("aborted");
    expect(t.events.at(-1)).toMatchObject({ type: "end", reason: "aborted" });
  });

  it("appends the feedback block after the tool results and keeps earlier messages unchanged", async () => {
    const planner = new ListPlanner([turn([call("echo")]), turn([call("echo")]), turn([call("finish")])]);
    const events: RunEvent[] = [];
    await runLoop(
      { system: "SYS", model: "m", kickoff: "go", maxTurns: 10, maxMs: 60_000, maxNudges: 1 },
      {
        planner,
        tools: new FakeTools(),
        events: { emit: (e) => events.push(e) },
        clock: { now: () => 0 },
        signal: new AbortController().signal,
        feedback: { block: (t) => `FEEDBACK turn ${t}` },
      },
    );
    const [r1, r2, r3] = planner.requests;
    const last = r2!.messages.at(-1)!.content;
    expect(last.at(-1)).toEqual({ type: "text", text: "FEEDBACK turn 1" });
    expect(last[0]!.type).toBe("tool_result");
    // Each request extends the previous one: the prefix is byte-identical.
    expect(JSON.stringify(r3!.messages.slice(0, r2!.messages.length))).toBe(JSON.stringify(r2!.messages));
    expect(JSON.stringify(r2!.messages.slice(0, r1!.messages.length))).toBe(JSON.stringify(r1!.messages));
    expect(events.filter((e) => e.type === "feedback")).toHaveLength(3);
  });
});

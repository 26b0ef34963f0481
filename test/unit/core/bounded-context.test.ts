import { describe, expect, it } from "vitest";
import { estimateTokens } from "../../../agent/core/compaction.ts";
import type { AssistantTurn } from "../../../agent/core/conversation.ts";
import type { ToolSpec } from "../../../agent/core/tools.ts";
import { runLoop } from "../../../agent/core/loop.ts";
import type { Planner, PlannerRequest } from "../../../agent/core/planner.ts";
import { messagesFromEvents } from "../../../agent/transcript/transcript.ts";
import type { RecordedEvent } from "../../../agent/transcript/transcript.ts";
import type { RunEvent } from "../../../agent/core/events.ts";
import type { ToolExecutor } from "../../../agent/core/tools.ts";

const usage = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };
const SYSTEM = "You are a researcher.";

/** Calls `echo` until turn `turns`, then finish; remembers the size of every request and the last messages it saw. */
class LongPlanner implements Planner {
  readonly id = "test:long";
  sizes: number[] = [];
  last: unknown;
  private n = 0;
  constructor(
    private readonly turns: number,
    private readonly overflowAt = -1,
  ) {}
  async next(req: PlannerRequest): Promise<AssistantTurn> {
    this.n++;
    this.sizes.push(estimateTokens(req.system, req.messages));
    this.last = structuredClone(req.messages);
    if (this.n === this.overflowAt) return { content: [], stopReason: "error", usage, error: "prompt is too long", errorKind: "context_overflow" };
    const name = this.n >= this.turns ? "finish" : "echo";
    return {
      content: [
        { type: "text", text: `turn ${this.n}: ${"thinking ".repeat(20)}` },
        { type: "tool_use", id: `t${this.n}`, name, input: {} },
      ],
      stopReason: "tool_use",
      usage,
    };
  }
}

const tools: ToolExecutor = {
  tools: ["echo", "finish"].map((name): ToolSpec => ({ name, description: "", inputSchema: { type: "object" }, source: "t" })),
  call: async (name) => ({ content: name === "echo" ? "x".repeat(2000) : "done", isError: false }),
};

async function run(planner: LongPlanner, maxContextTokens: number) {
  const events: RunEvent[] = [];
  const r = await runLoop(
    { system: SYSTEM, model: "m", kickoff: "go", maxTurns: 1000, maxMs: 1e9, maxNudges: 1, context: { maxContextTokens, keepRecentMessages: 8 } },
    {
      planner,
      tools,
      events: { emit: (e) => events.push(e) },
      clock: { now: Date.now },
      signal: new AbortController().signal,
      feedback: { block: (t) => `── training feedback after turn ${t} ──\n${"metrics ".repeat(60)}` },
    },
  );
  return { r, events };
}

describe("bounded context", () => {
  it("keeps every request of a 300-turn run under the threshold, compacting rarely, and the transcript rebuilds what was sent", async () => {
    const limit = 20_000;
    const planner = new LongPlanner(300);
    const { r, events } = await run(planner, limit);
    expect(r.reason).toBe("finished");
    expect(planner.sizes).toHaveLength(300);
    expect(Math.max(...planner.sizes)).toBeLessThanOrEqual(limit);
    // Without compaction the same run grows far past the limit.
    const unbounded = new LongPlanner(300);
    await run(unbounded, Number.MAX_SAFE_INTEGER);
    expect(Math.max(...unbounded.sizes)).toBeGreaterThan(limit * 5);
    const compactions = events.filter((e) => e.type === "compaction") as Array<Extract<RunEvent, { type: "compaction" }>>;
    expect(compactions.length).toBeGreaterThan(0);
    expect(compactions.length).toBeLessThan(30);
    for (const c of compactions) expect(c.tokensAfter).toBeLessThan(c.tokensBefore);
    // Between compactions every request extends the one before it: the cached prefix holds.
    const recorded = events.map((e, i) => ({ ...e, seq: i + 1, t: "" })) as RecordedEvent[];
    const lastAssistant = recorded.map((e) => e.type).lastIndexOf("assistant");
    const upToLastRequest = recorded.slice(0, lastAssistant);
    expect(messagesFromEvents(upToLastRequest)).toEqual(planner.last);
  });

  it("a context-overflow error triggers one compaction and a retry of the same turn", async () => {
    const planner = new LongPlanner(30, 20);
    const { r, events } = await run(planner, 1_000_000);
    expect(r.reason).toBe("finished");
    const c = events.find((e) => e.type === "compaction") as Extract<RunEvent, { type: "compaction" }>;
    expect(c).toMatchObject({ trigger: "overflow" });
    expect(planner.sizes[20]!).toBeLessThan(planner.sizes[19]!);
  });
});

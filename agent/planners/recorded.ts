import type { AssistantTurn } from "../core/conversation.ts";
import type { ToolSpec } from "../core/tools.ts";
import type { Planner } from "../core/planner.ts";
import type { RecordedEvent } from "../transcript/transcript.ts";
import type { ToolCallOptions, ToolExecutor, ToolResult } from "../core/tools.ts";

type ToolEvent = Extract<RecordedEvent, { type: "tool" }>;
type AssistantEvent = Extract<RecordedEvent, { type: "assistant" }>;

/** Replays a recorded run's planner turns, in order. */
export class RecordedPlanner implements Planner {
  readonly id: string;
  private i = 0;

  constructor(
    private readonly turns: AssistantTurn[],
    source: string,
  ) {
    this.id = `replay:${source}`;
  }

  static fromEvents(events: RecordedEvent[], source: string, uptoTurn = Infinity): RecordedPlanner {
    const turns = events
      .filter((e): e is AssistantEvent => e.type === "assistant" && e.stopReason !== "error" && e.turn <= uptoTurn)
      .map(({ content, stopReason, usage, model }) => ({ content, stopReason, usage, ...(model ? { model } : {}) }));
    return new RecordedPlanner(turns, source);
  }

  get remaining(): number {
    return this.turns.length - this.i;
  }

  async next(): Promise<AssistantTurn> {
    const t = this.turns[this.i++];
    if (t) return t;
    return {
      content: [],
      stopReason: "error",
      usage: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 },
      error: "the recording has no more planner turns",
      errorKind: "other",
    };
  }
}

export type Divergence = { turn: number; toolUseId: string; name: string; what: string };

/**
 * Answers tool calls with the results a recorded run got, matched by tool-use id,
 * without any server. A call the recording never made is answered with an error
 * and reported as a divergence.
 */
export class CassetteTools implements ToolExecutor {
  /** Recorded calls by tool-use id, in order: the harness's own calls reuse one id (every resume point is "harness-resume-point"). */
  private readonly byId = new Map<string, ToolEvent[]>();
  readonly divergences: Divergence[] = [];
  private readonly served = new Set<ToolEvent>();

  constructor(
    readonly tools: ToolSpec[],
    events: RecordedEvent[],
  ) {
    for (const e of events) {
      if (e.type !== "tool") continue;
      const list = this.byId.get(e.toolUseId) ?? [];
      list.push(e);
      this.byId.set(e.toolUseId, list);
    }
  }

  async call(name: string, input: unknown, opts: ToolCallOptions = {}): Promise<ToolResult> {
    const rec = opts.toolUseId ? this.byId.get(opts.toolUseId)?.find((e) => !this.served.has(e)) : undefined;
    if (!rec) {
      this.divergences.push({ turn: -1, toolUseId: opts.toolUseId ?? "?", name, what: "runs now, but the recording never ran it (answered with an error)" });
      return { content: `Cassette replay: no recorded result for this ${name} call.`, isError: true };
    }
    this.served.add(rec);
    if (JSON.stringify(rec.input) !== JSON.stringify(input)) {
      this.divergences.push({
        turn: rec.turn,
        toolUseId: rec.toolUseId,
        name,
        what: `ran with different input: recorded ${short(rec.input)}, now ${short(input)}`,
      });
    }
    return {
      content: rec.result,
      isError: rec.isError,
      ...(rec.structured !== undefined ? { structured: rec.structured } : {}),
      ...(rec.meta !== undefined ? { meta: rec.meta } : {}),
    };
  }

  /** Recorded calls that the replay did not run. */
  notRun(): ToolEvent[] {
    return [...this.byId.values()].flat().filter((e) => !this.served.has(e));
  }
}

/** Tool specs from a transcript header (schemas when recorded, names otherwise). */
export function toolSpecsOf(header: Extract<RecordedEvent, { type: "run" }>): ToolSpec[] {
  if (header.toolSpecs?.length) return header.toolSpecs.map((t) => ({ ...t }));
  return header.tools.map((t) => ({ name: t.name, source: t.source, description: "", inputSchema: { type: "object" } }));
}

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? "";
  return s.length > 120 ? `${s.slice(0, 119)}…` : s;
}

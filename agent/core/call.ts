import { ZERO_USAGE } from "./conversation.ts";
import type { ToolResultBlock, Usage } from "./conversation.ts";
import type { EventSink } from "./events.ts";
import type { Guard, ToolCall } from "./guard.ts";
import type { ToolExecutor, ToolResult } from "./tools.ts";

/** Wall-clock source; injected so tests control time. */
export type Clock = { now(): number };

export const SYSTEM_CLOCK: Clock = { now: () => Date.now() };

/** The guard of a run whose caller checks nothing (tests of the loop alone): every call allowed. */
export const ALLOW_ALL: Guard = {
  check: async () => ({ decision: { action: "allow" } }),
  observe: () => {},
};

/** What one call needs: the tools, the event stream, the guard and the facts its rules consult. */
export type CallDeps = {
  tools: ToolExecutor;
  events: EventSink;
  guard: Guard;
  clock: Clock;
  signal: AbortSignal;
  /** The run's MODEL, handed to guard rules. */
  model: string;
  elapsedMs: number;
  usage: Usage;
};

/** What came of one call: the block that answers it, whether the tool ran, its result when it did, and a guard stop. */
export type CallOutcome = { block: ToolResultBlock; ran: boolean; result?: ToolResult; stop?: string };

/**
 * The one call path: the guard's decision, then (unless refused) the tool; both are events.
 * The planner's calls (the loop), an external agent's (the MCP gateway) and the harness's
 * own (below) all go through here, so every call is checked and recorded the same way.
 */
export async function runCall(call: ToolCall, turn: number, deps: CallDeps): Promise<CallOutcome> {
  const { tools, events, clock, signal, guard } = deps;
  const verdict = await guard.check(call, { tools: tools.tools, model: deps.model, turn, elapsedMs: deps.elapsedMs, usage: deps.usage });
  const decision = verdict.decision;
  const effective = decision.action === "rewrite" ? decision.input : call.input;
  const runs = decision.action === "allow" || decision.action === "rewrite";
  events.emit({
    type: "guard",
    turn,
    toolUseId: call.id,
    name: call.name,
    decision,
    ...(verdict.rule ? { rule: verdict.rule } : {}),
    original: call.input,
    effective: runs ? effective : null,
    ...(verdict.estimate ? { estimate: verdict.estimate } : {}),
  });
  if (!runs) {
    const text = decision.action === "reject" ? decision.message : `Not run: ${decision.reason}`;
    return {
      block: { type: "tool_result", toolUseId: call.id, content: text, isError: true },
      ran: false,
      ...(decision.action === "stop" ? { stop: decision.reason } : {}),
    };
  }
  const started = clock.now();
  const result = await tools.call(call.name, effective, { signal, toolUseId: call.id });
  events.emit({
    type: "tool",
    turn,
    toolUseId: call.id,
    name: call.name,
    input: effective,
    result: result.content,
    ...(result.structured !== undefined ? { structured: result.structured } : {}),
    ...(result.meta !== undefined ? { meta: result.meta } : {}),
    isError: result.isError,
    ms: clock.now() - started,
  });
  const content = decision.action === "rewrite" ? `[guard] ${decision.note}\n${result.content}` : result.content;
  return {
    block: {
      type: "tool_result",
      toolUseId: call.id,
      content,
      ...(result.isError ? { isError: true } : {}),
      ...(result.structured !== undefined ? { structured: result.structured } : {}),
    },
    ran: true,
    result,
  };
}

/** What the harness needs to make a call of its own: the same tools, events and guard as the run's. */
export type HarnessCallDeps = { tools: ToolExecutor; events: EventSink; guard: Guard; model: string; clock?: Clock };

/**
 * A call the harness makes itself (restore, emergency save, closing finish, resume point):
 * marked by this code path (`harness: true`, never by its id), checked by the guard and
 * recorded like the planner's. A refusal comes back as an error result.
 */
export async function harnessCall(d: HarnessCallDeps, turn: number, call: Omit<ToolCall, "harness">): Promise<ToolResult> {
  const outcome = await runCall({ ...call, harness: true }, turn, {
    tools: d.tools,
    events: d.events,
    guard: d.guard,
    clock: d.clock ?? SYSTEM_CLOCK,
    // The run's own signal may already be aborted: the harness's calls run regardless.
    signal: new AbortController().signal,
    model: d.model,
    elapsedMs: 0,
    usage: ZERO_USAGE,
  });
  return outcome.result ?? { content: outcome.block.content, isError: true };
}

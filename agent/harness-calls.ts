import { ZERO_USAGE } from "./conversation.ts";
import { HARNESS_CALL } from "./harness-call-ids.ts";
import { checkpointNameOf } from "../tools/tinker/checkpoint-names.ts";
import type { EventSink } from "./events.ts";
import type { Guard, ToolCall } from "./guard/types.ts";
import type { LoopResult } from "./loop.ts";
import { exposedToolName } from "./tool-names.ts";
import type { TrainingState } from "./training-state.ts";
import type { ToolExecutor, ToolResult } from "../tools/client/types.ts";

export type HarnessCallDeps = {
  tools: ToolExecutor;
  events: EventSink;
  /** When given, the call is checked first, as every training path is: a refused call is recorded and not run. */
  guard?: { check: Guard["check"]; model: string };
};

/** A call the harness makes itself (restore, emergency save, closing finish), recorded like the planner's. */
export async function harnessCall(d: HarnessCallDeps, turn: number, call: ToolCall): Promise<ToolResult> {
  let input = call.input;
  if (d.guard) {
    const verdict = await d.guard.check({ ...call, harness: true }, { tools: d.tools.tools, model: d.guard.model, turn, elapsedMs: 0, usage: ZERO_USAGE });
    const decision = verdict.decision;
    if (decision.action === "rewrite") input = decision.input;
    const runs = decision.action === "allow" || decision.action === "rewrite";
    d.events.emit({
      type: "guard",
      turn,
      toolUseId: call.id,
      name: call.name,
      decision,
      ...(verdict.rule ? { rule: verdict.rule } : {}),
      original: call.input,
      effective: runs ? input : null,
      ...(verdict.estimate ? { estimate: verdict.estimate } : {}),
    });
    if (decision.action === "reject") return { content: decision.message, isError: true };
    if (decision.action === "stop") return { content: `Not run: ${decision.reason}`, isError: true };
  }
  const started = Date.now();
  // The run's own signal may already be aborted: the harness's calls run regardless.
  const r = await d.tools.call(call.name, input, { signal: new AbortController().signal, toolUseId: call.id });
  d.events.emit({
    type: "tool",
    turn,
    toolUseId: call.id,
    name: call.name,
    input,
    result: r.content,
    ...(r.structured !== undefined ? { structured: r.structured } : {}),
    ...(r.meta !== undefined ? { meta: r.meta } : {}),
    isError: r.isError,
    ms: Date.now() - started,
  });
  return r;
}

/**
 * A graceful stop (interrupt, spent budget, planner failure): no new planner turn;
 * training since the last save is saved by the harness itself (through the guard),
 * then the session is finished, so nothing trained is lost and a resume can restore it.
 */
export async function wrapUp(
  result: LoopResult,
  d: HarnessCallDeps & {
    training: TrainingState;
    out: (line: string) => void;
    guard: { check: Guard["check"]; model: string };
    /** Told right after the emergency save, before the session is finished (the gateway rewrites its record then). */
    afterSave?: (saved: string | undefined) => void;
  },
): Promise<void> {
  if (!d.training.sessionOpen) return;
  const turn = result.turns;
  const save = exposedToolName(d.tools.tools, "save");
  if (d.training.unsavedTrainingCalls > 0 && save) {
    const name = emergencySaveName(d.training, turn);
    d.events.emit({ type: "note", turn, text: `graceful stop (${result.reason}): saving unsaved training as ${name}` });
    const r = await harnessCall(d, turn, { id: HARNESS_CALL.emergencySave, name: save, input: { name } });
    d.out(`emergency save: ${r.isError ? `FAILED (${r.content.split("\n")[0]})` : `${name}`}`);
    d.afterSave?.(r.isError ? undefined : name);
  }
  const finish = exposedToolName(d.tools.tools, "finish");
  if (finish) {
    const r = await harnessCall({ tools: d.tools, events: d.events }, turn, { id: HARNESS_CALL.finish, name: finish, input: {} });
    d.out(`session finished by the harness${r.isError ? ` (failed: ${r.content.split("\n")[0]})` : ""}`);
  }
}

/**
 * The emergency save's name: named by the turn (turns only grow, across resumes too), so a
 * cassette replay of the stop asks for the same name; a name the run already holds gets a suffix.
 */
export function emergencySaveName(t: TrainingState, turn: number): string {
  const taken = new Set(t.checkpoints.map((c) => checkpointNameOf(c.path)));
  let name = `emergency-turn${turn}`;
  for (let i = 2; taken.has(name); i++) name = `emergency-turn${turn}-${i}`;
  return name;
}

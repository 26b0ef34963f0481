import { toolUses } from "../core/conversation.ts";
import type { Message, ToolResultBlock } from "../core/conversation.ts";
import { rebuildState } from "../core/events.ts";
import type { EventListener } from "../core/events.ts";
import { HARNESS_CALL } from "../core/harness-call-ids.ts";
import { harnessCall } from "../core/call.ts";
import type { HarnessCallDeps } from "../core/call.ts";
import { describeRestore, ORPHAN_ANSWER } from "../state/restore-note.ts";
import type { RestoreFacts } from "../state/restore-note.ts";
import { checkpointRead } from "../../tools/contracts/tinker-results.ts";
import { readResult } from "../../tools/contracts/tool-results.ts";
import { exposedToolName } from "../core/tool-names.ts";
import { messagesFromEvents } from "../transcript/transcript.ts";
import type { RecordedEvent } from "../transcript/transcript.ts";

/**
 * Carrying on from recorded events: a fork copies them into a new run's transcript,
 * a resume continues the same transcript. Training state comes back through `load`
 * of the given checkpoint.
 */
export type Continuation = {
  prefix: RecordedEvent[];
  /** The recorded system prompt (a continuation never reads a template again). */
  system: string;
  /** true: copy `prefix` into a new transcript (fork); false: it is already there (resume). */
  copyPrefix: boolean;
  /** A resume: how long the run ran before it (its summary and feedback give the whole run's time). */
  elapsedBeforeMs?: number;
  startTurn: number;
  /** The run this one continues from, named in a fork's header. */
  parent?: string;
  /** Checkpoint to `load` before the planner carries on (absolute path or name). */
  checkpoint?: string;
  /** A recorded checkpoint that was not restored, and why. */
  refusedCheckpoint?: string;
  /** Training calls recorded after `checkpoint` (or, with none, since the session began): what the restore cannot bring back. */
  lostTrainingCalls: number;
  /** One line saying what this continuation is, for the planner's note. */
  reason: string;
};

/** The harness-call deps (`events` is the live stream: transcript writer, state, progress), plus the state listeners and a line printer. */
export type BridgeDeps = HarnessCallDeps & {
  /** The listeners that rebuild state from recorded events: training state, guard, metrics (no file writers). */
  stateListeners: EventListener[];
  out: (line: string) => void;
};

const RUN_LEVEL = new Set(["run", "system", "end"]);

/**
 * The answer to a call of the last turn, whose results message was never recorded:
 * what the transcript shows happened to it (the guard refused it, or it ran and its
 * result was recorded), else the orphan answer (it never returned).
 */
function answerFor(id: string, events: RecordedEvent[]): ToolResultBlock {
  let guard: Extract<RecordedEvent, { type: "guard" }> | undefined;
  let tool: Extract<RecordedEvent, { type: "tool" }> | undefined;
  for (const e of events) {
    if (e.type === "guard" && e.toolUseId === id) guard = e;
    if (e.type === "tool" && e.toolUseId === id) tool = e;
  }
  const decision = guard?.decision;
  if (decision?.action === "reject") return { type: "tool_result", toolUseId: id, content: decision.message, isError: true };
  if (decision?.action === "stop") return { type: "tool_result", toolUseId: id, content: `Not run: ${decision.reason}`, isError: true };
  if (tool) {
    const content = decision?.action === "rewrite" ? `[guard] ${decision.note}\n${tool.result}` : tool.result;
    return {
      type: "tool_result",
      toolUseId: id,
      content,
      ...(tool.isError ? { isError: true } : {}),
      ...(tool.structured !== undefined ? { structured: tool.structured } : {}),
    };
  }
  return { type: "tool_result", toolUseId: id, content: ORPHAN_ANSWER, isError: true };
}

/**
 * Rebuilds the conversation and the run's state from recorded events, restores training
 * from the checkpoint (through the guard, like any load), answers any tool call left
 * without a result, and tells the planner in one note what happened. Returns the
 * messages the loop continues from.
 */
export async function bridge(cont: Continuation, d: BridgeDeps): Promise<Message[]> {
  if (cont.copyPrefix) {
    for (const e of cont.prefix) {
      if (RUN_LEVEL.has(e.type)) continue;
      const { seq: _seq, t: _t, ...event } = e;
      d.events.emit(event);
    }
  } else {
    rebuildState(cont.prefix, d.stateListeners);
  }
  const messages = messagesFromEvents(cont.prefix);
  const notes = [`[harness] ${cont.reason}`];
  if (cont.refusedCheckpoint) {
    d.events.emit({ type: "note", turn: cont.startTurn, text: `not restored: ${cont.refusedCheckpoint}` });
    d.out(`restore: refused ${cont.refusedCheckpoint}`);
  }
  let facts: RestoreFacts;
  if (cont.checkpoint) {
    const load = exposedToolName(d.tools.tools, "load");
    const r = load
      ? await harnessCall(d, cont.startTurn, {
          id: HARNESS_CALL.restore,
          name: load,
          input: { path: cont.checkpoint },
        })
      : { isError: true, content: "no load tool is available" };
    d.events.emit({
      type: "note",
      turn: cont.startTurn,
      text: `restore from ${cont.checkpoint}: ${r.isError ? "failed" : "ok"} — ${r.content.split("\n")[0]}`,
    });
    d.out(`restore: ${r.isError ? "FAILED" : "loaded"} ${cont.checkpoint}`);
    const s = readResult(checkpointRead, r.structured);
    facts = r.isError
      ? { checkpoint: null, why: `restoring ${cont.checkpoint} failed: ${r.content.split("\n")[0]}`, lost: cont.lostTrainingCalls }
      : {
          checkpoint: s?.path ?? cont.checkpoint,
          counters: { grpo_iterations: s?.counters?.grpo_iterations ?? 0, sft_epochs: s?.counters?.sft_epochs ?? 0, sft_steps: s?.counters?.sft_steps ?? 0 },
          lost: cont.lostTrainingCalls,
        };
  } else {
    facts = {
      checkpoint: null,
      why: cont.refusedCheckpoint ? `the recorded checkpoint ${cont.refusedCheckpoint} was refused` : "no checkpoint was saved before this point",
      lost: cont.lostTrainingCalls,
    };
  }
  d.out(
    `restore: ${facts.checkpoint ? `at GRPO iteration ${facts.counters.grpo_iterations}, SFT epoch ${facts.counters.sft_epochs}` : "no session"}; ${facts.lost} training call(s) lost`,
  );
  notes.push(describeRestore(facts));
  const last = messages[messages.length - 1];
  if (last?.role === "assistant") {
    const answers = toolUses(last.content).map((u) => answerFor(u.id, cont.prefix));
    const orphans = toolUses(last.content).filter((_, i) => answers[i]!.content === ORPHAN_ANSWER);
    if (orphans.length) notes.push(`Not run to the end, so call again if still needed: ${orphans.map((u) => u.name).join(", ")}.`);
    const message: Message = { role: "user", content: [...answers, { type: "text", text: notes.join(" ") }] };
    messages.push(message);
    d.events.emit({ type: "user", turn: cont.startTurn, message });
  } else if (last?.role === "user") {
    const message: Message = { role: "user", content: [...last.content, { type: "text", text: notes.join(" ") }] };
    messages[messages.length - 1] = message;
    d.events.emit({ type: "user", turn: cont.startTurn, message, amends: true });
  }
  return messages;
}

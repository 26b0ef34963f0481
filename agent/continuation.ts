import { toolUses } from "./conversation.ts";
import type { Block, Message } from "./conversation.ts";
import { replay } from "./events.ts";
import type { EventListener, EventSink } from "./events.ts";
import type { Guard } from "./guard/types.ts";
import { harnessCall } from "./harness-calls.ts";
import { exposedToolName } from "./tool-names.ts";
import { messagesFromEvents } from "./transcript.ts";
import type { RecordedEvent } from "./transcript.ts";
import type { ToolExecutor } from "../tools/client/types.ts";

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
  startTurn: number;
  /** The run this one continues from, named in a fork's header. */
  parent?: string;
  /** Checkpoint to `load` before the planner carries on (absolute path or name). */
  checkpoint?: string;
  /** A recorded checkpoint that was not restored, and why. */
  refusedCheckpoint?: string;
  /** One line saying what this continuation is, for the planner's note. */
  reason: string;
};

export type BridgeDeps = {
  /** The live stream (transcript writer, state, progress). */
  events: EventSink;
  /** The listeners that rebuild state from recorded events: training state, guard, metrics (no file writers). */
  state: EventListener[];
  tools: ToolExecutor;
  guard: Guard;
  model: string;
  out: (line: string) => void;
};

const RUN_LEVEL = new Set(["run", "system", "end"]);

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
    replay(cont.prefix, d.state);
  }
  const messages = messagesFromEvents(cont.prefix);
  const notes = [`[harness] ${cont.reason}`];
  if (cont.refusedCheckpoint) {
    d.events.emit({ type: "note", turn: cont.startTurn, text: `not restored: ${cont.refusedCheckpoint}` });
    d.out(`restore: refused ${cont.refusedCheckpoint}`);
  }
  if (cont.checkpoint) {
    const load = exposedToolName(d.tools.tools, "load");
    const r = load
      ? await harnessCall({ tools: d.tools, events: d.events, guard: { check: (c, x) => d.guard.check(c, x), model: d.model } }, cont.startTurn, { id: "harness-restore", name: load, input: { path: cont.checkpoint } })
      : { isError: true, content: "no load tool is available" };
    d.events.emit({ type: "note", turn: cont.startTurn, text: `restore from ${cont.checkpoint}: ${r.isError ? "failed" : "ok"} — ${r.content.split("\n")[0]}` });
    d.out(`restore: ${r.isError ? "FAILED" : "loaded"} ${cont.checkpoint}`);
    notes.push(
      r.isError
        ? `Restoring the training session from ${cont.checkpoint} failed (${r.content.split("\n")[0]}); the tool servers are fresh, so re-initialise (init_*) before training.`
        : `The training session was restored from checkpoint ${cont.checkpoint} (weights, optimizer state and counters). Training done after that checkpoint was lost; continue from it (warmup_ratio=0).`,
    );
  } else {
    notes.push("No checkpoint was restored: the tool servers are fresh, so call init_* again before training.");
  }
  const last = messages[messages.length - 1];
  const note: Block = { type: "text", text: notes.join(" ") };
  if (last?.role === "assistant") {
    // Calls that were made but never answered (the run stopped in between) get an error result.
    const orphans = toolUses(last.content).map((u) => ({ type: "tool_result" as const, toolUseId: u.id, content: "Not run: the run stopped before this call completed.", isError: true }));
    const message: Message = { role: "user", content: [...orphans, note] };
    messages.push(message);
    d.events.emit({ type: "user", turn: cont.startTurn, message });
  } else if (last?.role === "user") {
    const message: Message = { role: "user", content: [...last.content, note] };
    messages[messages.length - 1] = message;
    d.events.emit({ type: "user", turn: cont.startTurn, message, amends: true });
  }
  return messages;
}

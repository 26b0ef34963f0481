import { harnessCall } from "../core/call.ts";
import type { HarnessCallDeps } from "../core/call.ts";
import { HARNESS_CALL } from "../core/harness-call-ids.ts";
import type { LoopResult } from "../core/loop.ts";
import { exposedToolName } from "../core/tool-names.ts";
import type { TrainingState } from "../state/training-state.ts";
import { checkpointNameOf } from "../../tools/contracts/checkpoint-names.ts";

/**
 * A graceful stop (interrupt, spent budget, planner failure): no new planner turn;
 * training since the last save is saved by the harness itself, then the session is
 * finished — both harness calls, through the guard like any call — so nothing trained
 * is lost and a resume can restore it.
 */
export async function wrapUp(
  result: LoopResult,
  d: HarnessCallDeps & {
    training: TrainingState;
    out: (line: string) => void;
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
    const r = await harnessCall(d, turn, { id: HARNESS_CALL.finish, name: finish, input: {} });
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

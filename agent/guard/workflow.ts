import type { TrainingState } from "../state/training-state.ts";
import { baseToolName, isTrainingTool } from "../core/tool-names.ts";
import { RESUME_POINT_PREFIX } from "../../tools/contracts/checkpoint-names.ts";
import type { GuardRule } from "../core/guard.ts";

/**
 * Order of work: no training before a session is open, no `finish` with training
 * that was never saved (refused once with the reason; a second `finish` passes), and
 * `resume-*` checkpoints are the harness's own (the rolling resume points it replaces).
 * It reads the harness's training state; the harness keeps that state up to date.
 */
export function workflowRule(state: TrainingState): GuardRule {
  let finishWarned = false;
  return {
    name: "workflow",
    check(call) {
      const tool = baseToolName(call.name);
      if (isTrainingTool(call.name) && !state.sessionOpen) {
        return {
          action: "reject",
          message: `Refused: no training session is open yet. Call init_grpo(base_model=...) or init_sft(base_model=...) before ${tool}.`,
        };
      }
      const input = (call.input ?? {}) as { name?: unknown; keep_resume_points?: unknown };
      if (
        tool === "save" &&
        call.harness !== true &&
        ((typeof input.name === "string" && input.name.startsWith(RESUME_POINT_PREFIX)) || input.keep_resume_points !== undefined)
      ) {
        return {
          action: "reject",
          message: `Refused: checkpoints named ${RESUME_POINT_PREFIX}* (and save's keep_resume_points) are the harness's rolling resume points. Save under another name.`,
        };
      }
      // The harness finishes a stopping run only after its own emergency save (or its report of the loss).
      if (tool === "finish" && call.harness !== true && state.unsavedTrainingCalls > 0 && !finishWarned) {
        finishWarned = true;
        return {
          action: "reject",
          message: `Not yet: ${state.unsavedTrainingCalls} training call(s) since the last save would be lost. Call save(name=...) first (or load your best checkpoint and save it), then finish(). Calling finish() again will finish anyway.`,
        };
      }
      return { action: "allow" };
    },
    observe(call, result) {
      if (baseToolName(call.name) === "finish" && !result.isError) finishWarned = false;
    },
  };
}

import { baseToolName, isInitTool, isTrainingTool } from "../tool-names.ts";
import type { GuardRule } from "./types.ts";

/**
 * Order of work: no training before a session is open, and no `finish` with training
 * that was never saved (refused once with the reason; a second `finish` passes).
 */
export function workflowRule(): GuardRule {
  let sessionOpen = false;
  let unsaved = 0;
  let finishWarned = false;
  return {
    name: "workflow",
    check(call) {
      const tool = baseToolName(call.name);
      if (isTrainingTool(call.name) && !sessionOpen) {
        return { action: "reject", message: `Refused: no training session is open yet. Call init_grpo(base_model=...) or init_sft(base_model=...) before ${tool}.` };
      }
      if (tool === "finish" && unsaved > 0 && !finishWarned) {
        finishWarned = true;
        return {
          action: "reject",
          message: `Not yet: ${unsaved} training call(s) since the last save would be lost. Call save(name=...) first (or load your best checkpoint and save it), then finish(). Calling finish() again will finish anyway.`,
        };
      }
      return { action: "allow" };
    },
    observe(call, result) {
      if (result.isError) return;
      const tool = baseToolName(call.name);
      if (isInitTool(call.name) || tool === "load") {
        sessionOpen = true;
        if (isInitTool(call.name)) unsaved = 0;
      }
      if (isTrainingTool(call.name)) {
        unsaved++;
        const auto = (result.structured as { auto_checkpoints?: unknown[] } | undefined)?.auto_checkpoints;
        if (Array.isArray(auto) && auto.length > 0) unsaved = 0;
      }
      if (tool === "save" || tool === "load") unsaved = 0;
      if (tool === "finish") {
        sessionOpen = false;
        unsaved = 0;
        finishWarned = false;
      }
    },
  };
}

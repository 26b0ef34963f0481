import { baseToolName, isInitTool, isTrainingTool } from "./tool-names.ts";

type Outcome = { isError: boolean; structured?: unknown };

/**
 * What the harness knows about the training session from tool results alone: is a
 * session open, how many training calls happened since the last save, and which
 * checkpoint was saved (or loaded) last. Used by the workflow guard, the emergency
 * save on a graceful stop, and the note after a tool server restart.
 */
export class TrainingState {
  sessionOpen = false;
  unsavedTrainingCalls = 0;
  lastCheckpoint: string | undefined;

  observe(name: string, r: Outcome): void {
    if (r.isError) return;
    const tool = baseToolName(name);
    const s = r.structured as { path?: string; auto_checkpoints?: Array<{ path: string }> } | undefined;
    if (isInitTool(name)) {
      this.sessionOpen = true;
      this.unsavedTrainingCalls = 0;
    }
    if (isTrainingTool(name)) {
      this.unsavedTrainingCalls++;
      const auto = s?.auto_checkpoints;
      if (Array.isArray(auto) && auto.length > 0) {
        this.unsavedTrainingCalls = 0;
        this.lastCheckpoint = auto[auto.length - 1]!.path;
      }
    }
    if (tool === "save" || tool === "load") {
      this.sessionOpen = true;
      this.unsavedTrainingCalls = 0;
      if (typeof s?.path === "string") this.lastCheckpoint = s.path;
    }
    if (tool === "finish") {
      this.sessionOpen = false;
      this.unsavedTrainingCalls = 0;
    }
  }
}

import path from "node:path";
import { baseToolName, isInitTool, isTrainingTool } from "./tool-names.ts";
import { SESSION_DIR_META } from "../tools/tinker/tools/results.ts";

/** Session log directories are named like this by the tinker server; nothing else is taken as one. */
const SESSION_DIR = /^tinkerer_[A-Za-z0-9]+$/;

type Outcome = { isError: boolean; structured?: unknown; meta?: Record<string, unknown> };

/**
 * What the harness knows about the training session from tool results alone: is a
 * session open, how many training calls happened since the last save, and which
 * checkpoint was saved (or loaded) last. The harness observes every call into it (one
 * place, whatever rules are on); the workflow guard, the emergency save on a graceful
 * stop, the note after a tool server restart and the workspace's readable session
 * folders read it.
 */
export class TrainingState {
  sessionOpen = false;
  unsavedTrainingCalls = 0;
  lastCheckpoint: string | undefined;
  /** This run's tinker session log directories, as the server reported them (read-only to the planner). */
  readonly sessionDirs = new Set<string>();

  observe(call: { name: string }, r: Outcome): void {
    const name = call.name;
    this.noteSessionDirs(r.structured, r.meta);
    if (r.isError) return;
    const tool = baseToolName(name);
    const s = r.structured as { path?: string; auto_checkpoints?: Array<{ path: string }> } | undefined;
    if (isInitTool(name)) {
      this.sessionOpen = true;
      this.unsavedTrainingCalls = 0;
    }
    if (isTrainingTool(name) && tookStep(r.structured)) {
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

  private noteSessionDirs(structured: unknown, meta: Record<string, unknown> | undefined): void {
    const s = (structured && typeof structured === "object" ? structured : {}) as { session_dir?: unknown; new_session_dir?: unknown };
    for (const d of [s.session_dir, s.new_session_dir, meta?.[SESSION_DIR_META]]) {
      if (typeof d === "string" && path.isAbsolute(d) && SESSION_DIR.test(path.basename(d))) this.sessionDirs.add(path.normalize(d));
    }
  }
}

/** Whether a training result changed the weights: a GRPO call with no learning signal took no optimizer step. */
export function tookStep(structured: unknown): boolean {
  const steps = (structured as { optimizer_steps?: unknown } | undefined)?.optimizer_steps;
  return typeof steps !== "number" || steps > 0;
}

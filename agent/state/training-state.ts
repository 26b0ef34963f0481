import path from "node:path";
import { toolOutcome } from "../core/events.ts";
import type { EventListener, RunEvent } from "../core/events.ts";
import { baseToolName, isInitTool, isTrainingTool } from "../core/tool-names.ts";
import { checkpointRead, SESSION_DIR_META, sessionDirsRead, trainingRead } from "../../tools/contracts/tinker-results.ts";
import type { SessionCounters } from "../../tools/contracts/tinker-results.ts";
import { readResult } from "../../tools/contracts/tool-results.ts";
import { checkpointNameOf, RESUME_POINT_PREFIX } from "../../tools/contracts/checkpoint-names.ts";

/** Session log directories are named like this by the tinker server; nothing else is taken as one. */
const SESSION_DIR = /^tinkerer_[A-Za-z0-9]+$/;

type Outcome = { isError: boolean; structured?: unknown; meta?: Record<string, unknown> };

/** A checkpoint the run made or loaded, and how many training calls came after it. */
export type KnownCheckpoint = { path: string; turn: number | undefined; trainingCallsAfter: number };

export const isResumePoint = (p: string) => checkpointNameOf(p).startsWith(RESUME_POINT_PREFIX);

/** The checkpoints a save result says it deleted (the resume points it replaced). */
export function replacedBy(structured: unknown): string[] {
  return readResult(checkpointRead, structured)?.replaced ?? [];
}

/**
 * What the harness knows about the training session from tool results alone: is a
 * session open, how far it has trained, how many training calls happened since the last
 * save, and which checkpoints exist. The harness observes every call into it (one
 * place, whatever rules are on); the workflow guard, the emergency save on a graceful
 * stop, the resume points, the note after a tool server restart, resume and fork and the
 * workspace's readable session folders read it.
 */
export class TrainingState implements EventListener {
  sessionOpen = false;
  /** Training calls since the last save, load or auto-checkpoint of the planner's (the harness's resume points not counted). */
  unsavedTrainingCalls = 0;
  /** Training calls since the newest checkpoint of any kind: what a crash now would lose. */
  sinceCheckpoint = 0;
  /** The session's method and counters, as the last result that carried them said. */
  method: "grpo" | "sft" | undefined;
  counters: SessionCounters = { grpo_iterations: 0, sft_epochs: 0, sft_steps: 0 };
  /** Successful training calls of the whole run. */
  trainingCalls = 0;
  /** Training calls since the last init (or restore): what is lost when no checkpoint can be restored. */
  trainingCallsInSession = 0;
  /** Every checkpoint saved, auto-saved or loaded and not deleted since, oldest first. */
  readonly checkpoints: KnownCheckpoint[] = [];
  /** This run's tinker session log directories, as the server reported them (read-only to the planner). */
  readonly sessionDirs = new Set<string>();

  /** The newest checkpoint (saved, auto-saved or loaded). */
  get lastCheckpoint(): string | undefined {
    return this.checkpoints[this.checkpoints.length - 1]?.path;
  }

  /** The harness's resume points that still exist, oldest first. */
  get resumePoints(): string[] {
    return this.checkpoints.filter((c) => isResumePoint(c.path)).map((c) => c.path);
  }

  on(e: RunEvent): void {
    if (e.type !== "tool") return;
    const { call, result } = toolOutcome(e);
    this.observe(call, result, e.turn);
  }

  observe(call: { name: string }, r: Outcome, turn?: number): void {
    const name = call.name;
    this.noteSessionDirs(r.structured, r.meta);
    if (r.isError) return;
    const tool = baseToolName(name);
    const trained = readResult(trainingRead, r.structured);
    const checkpoint = readResult(checkpointRead, r.structured);
    const method = trained?.method ?? checkpoint?.method;
    if (method === "grpo" || method === "sft") this.method = method;
    if (isInitTool(name)) {
      this.sessionOpen = true;
      this.unsavedTrainingCalls = this.sinceCheckpoint = this.trainingCallsInSession = 0;
      this.counters = { grpo_iterations: 0, sft_epochs: 0, sft_steps: 0 };
    }
    if (isTrainingTool(name) && tookStep(r.structured)) {
      this.unsavedTrainingCalls++;
      this.sinceCheckpoint++;
      this.trainingCalls++;
      this.trainingCallsInSession++;
      for (const c of this.checkpoints) c.trainingCallsAfter++;
      if (trained?.cumulative_iterations !== undefined) this.counters.grpo_iterations = trained.cumulative_iterations;
      if (trained?.cumulative_epochs !== undefined) this.counters.sft_epochs = trained.cumulative_epochs;
      if (trained?.cumulative_steps !== undefined) this.counters.sft_steps = trained.cumulative_steps;
      const auto = trained?.auto_checkpoints;
      if (auto !== undefined && auto.length > 0) {
        this.unsavedTrainingCalls = this.sinceCheckpoint = 0;
        this.remember(auto[auto.length - 1]!.path, turn);
      }
    }
    if (tool === "save" || tool === "load") {
      this.sessionOpen = true;
      if (checkpoint?.counters) this.counters = { ...this.counters, ...checkpoint.counters };
      const saved = checkpoint?.path;
      // A resume point saves the weights, but the planner's own save is what `finish` asks for.
      if (tool === "load" || saved === undefined || !isResumePoint(saved)) this.unsavedTrainingCalls = 0;
      this.sinceCheckpoint = 0;
      if (tool === "load") this.trainingCallsInSession = 0;
      if (saved !== undefined) this.remember(saved, turn);
      for (const gone of checkpoint?.replaced ?? []) this.forget(gone);
    }
    if (tool === "finish") {
      this.sessionOpen = false;
      this.unsavedTrainingCalls = this.sinceCheckpoint = 0;
    }
  }

  /** A checkpoint that no longer exists (replaced, or deleted later in a recording being forked). */
  forget(p: string): void {
    for (let i = this.checkpoints.length - 1; i >= 0; i--) if (this.checkpoints[i]!.path === p) this.checkpoints.splice(i, 1);
  }

  private remember(p: string, turn: number | undefined): void {
    this.forget(p);
    this.checkpoints.push({ path: p, turn, trainingCallsAfter: 0 });
  }

  private noteSessionDirs(structured: unknown, meta: Record<string, unknown> | undefined): void {
    const s = readResult(sessionDirsRead, structured);
    for (const d of [s?.session_dir, s?.new_session_dir, meta?.[SESSION_DIR_META]]) {
      if (typeof d === "string" && path.isAbsolute(d) && SESSION_DIR.test(path.basename(d))) this.sessionDirs.add(path.normalize(d));
    }
  }
}

/** Whether a training result changed the weights: a GRPO call with no learning signal took no optimizer step. */
export function tookStep(structured: unknown): boolean {
  const steps = readResult(trainingRead, structured)?.optimizer_steps;
  return steps === undefined || steps > 0;
}

import { HARNESS_CALL } from "../core/harness-call-ids.ts";
import { harnessCall } from "../core/call.ts";
import type { HarnessCallDeps } from "../core/call.ts";
import { exposedToolName } from "../core/tool-names.ts";
import { isResumePoint } from "../state/training-state.ts";
import type { TrainingState } from "../state/training-state.ts";
import { RESUME_POINT_PREFIX } from "../../tools/contracts/checkpoint-names.ts";

/**
 * Rolling resume points: after every `every` training calls without a checkpoint, the
 * harness saves one itself (a `resume-*` checkpoint, through the guard, recorded as
 * events, never in the planner's conversation), so a crash loses at most `every`
 * training calls. Saving one deletes the run's other resume points except the newest
 * checkpoint on record: a crash at any moment, even halfway through replacing, leaves
 * the checkpoint a resume would restore intact. So at most two exist (one when the
 * planner saved since the last), and what a crash left behind unrecorded goes too.
 */
export class ResumePoints {
  constructor(
    private readonly every: number,
    private readonly training: TrainingState,
  ) {}

  /** Called after each call that ran: saves a resume point when one is due. */
  async afterCall(turn: number, d: HarnessCallDeps & { out: (line: string) => void }): Promise<void> {
    const t = this.training;
    if (this.every <= 0 || !t.sessionOpen || t.sinceCheckpoint === 0 || t.sinceCheckpoint % this.every !== 0) return;
    const save = exposedToolName(d.tools.tools, "save");
    if (!save) return;
    const newest = t.lastCheckpoint;
    const keep = newest !== undefined && isResumePoint(newest) ? [newest] : [];
    const r = await harnessCall(d, turn, { id: HARNESS_CALL.resumePoint, name: save, input: { name: resumePointName(t, turn), keep_resume_points: keep } });
    if (r.isError) d.out(`resume point: FAILED (${r.content.split("\n")[0]}); the next try is after ${this.every} more training calls`);
  }
}

/** A resume point's name: what the session's counters say it holds, and the turn (unique across resumes: turns only grow). */
export function resumePointName(t: TrainingState, turn: number): string {
  const c = t.counters;
  const at = t.method === "grpo" ? `iter${c.grpo_iterations}` : t.method === "sft" ? `epoch${c.sft_epochs}-step${c.sft_steps}` : "session";
  return `${RESUME_POINT_PREFIX}${at}-turn${turn}`;
}

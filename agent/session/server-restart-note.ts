import type { TrainingState } from "../state/training-state.ts";
import type { ToolCallOptions, ToolExecutor, ToolResult } from "../core/tools.ts";

/**
 * When a tool server had to be restarted, tells the planner in the same result which
 * checkpoint restores the lost training session.
 */
export class RestartNoteExecutor implements ToolExecutor {
  constructor(
    private readonly inner: ToolExecutor,
    private readonly state: TrainingState,
  ) {}

  get tools() {
    return this.inner.tools;
  }

  async call(name: string, input: unknown, opts?: ToolCallOptions): Promise<ToolResult> {
    const r = await this.inner.call(name, input, opts);
    if (!r.restarted) return r;
    const ckpt = this.state.lastCheckpoint;
    const how = ckpt
      ? `The last checkpoint saved in this run is ${ckpt}: call load(path="${ckpt}") to restore the session (training after it was lost), then continue with warmup_ratio=0.`
      : "No checkpoint was saved before the restart: call init_* again to open a new session.";
    return { ...r, content: `${r.content}\n[harness] ${how}` };
  }
}

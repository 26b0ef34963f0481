import { harnessCall } from "../core/call.ts";
import type { HarnessCallDeps } from "../core/call.ts";
import type { EventListener, RunEvent } from "../core/events.ts";
import { HARNESS_CALL } from "../core/harness-call-ids.ts";
import { baseToolName, exposedToolName, isTrainingTool } from "../core/tool-names.ts";
import type { ToolCallOptions, ToolExecutor, ToolResult, ToolSpec } from "../core/tools.ts";
import { rewardSpecs } from "../planners/reward-library.ts";
import type { TrainingState } from "../state/training-state.ts";
import { liftInterval, meanInterval } from "../summary/holdout-stats.ts";
import type { ExamSpec } from "../config/exam-spec.ts";
import { EXAM_TOOL, examResult } from "../../tools/contracts/exam.ts";
import { readResult } from "../../tools/contracts/tool-results.ts";
import { checkpointNameOf } from "../../tools/contracts/checkpoint-names.ts";

/** What sitting an exam needs: the spec and its hash, the run's tools unfiltered (the exam tool among them), events, guard. */
export type SitterDeps = Omit<HarnessCallDeps, "tools"> & {
  spec: ExamSpec;
  specHash: string;
  /** The executor under this one: it lists the exam tool, which the planner's list does not. */
  inner: ToolExecutor;
  training: TrainingState;
  /** Sit a periodic exam before every K-th training call (0: never); the planner never sees these. */
  every: number;
  out?: (line: string) => void;
};

/** The scorer's Python source, from the reward library (the strict variant: no partial credit). */
export function scorerCode(spec: ExamSpec): string {
  const specs = rewardSpecs(spec.scorer);
  return (specs.find((s) => !s.partial) ?? specs[0]!).code;
}

/**
 * The harness's exam, sat as harness calls around the planner's: a baseline before the first
 * training call, periodic sittings every K training calls (optional), the final before the
 * session is finished — by the planner, by the gateway's agent, or by the harness's wrap-up of
 * a stopping run. It wraps the run's tools and hides the exam tool from whoever plans, so the
 * guard's unknown-tool rule refuses it for them; its own calls go to the inner executor.
 * The same wrapper runs in a cassette replay, so the harness's exam calls replay too.
 */
export class ExamSitter implements ToolExecutor, EventListener {
  private turn = 0;
  private baselineSat = false;
  private finalSat = false;
  private trainingCalls = 0;
  private baselineScores: Array<{ item: string; score: number }> | undefined;

  constructor(private readonly d: SitterDeps) {}

  /** The tools as the planner (or external agent) sees them: the exam tool left out. */
  get tools(): ToolSpec[] {
    return this.d.inner.tools.filter((t) => baseToolName(t.name) !== EXAM_TOOL);
  }

  /** Keeps the turn the harness's calls are recorded under; after a resume, the sittings already made. */
  on(e: RunEvent): void {
    if ("turn" in e && typeof e.turn === "number") this.turn = e.turn;
    if (e.type === "exam" && e.label === "baseline") {
      this.baselineSat = true;
      this.baselineScores = e.scores;
    }
    if (e.type === "exam" && e.label === "final") this.finalSat = true;
    if (e.type === "tool" && !e.isError && isTrainingTool(e.name)) this.trainingCalls++;
  }

  async call(name: string, input: unknown, opts?: ToolCallOptions): Promise<ToolResult> {
    const base = baseToolName(name);
    if (isTrainingTool(name)) {
      if (!this.baselineSat) await this.sit("baseline");
      else if (this.d.every > 0 && this.trainingCalls > 0 && this.trainingCalls % this.d.every === 0) await this.sit(`periodic-${this.trainingCalls}`);
    }
    if (base === "finish" && !this.finalSat) {
      if (!this.baselineSat) await this.sit("baseline");
      await this.sit("final", checkpointOf(input, this.d.training));
      this.finalSat = true;
    }
    return this.d.inner.call(name, input, opts);
  }

  private async sit(label: string, checkpoint?: string): Promise<void> {
    const tool = exposedToolName(this.d.inner.tools, EXAM_TOOL);
    if (!tool) {
      this.d.events.emit({ type: "note", turn: this.turn, text: `exam ${label} not sat: no tool server offers ${EXAM_TOOL}` });
      if (label === "baseline") this.baselineSat = true;
      return;
    }
    const { spec } = this.d;
    const id = label === "baseline" ? HARNESS_CALL.examBaseline : label === "final" ? HARNESS_CALL.examFinal : HARNESS_CALL.examPeriodic;
    const r = await harnessCall({ ...this.d, tools: this.d.inner }, this.turn, {
      id,
      name: tool,
      input: {
        label,
        reward_function: scorerCode(spec),
        temperature: spec.temperature,
        ...(spec.max_tokens !== undefined ? { max_tokens: spec.max_tokens } : {}),
        samples: spec.samples,
        ...(checkpoint ? { checkpoint } : {}),
      },
    });
    if (label === "baseline") this.baselineSat = true;
    const res = r.isError ? undefined : readResult(examResult, r.structured);
    if (!res) {
      this.d.events.emit({ type: "note", turn: this.turn, text: `exam ${label} failed: ${r.content.split("\n")[0]}` });
      this.d.out?.(`exam ${label}: FAILED (${r.content.split("\n")[0]})`);
      return;
    }
    const est = meanInterval(res.scores.map((s) => s.score));
    const before = label === "baseline" ? undefined : this.baselineScores;
    const lift = before ? liftInterval(asScores(before), asScores(res.scores)) : undefined;
    this.d.events.emit({
      type: "exam",
      turn: this.turn,
      label,
      specHash: this.d.specHash,
      weights: res.weights,
      scores: res.scores,
      mean: est.mean,
      low: est.low,
      high: est.high,
      ...(lift ? { lift: { mean: lift.mean, low: lift.low, high: lift.high, paired: lift.paired } } : {}),
    });
    this.d.out?.(`exam ${label} (${res.weights}): ${(est.mean * 100).toFixed(1)}% [${(est.low * 100).toFixed(1)}, ${(est.high * 100).toFixed(1)}]`);
  }
}

const asScores = (xs: Array<{ item: string; score: number }>) => ({ prompts: xs.map((x) => x.item), scores: xs.map((x) => x.score) });

/** The checkpoint a finish call names, when this run saved it; else the current weights sit. */
function checkpointOf(input: unknown, training: TrainingState): string | undefined {
  const named = (input as { checkpoint?: unknown } | null)?.checkpoint;
  if (typeof named !== "string") return undefined;
  const ours = training.checkpoints.map((c) => checkpointNameOf(c.path));
  return ours.includes(checkpointNameOf(named)) ? checkpointNameOf(named) : undefined;
}

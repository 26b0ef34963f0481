import { fixed } from "../../lib/format.ts";
import type { EventListener, RunEvent } from "../core/events.ts";
import { toolOutcome } from "../core/events.ts";
import type { ToolCall } from "../core/guard.ts";
import type { FeedbackSource } from "../core/loop.ts";
import { baseToolName, isTrainingTool } from "../core/tool-names.ts";
import type { ToolResult } from "../core/tools.ts";
import { alertsFor } from "./alerts.ts";
import { sampleRead } from "../../tools/contracts/tinker-results.ts";
import { readResult } from "../../tools/contracts/tool-results.ts";
import type { Alert, AlertThresholds } from "./alerts.ts";
import { ran, trainingRecordOf } from "./records.ts";
import type { TrainingOutcome, TrainingRecord } from "./records.ts";

export type LedgerOptions = {
  model: string;
  now: () => number;
  startedAt: number;
  /** How long the run ran before this session (a resume): the feedback gives the whole run's time. */
  elapsedBeforeMs?: number;
  maxMinutes?: number;
  maxTrainCalls?: number;
  /** Overrides of the checklist thresholds (from --alert-thresholds). */
  thresholds?: Partial<AlertThresholds>;
  /** The run's spend against its budget, one line (the spend ledger's). */
  spendLine?: () => string;
};

const MAX_BLOCK_CHARS = 1800;
const TABLE_ROWS = 5;

/**
 * The metrics ledger: it listens to every tool outcome, keeps the training history and
 * writes the feedback block the planner reads after each turn that touched training.
 * Pure: no file I/O (metrics.jsonl is another listener's job).
 */
export class MetricsLedger implements FeedbackSource, EventListener {
  readonly records: TrainingRecord[] = [];
  private touched = false;
  private callsSinceSample = 0;
  private lastSample: { turn: number; mean: number | null; n: number } | undefined;
  private saves = 0;
  /** The turn a call observed without one belongs to: the one after the last feedback block. */
  private nextTurn = 1;

  constructor(private readonly o: LedgerOptions) {}

  on(e: RunEvent): void {
    if (e.type !== "tool") return;
    const { call, result } = toolOutcome(e);
    this.observe(call, result, e.turn);
  }

  observe(call: ToolCall, result: ToolResult, turn = this.nextTurn): void {
    const tool = baseToolName(call.name);
    if (tool === "sample" && !result.isError) {
      const s = readResult(sampleRead, result.structured);
      this.lastSample = { turn, mean: s?.mean_reward ?? null, n: s?.completions?.length ?? 1 };
      this.callsSinceSample = 0;
      return;
    }
    if (tool === "save" && !result.isError) this.saves++;
    if (!isTrainingTool(call.name)) return;
    this.touched = true;
    const rec = trainingRecordOf(call, result, turn);
    if (!rec) return;
    this.records.push(rec);
    if (ran(rec)) this.callsSinceSample++;
  }

  /** The checklist on the calls that ran (a refused call has no numbers to judge). */
  alerts(): Alert[] {
    return alertsFor({ records: this.records.filter(ran), callsSinceSample: this.callsSinceSample }, this.o.thresholds);
  }

  block(turn: number): string | undefined {
    this.nextTurn = turn + 1;
    if (!this.touched) return undefined;
    this.touched = false;
    const all = this.records;
    const r = all.filter(ran);
    const last = r[r.length - 1];
    const latest = all[all.length - 1];
    const elapsed = (this.o.now() - this.o.startedAt) / 60_000;
    const before = (this.o.elapsedBeforeMs ?? 0) / 60_000;
    const count = (o: TrainingOutcome) => all.filter((x) => x.outcome === o).length;
    const noStep = count("no_signal");
    const refused = count("input_error") + count("failed");
    const header =
      `── training feedback after turn ${turn} ──\n` +
      `${last?.method ?? "training"} on ${this.o.model} · ${all.length} training call(s)` +
      `${noStep || refused ? ` (${count("trained")} trained${noStep ? `, ${noStep} without an optimizer step` : ""}${refused ? `, ${refused} refused or failed` : ""})` : ""}` +
      `${last?.cumulative !== null && last?.cumulative !== undefined ? ` · cumulative ${last.method === "grpo" ? "iterations" : "epochs"} ${last.cumulative}` : ""}` +
      (before > 0
        ? ` · ${(before + elapsed).toFixed(1)} min in all (${elapsed.toFixed(1)}${this.o.maxMinutes ? ` of ${this.o.maxMinutes}` : ""} since the resume)`
        : ` · ${elapsed.toFixed(1)}${this.o.maxMinutes ? ` of ${this.o.maxMinutes}` : ""} min`) +
      `${this.o.maxTrainCalls ? ` · ${all.length} of ${this.o.maxTrainCalls} training calls` : ""} · saves ${this.saves}`;
    const lines = [header];
    if (this.o.spendLine) lines.push(this.o.spendLine());
    if (last?.method === "grpo") {
      lines.push("turn  reward       mixed/ALL-0/ALL-1/fail  KL of the step");
      for (const x of all.slice(-TABLE_ROWS)) {
        if (!ran(x)) {
          lines.push(`${String(x.turn).padStart(4)}  ${x.outcome === "input_error" ? "refused" : "failed"}: ${x.error ?? ""}`);
          continue;
        }
        const g = x.groups;
        lines.push(
          `${String(x.turn).padStart(4)}  ${fixed(x.rewardMean, 3)}±${fixed(x.rewardStd, 2)}  ${g ? `${g.mixed}/${g.allZero}/${g.allOne}/${g.failed}`.padEnd(22) : "-".padEnd(22)}  ${x.outcome === "no_signal" ? "no step (no signal)" : fixed(x.kl, 4)}`,
        );
      }
      if (last && ((last.staleness ?? 0) > 0 || (last.droppedStale ?? 0) > 0))
        lines.push(
          `off-policy: the last step trained on rollouts up to ${last.staleness ?? 0} step(s) old; ${last.droppedStale ?? 0} rollout(s) dropped as older than max_steps_off_policy`,
        );
      const rewards = r.filter((x) => x.rewardMean !== null).map((x) => x.rewardMean!);
      if (rewards.length >= 2)
        lines.push(
          `trend: reward ${rewards[Math.max(0, rewards.length - 5)]!.toFixed(3)} → ${rewards[rewards.length - 1]!.toFixed(3)} over the last ${Math.min(5, rewards.length)} calls`,
        );
    } else if (last?.method === "sft") {
      lines.push("turn  train loss  val loss");
      for (const x of all.slice(-TABLE_ROWS)) {
        if (!ran(x)) lines.push(`${String(x.turn).padStart(4)}  ${x.outcome === "input_error" ? "refused" : "failed"}: ${x.error ?? ""}`);
        else lines.push(`${String(x.turn).padStart(4)}  ${fixed(x.trainLoss, 4).padEnd(10)}  ${fixed(x.valLoss, 4)}`);
      }
    } else if (latest && !ran(latest)) {
      lines.push(`turn ${latest.turn}: ${latest.outcome === "input_error" ? "refused" : "failed"}: ${latest.error ?? ""}`);
    }
    if (latest?.outcome === "input_error")
      lines.push("The last training call was refused for its input: read its error and fix the arguments or files before calling again.");
    else if (latest?.outcome === "failed") lines.push("The last training call failed: read its error (and the session logs it names) before calling again.");
    else if (latest?.outcome === "no_signal")
      lines.push("The last training call took no optimizer step: every group scored the same, so there was nothing to learn from. The call itself was fine.");
    if (this.lastSample)
      lines.push(
        `last sample(): turn ${this.lastSample.turn}, ${this.lastSample.n} completion(s)${this.lastSample.mean !== null ? `, mean reward ${this.lastSample.mean.toFixed(3)}` : ""}`,
      );
    const alerts = this.alerts();
    if (alerts.length) lines.push("alerts:", ...alerts.map((a) => `! ${a.text}`));
    let text = lines.join("\n");
    if (text.length > MAX_BLOCK_CHARS) text = `${text.slice(0, MAX_BLOCK_CHARS - 1)}…`;
    return text;
  }
}

import type { EventListener, RunEvent } from "../core/events.ts";
import { liftInterval } from "./holdout-stats.ts";

/** The guard rule that refuses training on the exam (the contamination rule's name). */
export const CONTAMINATION_RULE = "contamination";

/**
 * The harness's grade of a run (fractions 0..1): the exam's baseline and final, the lift with
 * the paired 95% interval over its items, the weights the final sat on, and how often the guard
 * refused training on the exam. Null fields: a sitting that did not happen.
 */
export type ExamSummary = {
  spec: Record<string, unknown>;
  specHash: string;
  items: number;
  baseline: number | null;
  final: number | null;
  lift: number | null;
  interval: { low: number; high: number; paired: boolean } | null;
  /** Which weights sat the final ("current weights" or "checkpoint NAME"). */
  checkpoint: string | null;
  refusals: number;
  /** Periodic sittings (--exam-every): label and mean, for the report's curve only. */
  periodic: Array<{ label: string; mean: number }>;
};

type Sitting = Extract<RunEvent, { type: "exam" }>;

/** Reads a run's exam from its events: the header's spec, the sittings, the contamination refusals. */
export class ExamCollector implements EventListener {
  header: { spec: Record<string, unknown>; hash: string; items: number } | undefined;
  baseline: Sitting | undefined;
  final: Sitting | undefined;
  readonly periodic: Sitting[] = [];
  refusals = 0;

  on(e: RunEvent): void {
    if (e.type === "run" && e.exam) this.header = e.exam;
    if (e.type === "guard" && e.rule === CONTAMINATION_RULE && e.decision.action !== "allow") this.refusals++;
    if (e.type !== "exam") return;
    if (e.label === "baseline") this.baseline = e;
    else if (e.label === "final") this.final = e;
    else this.periodic.push(e);
  }

  /** The grade, or null for an ungraded run (no exam in its definition). */
  summary(): ExamSummary | null {
    if (!this.header) return null;
    const b = this.baseline;
    const f = this.final;
    const lift = b && f ? liftInterval(asScores(b), asScores(f)) : undefined;
    return {
      spec: this.header.spec,
      specHash: this.header.hash,
      items: this.header.items,
      baseline: b?.mean ?? null,
      final: f?.mean ?? null,
      lift: lift ? lift.mean : null,
      interval: lift ? { low: lift.low, high: lift.high, paired: lift.paired } : null,
      checkpoint: f?.weights ?? null,
      refusals: this.refusals,
      periodic: this.periodic.map((p) => ({ label: p.label, mean: p.mean })),
    };
  }
}

const asScores = (s: Sitting) => ({ prompts: s.scores.map((x) => x.item), scores: s.scores.map((x) => x.score) });

const pts = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}`;
const pc = (x: number | null) => (x === null ? "—" : `${(x * 100).toFixed(1)}%`);

/** The exam's line(s) in the terminal summary, first of all scores; "ungraded" when the run has none. */
export function formatExam(e: ExamSummary | null, selfReported: number | null): string[] {
  if (!e) return ["   exam: ungraded (no exam in the run's definition; the scores below are the planner's own)"];
  const name = String(e.spec.name ?? "exam");
  const head =
    e.lift !== null && e.interval
      ? `   exam ${name} (${e.items} items): baseline ${pc(e.baseline)} → final ${pc(e.final)}; lift ${pts(e.lift)} points, 95% CI [${pts(e.interval.low)}, ${pts(e.interval.high)}]${e.interval.paired ? " (paired)" : ""}`
      : `   exam ${name} (${e.items} items): baseline ${pc(e.baseline)} → final ${pc(e.final)} (${e.final === null ? "no final sitting: ungraded" : "no baseline"})`;
  const gap = selfReported !== null && e.final !== null ? ` · self-reported ${pc(selfReported)} (gap ${pts(selfReported - e.final)} points)` : "";
  return [head, `   graded on ${e.checkpoint ?? "—"} · contamination refusals ${e.refusals}${gap}`];
}

import type { ToolCall } from "./guard/types.ts";
import type { FeedbackSource } from "./loop.ts";
import { baseToolName, isTrainingTool } from "./tool-names.ts";
import type { ToolResult } from "../tools/types.ts";

/** One training call as the ledger understands it. */
export type TrainingRecord = {
  turn: number;
  tool: string;
  method: "grpo" | "sft";
  source: "structured" | "text";
  /** Cumulative iterations (GRPO) or epochs (SFT) after this call. */
  cumulative: number | null;
  rewardMean: number | null;
  rewardStd: number | null;
  groups: { total: number; mixed: number; allZero: number; allOne: number; failed: number } | null;
  kl: number | null;
  rewardErrors: number | null;
  samples: number | null;
  /** Completions that hit max_tokens (GRPO). */
  truncated: number | null;
  trainLoss: number | null;
  valLoss: number | null;
  learningRate: number | null;
  tokens: number | null;
  seconds: number | null;
};

/** Alert thresholds; each alert fires at or beyond its value. */
export const ALERT_THRESHOLDS = {
  /** Share of groups all 0 (or all 1) in the last GRPO call. */
  uniformShare: 0.6,
  /** Drop of the mean reward of the last 2 calls below the 2 before. */
  rewardDrop: 0.1,
  /** KL (sampler vs learner) of the last call. */
  kl: 0.05,
  /** Validation loss above its best, as a ratio. */
  valRise: 1.02,
  /** Training calls without a sample() in between. */
  callsWithoutSample: 5,
  /** Share of rewards that raised or returned junk. */
  rewardErrorShare: 0.1,
  /** Share of completions cut at max_tokens in the last GRPO call. */
  truncationShare: 0.2,
};

export type Alert = { id: "all_zero" | "all_one" | "reward_falling" | "kl_spike" | "overfitting" | "no_sample" | "reward_errors" | "truncated"; text: string };

const MAX_BLOCK_CHARS = 1800;
/** Thresholds are compared with a little slack, so a value printed as the threshold fires. */
const EPS = 1e-9;
const TABLE_ROWS = 5;

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** Reads our tinker server's structuredContent. */
function fromStructured(tool: string, s: Record<string, any>, turn: number): TrainingRecord | undefined {
  if (s.method === "grpo" && Array.isArray(s.iterations)) {
    const last = s.iterations[s.iterations.length - 1];
    if (!last) return undefined;
    const g = last.groups ?? {};
    return {
      turn,
      tool,
      method: "grpo",
      source: "structured",
      cumulative: num(s.cumulative_iterations),
      rewardMean: num(last.reward_mean),
      rewardStd: num(last.reward_std),
      groups: { total: g.total ?? 0, mixed: g.mixed ?? 0, allZero: g.all_zero ?? 0, allOne: g.all_one ?? 0, failed: (g.failed ?? 0) + (g.uniform_other ?? 0) },
      kl: num(last.kl),
      rewardErrors: num(last.reward_errors),
      samples: num(last.samples_generated),
      truncated: num(last.truncated),
      trainLoss: null,
      valLoss: null,
      learningRate: num(last.learning_rate),
      tokens: num(last.tokens_sampled),
      seconds: last.seconds ? Object.values(last.seconds as Record<string, number>).reduce((a, b) => a + b, 0) : null,
    };
  }
  if (s.method === "sft" && Array.isArray(s.epochs)) {
    const last = s.epochs[s.epochs.length - 1];
    if (!last) return undefined;
    return {
      turn,
      tool,
      method: "sft",
      source: "structured",
      cumulative: num(s.cumulative_epochs),
      rewardMean: null,
      rewardStd: null,
      groups: null,
      kl: null,
      rewardErrors: null,
      samples: null,
      truncated: null,
      trainLoss: num(last.train_loss),
      valLoss: num(last.val_loss),
      learningRate: num(s.learning_rate),
      tokens: num(s.tokens),
      seconds: num(s.seconds),
    };
  }
  return undefined;
}

/** Reads the Python predecessor's text reports, for tinker servers without structured output. */
export function fromPredecessorText(tool: string, text: string, turn: number): TrainingRecord | undefined {
  const base: TrainingRecord = { turn, tool, method: "grpo", source: "text", cumulative: null, rewardMean: null, rewardStd: null, groups: null, kl: null, rewardErrors: null, samples: null, truncated: null, trainLoss: null, valLoss: null, learningRate: null, tokens: null, seconds: null };
  const iters = [...text.matchAll(/Iter (\d+): reward=(-?[\d.]+) \+\/- ([\d.]+), lr=([\d.e+-]+)(?:, kl_v1=(-?[\d.e+-]+))?/g)];
  if (iters.length > 0) {
    const last = iters[iters.length - 1]!;
    const generated = num(Number(/Generated: (\d+)/.exec(text)?.[1]));
    const ones = Number(/All 1s samples: (\d+)/.exec(text)?.[1] ?? NaN);
    const zeros = Number(/All 0s samples: (\d+)/.exec(text)?.[1] ?? NaN);
    const uniform = Number(/Uniform rewards:\s+(\d+)/.exec(text)?.[1] ?? NaN);
    const errors = Number(/Reward errors:\s+(\d+)/.exec(text)?.[1] ?? NaN);
    // The predecessor counts samples, not groups; shares are the same either way.
    const groups =
      generated !== null && Number.isFinite(uniform)
        ? { total: generated, mixed: generated - uniform, allZero: Number.isFinite(zeros) ? zeros : 0, allOne: Number.isFinite(ones) ? ones : 0, failed: 0 }
        : null;
    return {
      ...base,
      cumulative: num(Number(/Cumulative iterations: (\d+)/.exec(text)?.[1])),
      rewardMean: Number(last[2]),
      rewardStd: Number(last[3]),
      learningRate: Number(last[4]),
      kl: last[5] !== undefined ? Number(last[5]) : null,
      groups,
      rewardErrors: Number.isFinite(errors) ? errors : null,
      samples: generated,
    };
  }
  const epochs = [...text.matchAll(/Epoch (\d+): (?:train_loss=([\d.]+), val_loss=([\d.]+)|loss=([\d.]+))/g)];
  if (epochs.length > 0) {
    const last = epochs[epochs.length - 1]!;
    return { ...base, method: "sft", cumulative: Number(last[1]), trainLoss: Number(last[2] ?? last[4]), valLoss: last[3] !== undefined ? Number(last[3]) : null };
  }
  return undefined;
}

export type LedgerOptions = {
  model: string;
  now: () => number;
  startedAt: number;
  maxMinutes?: number;
  maxTrainCalls?: number;
  /** Receives every training record (for metrics.jsonl). */
  sink?: (record: TrainingRecord) => void;
  /** Overrides of ALERT_THRESHOLDS (from --alert-thresholds). */
  thresholds?: Partial<AlertThresholds>;
};

export type AlertThresholds = typeof ALERT_THRESHOLDS;

/**
 * The metrics ledger: fed by every tool result, it keeps the training history and
 * writes the feedback block the planner reads after each turn that touched training.
 */
export class MetricsLedger implements FeedbackSource {
  readonly records: TrainingRecord[] = [];
  private turn = 1;
  private touched = false;
  private callsSinceSample = 0;
  private lastSample: { turn: number; mean: number | null; n: number } | undefined;
  private saves = 0;

  constructor(private readonly o: LedgerOptions) {}

  observe(call: ToolCall, result: ToolResult): void {
    const tool = baseToolName(call.name);
    if (tool === "sample" && !result.isError) {
      const s = result.structured as { mean_reward?: number | null; completions?: unknown[] } | undefined;
      this.lastSample = { turn: this.turn, mean: num(s?.mean_reward), n: Array.isArray(s?.completions) ? s!.completions.length : 1 };
      this.callsSinceSample = 0;
      return;
    }
    if (tool === "save" && !result.isError) this.saves++;
    if (!isTrainingTool(call.name)) return;
    this.touched = true;
    if (result.isError) return;
    const rec =
      (result.structured && typeof result.structured === "object" ? fromStructured(tool, result.structured as Record<string, any>, this.turn) : undefined) ??
      fromPredecessorText(tool, result.content, this.turn);
    if (!rec) return;
    this.records.push(rec);
    this.callsSinceSample++;
    this.o.sink?.(rec);
  }

  alerts(): Alert[] {
    const out: Alert[] = [];
    const t = { ...ALERT_THRESHOLDS, ...this.o.thresholds };
    const last = this.records[this.records.length - 1];
    if (!last) return out;
    if (last.groups && last.groups.total > 0) {
      const z = last.groups.allZero / last.groups.total;
      const o = last.groups.allOne / last.groups.total;
      if (z >= t.uniformShare - EPS) out.push({ id: "all_zero", text: `Mostly ALL-0 (${pct(z)} of groups): too hard, reward too strict, or answers cut off. Try easier prompts, partial credit, or more max_tokens; check samples.` });
      if (o >= t.uniformShare - EPS) out.push({ id: "all_one", text: `Mostly ALL-1 (${pct(o)} of groups): converged or too easy. sample() the holdout; then save, or move to harder prompts.` });
    }
    const grpo = this.records.filter((r) => r.rewardMean !== null);
    if (grpo.length >= 4) {
      const m = (rs: TrainingRecord[]) => rs.reduce((a, r) => a + r.rewardMean!, 0) / rs.length;
      const recent = m(grpo.slice(-2));
      const before = m(grpo.slice(-4, -2));
      if (before - recent >= t.rewardDrop - EPS) out.push({ id: "reward_falling", text: `Reward falling: ${before.toFixed(2)} → ${recent.toFixed(2)} over the last 4 calls. Lower the learning rate 2-5x, or load the last good checkpoint.` });
    }
    if (last.kl !== null && last.kl >= t.kl - EPS) out.push({ id: "kl_spike", text: `KL spike: ${last.kl.toFixed(3)} (≥ ${t.kl}). The update was too large: lower the learning rate.` });
    const sft = this.records.filter((r) => r.valLoss !== null && r.trainLoss !== null);
    if (sft.length >= 2) {
      let best = sft[0]!;
      for (const r of sft) if (r.valLoss! < best.valLoss!) best = r;
      const l = sft[sft.length - 1]!;
      if (l !== best && l.valLoss! >= best.valLoss! * t.valRise - EPS && l.trainLoss! < best.trainLoss!) {
        out.push({ id: "overfitting", text: `Overfitting: validation loss ${l.valLoss!.toFixed(3)} is above its best ${best.valLoss!.toFixed(3)} while training loss keeps falling. Stop; save or load the best checkpoint.` });
      }
    }
    if (this.callsSinceSample >= t.callsWithoutSample) out.push({ id: "no_sample", text: `No sample() in the last ${this.callsSinceSample} training calls: look at real outputs on the holdout now.` });
    if (last.rewardErrors !== null && last.samples && last.rewardErrors / last.samples >= t.rewardErrorShare - EPS) {
      out.push({ id: "reward_errors", text: `Reward errors on ${pct(last.rewardErrors / last.samples)} of samples: fix the reward function (check_reward, reward_debug.log) before training on.` });
    }
    if (last.truncated !== null && last.samples && last.truncated / last.samples >= t.truncationShare - EPS) {
      out.push({ id: "truncated", text: `Truncation: ${pct(last.truncated / last.samples)} of completions hit max_tokens and were cut off before they ended, so rewards read them as wrong. Raise max_tokens (reasoning models need thousands of tokens), or ask for shorter answers; sample() to see where they stop.` });
    }
    return out;
  }

  block(turn: number): string | undefined {
    this.turn = turn + 1;
    if (!this.touched) return undefined;
    this.touched = false;
    const r = this.records;
    const last = r[r.length - 1];
    const elapsed = (this.o.now() - this.o.startedAt) / 60_000;
    const header =
      `── training feedback after turn ${turn} ──\n` +
      `${last?.method ?? "training"} on ${this.o.model} · ${r.length} training call(s)` +
      `${last?.cumulative !== null && last?.cumulative !== undefined ? ` · cumulative ${last.method === "grpo" ? "iterations" : "epochs"} ${last.cumulative}` : ""}` +
      ` · ${elapsed.toFixed(1)}${this.o.maxMinutes ? ` of ${this.o.maxMinutes}` : ""} min` +
      `${this.o.maxTrainCalls ? ` · ${r.length} of ${this.o.maxTrainCalls} training calls` : ""} · saves ${this.saves}`;
    const lines = [header];
    if (!last) lines.push("The last training call failed: read its error and fix the input before calling again.");
    else if (last.method === "grpo") {
      lines.push("turn  reward       mixed/ALL-0/ALL-1/fail  KL");
      for (const x of r.slice(-TABLE_ROWS)) {
        const g = x.groups;
        lines.push(`${String(x.turn).padStart(4)}  ${fmt(x.rewardMean, 3)}±${fmt(x.rewardStd, 2)}  ${g ? `${g.mixed}/${g.allZero}/${g.allOne}/${g.failed}`.padEnd(22) : "-".padEnd(22)}  ${fmt(x.kl, 4)}`);
      }
      const rewards = r.filter((x) => x.rewardMean !== null).map((x) => x.rewardMean!);
      if (rewards.length >= 2) lines.push(`trend: reward ${rewards[Math.max(0, rewards.length - 5)]!.toFixed(3)} → ${rewards[rewards.length - 1]!.toFixed(3)} over the last ${Math.min(5, rewards.length)} calls`);
    } else {
      lines.push("turn  train loss  val loss");
      for (const x of r.slice(-TABLE_ROWS)) lines.push(`${String(x.turn).padStart(4)}  ${fmt(x.trainLoss, 4).padEnd(10)}  ${fmt(x.valLoss, 4)}`);
    }
    if (this.lastSample) lines.push(`last sample(): turn ${this.lastSample.turn}, ${this.lastSample.n} completion(s)${this.lastSample.mean !== null ? `, mean reward ${this.lastSample.mean.toFixed(3)}` : ""}`);
    const alerts = this.alerts();
    if (alerts.length) lines.push("alerts:", ...alerts.map((a) => `! ${a.text}`));
    let text = lines.join("\n");
    if (text.length > MAX_BLOCK_CHARS) text = `${text.slice(0, MAX_BLOCK_CHARS - 1)}…`;
    return text;
  }
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function fmt(v: number | null, digits: number): string {
  return v === null ? "-" : v.toFixed(digits);
}

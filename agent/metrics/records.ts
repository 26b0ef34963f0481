import type { ToolCall } from "../core/guard.ts";
import { baseToolName } from "../core/tool-names.ts";
import type { ToolResult } from "../core/tools.ts";
import { ERROR_KIND_META, grpoStepRead, sftStepRead } from "../../tools/contracts/tinker-results.ts";

/**
 * What a training call did:
 * - trained: at least one optimizer step;
 * - no_signal: it ran, but no group had a learning signal, so no step was taken;
 * - input_error: refused for its input (the arguments or files: fix them and call again);
 * - failed: any other error (the backend refused, a crash, a timeout).
 */
export type TrainingOutcome = "trained" | "no_signal" | "input_error" | "failed";

/** One training call as the ledger understands it. */
export type TrainingRecord = {
  turn: number;
  tool: string;
  method: "grpo" | "sft" | null;
  source: "structured" | "text" | "error";
  outcome: TrainingOutcome;
  /** The error's first line, for refused and failed calls. */
  error: string | null;
  /** Cumulative iterations (GRPO) or epochs (SFT) after this call. */
  cumulative: number | null;
  rewardMean: number | null;
  rewardStd: number | null;
  groups: { total: number; mixed: number; allZero: number; allOne: number; failed: number } | null;
  /** How far the last step moved the policy (learner before vs after it: the step's own move, off-policy too). */
  kl: number | null;
  /** Optimizer steps between sampling and training the last step's rollouts (off-policy overlap), and rollouts dropped as too old. */
  staleness: number | null;
  droppedStale: number | null;
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

const EMPTY = {
  cumulative: null,
  rewardMean: null,
  rewardStd: null,
  groups: null,
  kl: null,
  staleness: null,
  droppedStale: null,
  rewardErrors: null,
  samples: null,
  truncated: null,
  trainLoss: null,
  valLoss: null,
  learningRate: null,
  tokens: null,
  seconds: null,
} as const;

/** The training record a training tool's result makes (errors included), or undefined when it says nothing readable. */
export function trainingRecordOf(call: ToolCall, result: ToolResult, turn: number): TrainingRecord | undefined {
  const tool = baseToolName(call.name);
  if (result.isError) {
    const kind = result.meta?.[ERROR_KIND_META];
    return { turn, tool, method: null, source: "error", outcome: kind === "input" ? "input_error" : "failed", error: firstLine(result.content), ...EMPTY };
  }
  return fromStructured(tool, result.structured, turn) ?? fromPredecessorText(tool, result.content, turn);
}

function firstLine(text: string): string {
  const line = text.split("\n").find((l) => l.trim()) ?? "";
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

/** Reads our tinker server's structuredContent. */
function fromStructured(tool: string, structured: unknown, turn: number): TrainingRecord | undefined {
  const g = grpoStepRead.safeParse(structured);
  if (g.success) {
    const s = g.data;
    const last = s.iterations[s.iterations.length - 1]!;
    const gr = last.groups ?? {};
    const steps = s.optimizer_steps ?? s.iterations.filter((it) => it.stepped !== false).length;
    const seconds = last.seconds ? last.seconds.sampling + last.seconds.reward + last.seconds.training + last.seconds.other : null;
    return {
      turn,
      tool,
      method: "grpo",
      source: "structured",
      outcome: steps > 0 ? "trained" : "no_signal",
      error: null,
      ...EMPTY,
      cumulative: s.cumulative_iterations ?? null,
      rewardMean: last.reward_mean ?? null,
      rewardStd: last.reward_std ?? null,
      groups: {
        total: gr.total ?? 0,
        mixed: gr.mixed ?? 0,
        allZero: gr.all_zero ?? 0,
        allOne: gr.all_one ?? 0,
        failed: (gr.failed ?? 0) + (gr.uniform_other ?? 0),
      },
      kl: last.kl ?? null,
      staleness: last.staleness?.max ?? null,
      droppedStale: last.dropped_stale ?? null,
      rewardErrors: last.reward_errors ?? null,
      samples: last.samples_generated ?? null,
      truncated: last.truncated ?? null,
      learningRate: last.learning_rate ?? null,
      tokens: last.tokens_sampled ?? null,
      seconds,
    };
  }
  const f = sftStepRead.safeParse(structured);
  if (f.success) {
    const s = f.data;
    const last = s.epochs[s.epochs.length - 1]!;
    return {
      turn,
      tool,
      method: "sft",
      source: "structured",
      outcome: "trained",
      error: null,
      ...EMPTY,
      cumulative: s.cumulative_epochs ?? null,
      trainLoss: last.train_loss,
      valLoss: last.val_loss,
      learningRate: s.learning_rate ?? null,
      tokens: s.tokens ?? null,
      seconds: s.seconds ?? null,
    };
  }
  return undefined;
}

const num = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** Reads the Python predecessor's text reports, for tinker servers without structured output. */
export function fromPredecessorText(tool: string, text: string, turn: number): TrainingRecord | undefined {
  const base: TrainingRecord = { turn, tool, method: "grpo", source: "text", outcome: "trained", error: null, ...EMPTY };
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
    return {
      ...base,
      method: "sft",
      cumulative: Number(last[1]),
      trainLoss: Number(last[2] ?? last[4]),
      valLoss: last[3] !== undefined ? Number(last[3]) : null,
    };
  }
  return undefined;
}

/** Records that carry training numbers (a call that ran), as opposed to errors. */
export const ran = (r: TrainingRecord) => r.outcome === "trained" || r.outcome === "no_signal";

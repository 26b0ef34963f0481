import type { ToolCall } from "../guard/types.ts";
import { baseToolName } from "../tool-names.ts";
import type { ToolResult } from "../../tools/client/types.ts";

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

export const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** The training record a training tool's result makes, or undefined when it carries none (an error, another tool). */
export function trainingRecordOf(call: ToolCall, result: ToolResult, turn: number): TrainingRecord | undefined {
  if (result.isError) return undefined;
  const tool = baseToolName(call.name);
  return (
    (result.structured && typeof result.structured === "object" ? fromStructured(tool, result.structured as Record<string, any>, turn) : undefined) ??
    fromPredecessorText(tool, result.content, turn)
  );
}

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


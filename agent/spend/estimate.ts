import { z } from "zod";
import type { ToolCall } from "../core/guard.ts";
import { baseToolName, isInitTool } from "../core/tool-names.ts";
import type { ToolSpec } from "../core/tools.ts";
import { isPathLike, PathRefused, readAllowedFile } from "../../lib/run-files.ts";
import { defaultGroupSize, MAX_GROUP_SIZE } from "../../tools/contracts/tinker-models.ts";
import { klProbeSequences } from "../../tools/contracts/kl-probe.ts";
import { splitExamples, windowOf } from "../../tools/contracts/sft-split.ts";
import { templateTokens } from "../../tools/contracts/template-tokens.ts";
import { formatUsd, trainingCostUsd } from "./prices.ts";
import type { TrainingPrice } from "./prices.ts";
import { ZERO_TOKENS } from "../core/cost.ts";
import type { CostEstimate, TokenCounts } from "../core/cost.ts";

/**
 * What a training or sampling call will cost, from its arguments alone, before it runs:
 * the most it can process (every completion running to max_tokens, every group trained,
 * every forward pass: the KL probe after each optimizer step too), at the model's prices.
 * Texts are counted at one token per UTF-8 byte plus the model's chat template
 * (tools/contracts/template-tokens.ts); the estimate errs high, and the actual tokens are
 * recorded beside it.
 */

/** The largest data file read for an estimate (the tinker server reads the same files). */
const MAX_DATA_FILE_BYTES = 256 * 1024 * 1024;

/**
 * At most one token per UTF-8 byte: the harness has no tokenizer, and the byte-level BPE
 * tokenizers Tinker's models use (and the local models' character tokenizer) never make more.
 * Ordinary English text is about 4 bytes a token, so this errs high; digits, code and CJK less so.
 */
const bytesOf = (text: string) => Buffer.byteLength(text, "utf8");

/** Tools whose calls make the training backend process tokens. */
export const COSTLY_TOOLS = new Set(["train_grpo_step", "train_sft_step", "sample"]);
export const isCostlyTool = (name: string) => COSTLY_TOOLS.has(baseToolName(name));

/** What the session reported when it opened: the group size and the max_tokens a call gets by default. */
const initShape = z.looseObject({ group_size: z.number().int().positive().nullable().optional(), default_max_tokens: z.number().int().positive().optional() });

type Args = Record<string, unknown>;

/** What the budget rule asks of an estimator. */
export interface CostEstimator {
  /** The estimate for a call of a costly tool, `undefined` for any other call, or why there is none. */
  estimate(call: ToolCall, tools: ToolSpec[]): CostEstimate | { unreadable: string } | undefined;
  /** Where an estimate's dollars go, for the refusal message. */
  breakdown(e: CostEstimate): string;
  observe(call: ToolCall, result: { isError: boolean; structured?: unknown }): void;
}

/**
 * The estimates a recorded run made, by tool-use id: a cassette replay asks them again
 * instead of estimating (the calls' data files are not there), so a changed budget shows
 * which calls it would have refused.
 */
export class RecordedEstimates implements CostEstimator {
  private readonly byId = new Map<string, CostEstimate>();

  constructor(events: Iterable<{ type: string; toolUseId?: string; estimate?: CostEstimate }>) {
    for (const e of events) if (e.type === "guard" && e.toolUseId && e.estimate) this.byId.set(e.toolUseId, e.estimate);
  }

  estimate(call: ToolCall): CostEstimate | undefined {
    return this.byId.get(call.id);
  }

  breakdown(): string {
    return "as the recorded run estimated it";
  }

  observe(): void {}
}

export class CallEstimator implements CostEstimator {
  private groupSize: number | undefined;
  private defaultMaxTokens: number | undefined;

  constructor(
    private readonly o: {
      model: string;
      price: TrainingPrice;
      /** Where relative data paths resolve (the run directory), as for the tools. */
      runDir: string;
    },
  ) {}

  /** Learns the session's group size and default max_tokens from init results. */
  observe(call: ToolCall, result: { isError: boolean; structured?: unknown }): void {
    const load = baseToolName(call.name) === "load";
    if (result.isError || !(isInitTool(call.name) || load)) return;
    const s = initShape.safeParse(result.structured);
    // A loaded checkpoint samples with its own group size; one that does not say is counted at the largest.
    if (!s.success) {
      if (load) this.groupSize = MAX_GROUP_SIZE;
      return;
    }
    this.groupSize = s.data.group_size ?? (load ? MAX_GROUP_SIZE : this.groupSize);
    if (s.data.default_max_tokens) this.defaultMaxTokens = s.data.default_max_tokens;
  }

  /**
   * The estimate for a call of a costly tool, `undefined` for any other call, or why
   * there is none (its data cannot be read here: the tool will say so itself).
   */
  estimate(call: ToolCall, tools: ToolSpec[]): CostEstimate | { unreadable: string } | undefined {
    const tool = baseToolName(call.name);
    if (!COSTLY_TOOLS.has(tool)) return undefined;
    const a = (call.input && typeof call.input === "object" ? call.input : {}) as Args;
    const d = defaultsOf(tools.find((t) => t.name === call.name));
    const arg = (k: string) => (a[k] !== undefined ? a[k] : d[k]);
    const maxTokens = numberOr(arg("max_tokens"), this.defaultMaxTokens ?? 4096);
    const template = templateTokens(this.o.model);
    const tokensOf = (t: string) => bytesOf(t) + template;
    try {
      if (tool === "train_grpo_step") {
        const prompts = windowOf(this.records(a.prompts, "prompts"), arg("start"), arg("limit")).map((r) => tokensOf(text(r.prompt)));
        const g = this.groupSize ?? defaultGroupSize(this.o.model);
        const iterations = numberOr(arg("num_iterations"), 1);
        const perIteration = sampling(prompts, g, maxTokens);
        const sequences = prompts.map((p) => p + maxTokens - 1);
        perIteration.trained = sequences.reduce((n, t) => n + g * t, 0);
        perIteration.prefill += klProbe(sequences, g, klProbeSequences(this.o.model));
        return this.priced(
          scale(perIteration, iterations),
          `${prompts.length} prompts × group ${g} × up to ${maxTokens} tokens × ${iterations} iteration${iterations === 1 ? "" : "s"}`,
        );
      }
      if (tool === "train_sft_step") {
        // The server drops examples with an empty prompt or response before it takes the window: so must the estimate.
        const usable = this.records(a.examples, "examples")
          .map((r) => ({ prompt: text(r.prompt ?? r.input), response: text(r.response ?? r.output) }))
          .filter((r) => r.prompt !== "" && r.response !== "");
        const examples = windowOf(usable, arg("start"), arg("limit"));
        const epochs = numberOr(arg("num_epochs"), 1);
        // The very rows the server keeps for validation (its split, shared): evaluated, not trained.
        const { train, val } = splitExamples(examples, numberOr(arg("validation_split"), 0.1));
        const tokensOfRow = (r: { prompt: string; response: string }) => tokensOf(r.prompt) + tokensOf(r.response) - 1;
        const sum = (rows: Array<{ prompt: string; response: string }>) => rows.reduce((n, r) => n + tokensOfRow(r), 0);
        const total = sum(examples);
        return this.priced(
          { ...ZERO_TOKENS, trained: sum(train) * epochs, prefill: sum(val) * epochs },
          `${examples.length} examples (~${Math.round(total / Math.max(1, examples.length))} tokens each) × ${epochs} epoch${epochs === 1 ? "" : "s"}`,
        );
      }
      const n = numberOr(arg("n"), 1);
      const prompts =
        a.prompt !== undefined
          ? [tokensOf(text(a.prompt))]
          : this.records(a.prompts, "prompts")
              .slice(0, numberOr(arg("limit"), 200))
              .map((r) => tokensOf(text(r.prompt)));
      return this.priced(
        sampling(prompts, n, maxTokens),
        `${prompts.length} prompt${prompts.length === 1 ? "" : "s"} × ${n} sample${n === 1 ? "" : "s"} × up to ${maxTokens} tokens`,
      );
    } catch (err) {
      if (err instanceof PathRefused || err instanceof UnreadableData) return { unreadable: err.message };
      throw err;
    }
  }

  /** Where an estimate's dollars go, meter by meter, at the model's prices. */
  breakdown(e: CostEstimate): string {
    const p = this.o.price;
    const t = e.tokens;
    const parts = [
      ["sampling", (t.sampled * p.sample) / 1e6],
      ["prefill", (t.prefill * p.prefill + t.cachedPrefill * p.cachedPrefill) / 1e6],
      ["training", (t.trained * p.train) / 1e6],
    ] as const;
    return `at ${this.o.model}'s prices: ${
      parts
        .filter(([, usd]) => usd > 0)
        .map(([what, usd]) => `${what} ${formatUsd(usd)}`)
        .join(", ") || "nothing billed"
    }`;
  }

  private priced(tokens: TokenCounts, basis: string): CostEstimate {
    return { usd: trainingCostUsd(tokens, this.o.price), tokens, basis };
  }

  /** The records a call names: inline (an array or JSON/JSONL text) or a file of the run directory. */
  private records(input: unknown, what: string): Array<Record<string, unknown>> {
    if (Array.isArray(input)) return input.filter((r): r is Record<string, unknown> => !!r && typeof r === "object");
    if (typeof input !== "string") throw new UnreadableData(`no ${what} given`);
    const raw = isPathLike(input) ? readAllowedFile(input, { root: this.o.runDir, maxBytes: MAX_DATA_FILE_BYTES, what }).bytes.toString("utf8") : input;
    const t = raw.trim();
    try {
      if (t.startsWith("[")) return (JSON.parse(t) as unknown[]).filter((r): r is Record<string, unknown> => !!r && typeof r === "object");
      return t
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    } catch {
      throw new UnreadableData(`the ${what} are not JSON or JSONL`);
    }
  }
}

class UnreadableData extends Error {}

/** Prompt tokens once each at the full rate, the other samples' shared prompt from the prefix cache, every sample to max_tokens. */
function sampling(prompts: number[], n: number, maxTokens: number): TokenCounts {
  const read = prompts.reduce((x, p) => x + p, 0);
  return { prefill: read, cachedPrefill: (n - 1) * read, sampled: prompts.length * n * maxTokens, trained: 0 };
}

/**
 * The KL probe's forward pass after an iteration's optimizer step: it re-reads up to `probe`
 * of the step's sequences (each prompt's group of `g`); counted as the longest that many.
 */
function klProbe(sequences: number[], g: number, probe: number): number {
  let left = probe;
  let tokens = 0;
  for (const t of [...sequences].sort((a, b) => b - a)) {
    const k = Math.min(g, left);
    tokens += k * t;
    left -= k;
    if (left === 0) break;
  }
  return tokens;
}

function scale(t: TokenCounts, k: number): TokenCounts {
  return { prefill: t.prefill * k, cachedPrefill: t.cachedPrefill * k, sampled: t.sampled * k, trained: t.trained * k };
}

/** The tool's declared defaults (JSON Schema `default`), so an estimate takes what the tool will. */
function defaultsOf(spec: ToolSpec | undefined): Args {
  const props = (spec?.inputSchema.properties ?? {}) as Record<string, { default?: unknown }>;
  return Object.fromEntries(
    Object.entries(props)
      .filter(([, v]) => v && typeof v === "object" && "default" in v)
      .map(([k, v]) => [k, v.default]),
  );
}

/** The start/limit window the tools take over a pool (wrapping around). */
const numberOr = (v: unknown, fallback: number) => (typeof v === "number" && Number.isFinite(v) ? v : fallback);
const text = (v: unknown) => (typeof v === "string" ? v : v === undefined || v === null ? "" : String(v));

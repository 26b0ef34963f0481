import Anthropic from "@anthropic-ai/sdk";
import type {
  ContentBlockParam,
  MessageCreateParamsNonStreaming,
  MessageParam,
  Tool,
  TextBlockParam,
  StopReason as AnthropicStopReason,
} from "@anthropic-ai/sdk/resources/messages/messages";
import { plannerErrorTurn } from "../core/conversation.ts";
import { UserError } from "../core/errors.ts";
import type { AssistantTurn, Block, Message, PlannerErrorKind, StopReason } from "../core/conversation.ts";
import type { Planner, PlannerRequest, RequestSize } from "../core/planner.ts";
import { byteBoundTokens } from "../spend/planner-estimate.ts";
import { callSignal } from "../tool-hub/call-signal.ts";
import { RetryWatch } from "./retry-watch.ts";
import { apiClientOptions, DEFAULT_PLANNER_MAX_TOKENS } from "./api-client-options.ts";
import type { ApiPlannerOptions } from "./api-client-options.ts";
import { refusedKey, unknownModel } from "./model-check.ts";

export type AnthropicPlannerOptions = ApiPlannerOptions & {
  /** Extended thinking with this many tokens a turn (--thinking). */
  thinkingBudget?: number;
};

/**
 * How the planner thinks: manual extended thinking with a budget, interleaved between
 * tool calls (the beta header below); or adaptive thinking, for models that only take
 * that (they interleave by themselves and take no budget: the budget then only widens
 * max_tokens so the thinking fits).
 */
export type ThinkingMode = { type: "enabled"; budgetTokens: number } | { type: "adaptive"; budgetTokens: number };

/** The beta that lets a model think between tool calls in manual mode. */
export const INTERLEAVED_THINKING_BETA = "interleaved-thinking-2025-05-14";

const EPHEMERAL = { type: "ephemeral" } as const;

/** Planner backed by the Anthropic Messages API through the official SDK. */
export class AnthropicPlanner implements Planner {
  readonly id: string;
  private readonly retries = new RetryWatch();
  private readonly client: Anthropic;
  private readonly model: string;
  private maxTokens: number;
  /** Set from --thinking; `check` turns it adaptive for a model that takes only that. */
  private thinking: ThinkingMode | undefined;

  constructor(opts: AnthropicPlannerOptions) {
    this.id = `anthropic:${opts.model}`;
    this.model = opts.model;
    this.maxTokens = opts.maxTokens ?? DEFAULT_PLANNER_MAX_TOKENS;
    this.client = new Anthropic(apiClientOptions(opts, this.retries));
    if (opts.thinkingBudget !== undefined) this.thinking = { type: "enabled", budgetTokens: opts.thinkingBudget };
  }

  /**
   * Checks the model against the API's model list (an alias is looked up on its own when
   * the list does not name it) and fits the thinking to what the model takes. Throws a
   * UserError for a model the API does not offer or a key it refuses; says so and goes on
   * when the list cannot be reached.
   */
  async check(signal?: AbortSignal): Promise<string[]> {
    let info: Anthropic.Models.ModelInfo | undefined;
    const ids: string[] = [];
    try {
      for await (const m of this.client.models.list({ limit: 1000 }, { signal, maxRetries: 1 })) {
        ids.push(m.id);
        if (m.id === this.model) info = m;
      }
      info ??= await this.client.models.retrieve(this.model, {}, { signal, maxRetries: 1 });
    } catch (err) {
      if (err instanceof Anthropic.NotFoundError && ids.length > 0) throw unknownModel("anthropic", this.model, ids);
      if (err instanceof Anthropic.AuthenticationError || err instanceof Anthropic.PermissionDeniedError)
        throw refusedKey("anthropic", err.status, "ANTHROPIC_API_KEY");
      return [`planner model: could not check ${this.model} against the Anthropic model list (${describeAnthropicError(err).message}); going on`];
    }
    if (info.lifecycle === "retired")
      throw new UserError(
        `anthropic:${this.model} is retired: the Anthropic API lists it but no longer answers with it; pick another model (${ids.slice(0, 6).join(", ")}…).`,
      );
    const lines = [
      `planner model: ${this.model} is offered by the Anthropic API${info.display_name ? ` (${info.display_name})` : ""}${info.lifecycle === "deprecated" ? `, deprecated${info.retires_at ? ` (retires ${info.retires_at.slice(0, 10)})` : ""}` : ""}`,
    ];
    if (!this.thinking) return lines;
    const types = info.capabilities?.thinking.types;
    const budget = this.thinking.budgetTokens;
    if (types && !types.enabled.supported) {
      if (!types.adaptive.supported)
        throw new UserError(
          `--thinking: ${this.model} does not think (its model entry offers neither extended nor adaptive thinking); leave --thinking out or pick another model.`,
        );
      this.thinking = { type: "adaptive", budgetTokens: budget };
    }
    const limit = info.max_tokens ?? undefined;
    if (limit !== undefined && budget >= limit)
      throw new UserError(`--thinking ${budget} does not fit ${this.model}'s ${limit} output tokens; give a budget below ${limit}.`);
    this.maxTokens = Math.min(this.maxTokens + budget, limit ?? Number.MAX_SAFE_INTEGER);
    lines.push(
      this.thinking.type === "enabled"
        ? `thinking: extended thinking, ${budget} tokens a turn, interleaved with tool calls (max_tokens ${this.maxTokens})`
        : `thinking: ${this.model} thinks adaptively (it takes no budget; it decides how much, between tool calls too); --thinking ${budget} raises max_tokens to ${this.maxTokens} so its thinking fits`,
    );
    return lines;
  }

  async next(req: PlannerRequest): Promise<AssistantTurn> {
    return this.retries.attachTo(await this.ask(req));
  }

  /** The request's input counted by the API (POST /v1/messages/count_tokens); where that fails, one token per byte. */
  async size(req: PlannerRequest): Promise<RequestSize> {
    const { max_tokens, ...params } = buildAnthropicRequest(this.model, this.maxTokens, req, this.thinking);
    const headers = this.thinking?.type === "enabled" ? { "anthropic-beta": INTERLEAVED_THINKING_BETA } : undefined;
    try {
      const counted = await this.client.messages.countTokens(params, { signal: req.signal, ...(headers ? { headers } : {}) });
      return { inputTokens: counted.input_tokens, maxOutputTokens: max_tokens, exact: true };
    } catch {
      return { inputTokens: byteBoundTokens(params), maxOutputTokens: max_tokens, exact: false };
    }
  }

  private async ask(req: PlannerRequest): Promise<AssistantTurn> {
    const params = buildAnthropicRequest(this.model, this.maxTokens, req, this.thinking);
    const perCall = callSignal(req.signal);
    let stream: ReturnType<typeof this.client.messages.stream> | undefined;
    try {
      // Streamed, so long replies are not cut by the non-streaming time limit; the SDK
      // does not retry errors inside a stream, which the loop's retry covers.
      const headers = this.thinking?.type === "enabled" ? { "anthropic-beta": INTERLEAVED_THINKING_BETA } : undefined;
      stream = this.client.messages.stream(params, { signal: perCall.signal, ...(headers ? { headers } : {}) });
      const msg = await stream.finalMessage();
      if (msg.stop_reason === null) {
        // The stream ended without message_delta: the reply is incomplete, whatever it holds.
        return withUsage(plannerErrorTurn("connection", "The reply stream from the Anthropic API ended before the message was complete."), msg);
      }
      return {
        content: fromAnthropicContent(msg.content),
        stopReason: mapStopReason(msg.stop_reason),
        usage: usageOf(msg),
        model: msg.model,
      };
    } catch (err) {
      const { kind, message } = describeAnthropicError(err);
      // A stream that failed after message_start had its input read: what it reported is spent, and counts against the budget.
      return withUsage(plannerErrorTurn(kind, message), stream?.currentMessage);
    } finally {
      perCall.release();
    }
  }
}

/** The tokens a reply (or the part of one that arrived) reports. */
function usageOf(msg: Anthropic.Message): AssistantTurn["usage"] {
  return {
    inputTokens: msg.usage.input_tokens ?? 0,
    outputTokens: msg.usage.output_tokens ?? 0,
    cacheReadTokens: msg.usage.cache_read_input_tokens ?? 0,
    cacheWriteTokens: msg.usage.cache_creation_input_tokens ?? 0,
  };
}

/** A failed turn carrying what the part of the reply that arrived reports having spent. */
function withUsage(turn: AssistantTurn, partial: Anthropic.Message | undefined): AssistantTurn {
  return partial ? { ...turn, usage: usageOf(partial) } : turn;
}

/**
 * The exact request body for one turn. Cache breakpoints sit on the system prompt,
 * the last tool and the last block of the newest user message, so each request's
 * cached prefix is the previous request plus the newest exchange.
 */
export function buildAnthropicRequest(
  model: string,
  maxTokens: number,
  req: Pick<PlannerRequest, "system" | "messages" | "tools">,
  thinking?: ThinkingMode,
): MessageCreateParamsNonStreaming {
  const system: TextBlockParam[] = [{ type: "text", text: req.system, cache_control: EPHEMERAL }];
  const tools: Tool[] = req.tools.map((t, i) => ({
    name: t.name,
    description: t.description,
    input_schema: t.inputSchema as Tool["input_schema"],
    ...(i === req.tools.length - 1 ? { cache_control: EPHEMERAL } : {}),
  }));
  return {
    model,
    max_tokens: maxTokens,
    system,
    tools,
    messages: toAnthropicMessages(req.messages),
    ...(thinking ? { thinking: thinking.type === "enabled" ? { type: "enabled", budget_tokens: thinking.budgetTokens } : { type: "adaptive" } } : {}),
  };
}

export function toAnthropicMessages(messages: Message[]): MessageParam[] {
  let lastUser = -1;
  messages.forEach((m, i) => {
    if (m.role === "user") lastUser = i;
  });
  return messages.map((m, i) => {
    const content = m.content.map(toAnthropicBlock);
    const last = content[content.length - 1];
    if (i === lastUser && last && last.type !== "thinking" && last.type !== "redacted_thinking") {
      content[content.length - 1] = { ...last, cache_control: EPHEMERAL } as ContentBlockParam;
    }
    return { role: m.role, content };
  });
}

function toAnthropicBlock(b: Block): ContentBlockParam {
  switch (b.type) {
    case "text":
      return { type: "text", text: b.text };
    case "tool_use":
      return { type: "tool_use", id: b.id, name: b.name, input: b.input ?? {} };
    case "tool_result":
      return {
        type: "tool_result",
        tool_use_id: b.toolUseId,
        content: b.content,
        ...(b.isError ? { is_error: true } : {}),
      };
    // Exactly as the API returned them: it checks the signature.
    case "thinking":
      return { type: "thinking", thinking: b.thinking, signature: b.signature };
    case "redacted_thinking":
      return { type: "redacted_thinking", data: b.data };
  }
}

function fromAnthropicContent(content: Anthropic.Messages.ContentBlock[]): Block[] {
  const out: Block[] = [];
  for (const b of content) {
    if (b.type === "text") out.push({ type: "text", text: b.text });
    else if (b.type === "tool_use") out.push({ type: "tool_use", id: b.id, name: b.name, input: b.input });
    else if (b.type === "thinking") out.push({ type: "thinking", thinking: b.thinking, signature: b.signature });
    else if (b.type === "redacted_thinking") out.push({ type: "redacted_thinking", data: b.data });
    // Server-tool blocks are not requested by this harness; drop them.
  }
  return out;
}

function mapStopReason(r: AnthropicStopReason | null): StopReason {
  switch (r) {
    case "tool_use":
      return "tool_use";
    case "max_tokens":
    case "model_context_window_exceeded":
      return "max_tokens";
    case "pause_turn":
      return "pause_turn";
    case "refusal":
      return "refusal";
    default:
      return "end_turn";
  }
}

/** Classifies an SDK error and words it for a user, without echoing credentials. */
export function describeAnthropicError(err: unknown): { kind: PlannerErrorKind; message: string } {
  if (err instanceof Anthropic.APIUserAbortError) return { kind: "aborted", message: "planner request aborted" };
  if (err instanceof Anthropic.APIConnectionTimeoutError) {
    return { kind: "timeout", message: "Anthropic API request timed out; the SDK's retries were exhausted." };
  }
  if (err instanceof Anthropic.APIConnectionError) {
    return {
      kind: "connection",
      message: `Could not reach the Anthropic API (${err.message}). Check the network or ANTHROPIC_BASE_URL.`,
    };
  }
  if (err instanceof Anthropic.APIError) {
    const status = err.status ?? 0;
    const detail = apiErrorDetail(err);
    if (!status) {
      // An error event inside a 200 stream carries only its type.
      const type = (err.error as { error?: { type?: string } } | undefined)?.error?.type ?? "";
      if (type === "overloaded_error") return { kind: "overloaded", message: `Anthropic API overloaded mid-stream (${detail}).` };
      if (type === "rate_limit_error") return { kind: "rate_limit", message: `Anthropic API rate limit mid-stream (${detail}).` };
      return { kind: "server", message: `Anthropic API error mid-stream (${type || "unknown"}: ${detail}).` };
    }
    if (status === 401 || status === 403) {
      return {
        kind: "auth",
        message: `Anthropic API refused the credentials (HTTP ${status}: ${detail}). Check ANTHROPIC_API_KEY.`,
      };
    }
    if (status === 400 || status === 404 || status === 413 || status === 422) {
      const overflow = /too long|context|max_tokens.*exceed/i.test(detail);
      return {
        kind: overflow ? "context_overflow" : "bad_request",
        message: `Anthropic API rejected the request (HTTP ${status}: ${detail}).`,
      };
    }
    if (status === 429) return { kind: "rate_limit", message: `Anthropic API rate limit (HTTP 429: ${detail}).` };
    if (status === 529) return { kind: "overloaded", message: `Anthropic API overloaded (HTTP 529: ${detail}).` };
    if (status >= 500) return { kind: "server", message: `Anthropic API server error (HTTP ${status}: ${detail}).` };
    return { kind: "other", message: `Anthropic API error (HTTP ${status}: ${detail}).` };
  }
  const text = err instanceof Error ? err.message : String(err);
  if (/terminated|socket|ECONNRESET|premature|other side closed|fetch failed/i.test(text)) {
    return { kind: "connection", message: `The connection to the Anthropic API dropped mid-response (${text}).` };
  }
  return { kind: "other", message: `Planner failed: ${text}` };
}

function apiErrorDetail(err: InstanceType<typeof Anthropic.APIError>): string {
  const body = err.error as { error?: { message?: string; type?: string } } | undefined;
  return body?.error?.message ?? body?.error?.type ?? err.message;
}

import Anthropic from "@anthropic-ai/sdk";
import type {
  ContentBlockParam,
  MessageCreateParamsNonStreaming,
  MessageParam,
  Tool,
  TextBlockParam,
  StopReason as AnthropicStopReason,
} from "@anthropic-ai/sdk/resources/messages/messages";
import { plannerErrorTurn } from "../conversation.ts";
import type { AssistantTurn, Block, Message, PlannerErrorKind, StopReason } from "../conversation.ts";
import type { Planner, PlannerRequest } from "./planner.ts";
import { callSignal } from "../../tools/client/call-signal.ts";
import { RetryWatch } from "./retry-watch.ts";
import { apiClientOptions, DEFAULT_PLANNER_MAX_TOKENS } from "./api-client-options.ts";
import type { ApiPlannerOptions } from "./api-client-options.ts";

export type AnthropicPlannerOptions = ApiPlannerOptions;

const EPHEMERAL = { type: "ephemeral" } as const;

/** Planner backed by the Anthropic Messages API through the official SDK. */
export class AnthropicPlanner implements Planner {
  readonly id: string;
  private readonly retries = new RetryWatch();
  private readonly client: Anthropic;
  private readonly model: string;
  private readonly maxTokens: number;

  constructor(opts: AnthropicPlannerOptions) {
    this.id = `anthropic:${opts.model}`;
    this.model = opts.model;
    this.maxTokens = opts.maxTokens ?? DEFAULT_PLANNER_MAX_TOKENS;
    this.client = new Anthropic(apiClientOptions(opts, this.retries));
  }

  async next(req: PlannerRequest): Promise<AssistantTurn> {
    return this.retries.attachTo(await this.ask(req));
  }

  private async ask(req: PlannerRequest): Promise<AssistantTurn> {
    const params = buildAnthropicRequest(this.model, this.maxTokens, req);
    const perCall = callSignal(req.signal);
    try {
      // Streamed, so long replies are not cut by the non-streaming time limit; the SDK
      // does not retry errors inside a stream, which the loop's retry covers.
      const msg = await this.client.messages.stream(params, { signal: perCall.signal }).finalMessage();
      if (msg.stop_reason === null) {
        // The stream ended without message_delta: the reply is incomplete, whatever it holds.
        return plannerErrorTurn("connection", "The reply stream from the Anthropic API ended before the message was complete.");
      }
      return {
        content: fromAnthropicContent(msg.content),
        stopReason: mapStopReason(msg.stop_reason),
        usage: {
          inputTokens: msg.usage.input_tokens ?? 0,
          outputTokens: msg.usage.output_tokens ?? 0,
          cacheReadTokens: msg.usage.cache_read_input_tokens ?? 0,
          cacheWriteTokens: msg.usage.cache_creation_input_tokens ?? 0,
        },
        model: msg.model,
      };
    } catch (err) {
      const { kind, message } = describeAnthropicError(err);
      return plannerErrorTurn(kind, message);
    } finally {
      perCall.release();
    }
  }
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
  }
}

function fromAnthropicContent(content: Anthropic.Messages.ContentBlock[]): Block[] {
  const out: Block[] = [];
  for (const b of content) {
    if (b.type === "text") out.push({ type: "text", text: b.text });
    else if (b.type === "tool_use") out.push({ type: "tool_use", id: b.id, name: b.name, input: b.input });
    // Thinking and server-tool blocks are not requested by this harness; drop them.
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

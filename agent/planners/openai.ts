import OpenAI from "openai";
import type { ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources/chat/completions/completions";
import { MALFORMED_ARGS, plannerErrorTurn } from "../core/conversation.ts";
import type { AssistantTurn, Block, Message, PlannerErrorKind, StopReason } from "../core/conversation.ts";
import type { Planner, PlannerRequest, RequestSize } from "../core/planner.ts";
import { byteBoundTokens } from "../spend/planner-estimate.ts";
import { callSignal } from "../tool-hub/call-signal.ts";
import { RetryWatch } from "./retry-watch.ts";
import { apiClientOptions, DEFAULT_PLANNER_MAX_TOKENS } from "./api-client-options.ts";
import type { ApiPlannerOptions } from "./api-client-options.ts";
import { refusedKey, unknownModel } from "./model-check.ts";

import type { ReasoningEffort } from "../config/planner-depth.ts";

export type OpenAIPlannerOptions = ApiPlannerOptions & { reasoningEffort?: ReasoningEffort };

/** Input placed on a tool call whose arguments were not valid JSON; the guard answers it with an error. */

/** Planner over the chat-completions API with tools, through the official `openai` SDK. */
export class OpenAIPlanner implements Planner {
  readonly id: string;
  private readonly retries = new RetryWatch();
  private readonly client: OpenAI;

  constructor(private readonly opts: OpenAIPlannerOptions) {
    this.id = `openai:${opts.model}`;
    this.client = new OpenAI(apiClientOptions(opts, this.retries));
  }

  async next(req: PlannerRequest): Promise<AssistantTurn> {
    return this.retries.attachTo(await this.ask(req));
  }

  /** Checks the model against the server's model list (GET /models); a server without one is said so and the run goes on. */
  async check(signal?: AbortSignal): Promise<string[]> {
    const ids: string[] = [];
    try {
      for await (const m of this.client.models.list({ signal, maxRetries: 1 })) ids.push(m.id);
    } catch (err) {
      if (err instanceof OpenAI.AuthenticationError || err instanceof OpenAI.PermissionDeniedError) throw refusedKey("openai", err.status, "OPENAI_API_KEY");
      return [`planner model: could not check ${this.opts.model} against the server's model list (${describeOpenAIError(err).message}); going on`];
    }
    if (!ids.includes(this.opts.model)) throw unknownModel("openai", this.opts.model, ids);
    return [`planner model: ${this.opts.model} is listed by the server${this.opts.reasoningEffort ? `; reasoning effort ${this.opts.reasoningEffort}` : ""}`];
  }

  /** Chat Completions has no token-counting endpoint: the request's input at one token per byte, its output at max_completion_tokens (reasoning included). */
  async size(req: PlannerRequest): Promise<RequestSize> {
    const body = { messages: toOpenAIMessages(req.system, req.messages), tools: req.tools.map(toOpenAITool) };
    return { inputTokens: byteBoundTokens(body), maxOutputTokens: this.opts.maxTokens ?? DEFAULT_PLANNER_MAX_TOKENS, exact: false };
  }

  private async ask(req: PlannerRequest): Promise<AssistantTurn> {
    const perCall = callSignal(req.signal);
    try {
      const res = await this.client.chat.completions.create(
        {
          model: this.opts.model,
          max_completion_tokens: this.opts.maxTokens ?? DEFAULT_PLANNER_MAX_TOKENS,
          messages: toOpenAIMessages(req.system, req.messages),
          ...(req.tools.length ? { tools: req.tools.map(toOpenAITool) } : {}),
          ...(this.opts.reasoningEffort ? { reasoning_effort: this.opts.reasoningEffort } : {}),
        },
        { signal: perCall.signal },
      );
      const choice = res.choices[0];
      if (!choice) return plannerErrorTurn("other", "The server returned no choices.");
      const content: Block[] = [];
      if (choice.message.content) content.push({ type: "text", text: choice.message.content });
      for (const call of choice.message.tool_calls ?? []) {
        if (call.type !== "function") continue;
        content.push({ type: "tool_use", id: call.id, name: call.function.name, input: parseArguments(call.function.arguments) });
      }
      return {
        content,
        stopReason: mapFinishReason(choice.finish_reason, content),
        // prompt_tokens counts the cached ones too; Usage keeps them apart (they are billed apart).
        usage: {
          inputTokens: Math.max(0, (res.usage?.prompt_tokens ?? 0) - (res.usage?.prompt_tokens_details?.cached_tokens ?? 0)),
          outputTokens: res.usage?.completion_tokens ?? 0,
          cacheReadTokens: res.usage?.prompt_tokens_details?.cached_tokens ?? 0,
          cacheWriteTokens: 0,
        },
        model: res.model,
      };
    } catch (err) {
      const { kind, message } = describeOpenAIError(err);
      return plannerErrorTurn(kind, message);
    } finally {
      perCall.release();
    }
  }
}

function parseArguments(raw: string): unknown {
  if (!raw?.trim()) return {};
  try {
    const v = JSON.parse(raw) as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? v : { [MALFORMED_ARGS]: raw, error: "arguments must be a JSON object" };
  } catch (err) {
    return { [MALFORMED_ARGS]: raw, error: (err as Error).message };
  }
}

function toOpenAITool(t: { name: string; description: string; inputSchema: Record<string, unknown> }): ChatCompletionTool {
  return { type: "function", function: { name: t.name, description: t.description, parameters: t.inputSchema } };
}

/**
 * Provider-neutral messages → chat-completions messages. Tool results become `tool`
 * messages right after the assistant turn that asked for them; any text in the same
 * user message follows as a user message.
 */
export function toOpenAIMessages(system: string, messages: Message[]): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = [{ role: "system", content: system }];
  for (const m of messages) {
    if (m.role === "assistant") {
      const text = m.content
        .filter((b) => b.type === "text")
        .map((b) => (b as { text: string }).text)
        .join("\n");
      const calls = m.content
        .filter((b) => b.type === "tool_use")
        .map((b) => {
          const u = b as { id: string; name: string; input: unknown };
          const input = u.input as Record<string, unknown> | undefined;
          const args = input && typeof input === "object" && MALFORMED_ARGS in input ? String(input[MALFORMED_ARGS]) : JSON.stringify(u.input ?? {});
          return { id: u.id, type: "function" as const, function: { name: u.name, arguments: args } };
        });
      out.push({ role: "assistant", content: text || null, ...(calls.length ? { tool_calls: calls } : {}) });
      continue;
    }
    const texts: string[] = [];
    for (const b of m.content) {
      if (b.type === "tool_result") out.push({ role: "tool", tool_call_id: b.toolUseId, content: b.isError ? `Error: ${b.content}` : b.content });
      else if (b.type === "text") texts.push(b.text);
    }
    if (texts.length) out.push({ role: "user", content: texts.join("\n\n") });
  }
  return out;
}

function mapFinishReason(r: string | null | undefined, content: Block[]): StopReason {
  switch (r) {
    case "tool_calls":
    case "function_call":
      return "tool_use";
    case "length":
      return "max_tokens";
    case "content_filter":
      return "refusal";
    default:
      // Some servers say "stop" even when they return tool calls.
      return content.some((b) => b.type === "tool_use") ? "tool_use" : "end_turn";
  }
}

export function describeOpenAIError(err: unknown): { kind: PlannerErrorKind; message: string } {
  if (err instanceof OpenAI.APIUserAbortError) return { kind: "aborted", message: "planner request aborted" };
  if (err instanceof OpenAI.APIConnectionTimeoutError)
    return { kind: "timeout", message: "The OpenAI-compatible server timed out; the SDK's retries were exhausted." };
  if (err instanceof OpenAI.APIConnectionError)
    return { kind: "connection", message: `Could not reach the OpenAI-compatible server (${err.message}). Check OPENAI_BASE_URL.` };
  if (err instanceof OpenAI.APIError) {
    const status = err.status ?? 0;
    const detail = err.message;
    if (status === 401 || status === 403)
      return { kind: "auth", message: `The OpenAI-compatible server refused the credentials (HTTP ${status}). Check OPENAI_API_KEY.` };
    if (status === 400 || status === 404 || status === 422) {
      return {
        kind: /context|too long|maximum context/i.test(detail) ? "context_overflow" : "bad_request",
        message: `The OpenAI-compatible server rejected the request (HTTP ${status}: ${detail}).`,
      };
    }
    if (status === 429) return { kind: "rate_limit", message: `Rate limited (HTTP 429: ${detail}).` };
    if (status >= 500) return { kind: "server", message: `Server error (HTTP ${status}: ${detail}).` };
    return { kind: "other", message: `OpenAI-compatible API error (HTTP ${status}: ${detail}).` };
  }
  return { kind: "other", message: `Planner failed: ${err instanceof Error ? err.message : String(err)}` };
}

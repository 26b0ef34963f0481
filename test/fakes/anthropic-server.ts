import crypto from "node:crypto";
import type http from "node:http";
import { listenOnLoopback, readBody, type LoopbackServer } from "./loopback.ts";

/** A request as the fake received it. */
export type RecordedRequest = { method: string; path: string; headers: http.IncomingHttpHeaders; body: any };

export type FakeResponse = {
  status?: number;
  headers?: Record<string, string>;
  body: unknown;
  /** Streamed requests: send message_start, then this error event (an overload inside a 200 stream). */
  sseError?: { type: string; message: string };
  /** Streamed requests: cut the connection after the first events. */
  dropMidStream?: boolean;
};
export type FakeStep = FakeResponse | ((req: RecordedRequest, index: number) => FakeResponse);

let counter = 0;

/** A model as the fake's Models API lists it: which thinking types it takes and its output limit. */
export type FakeModel = {
  id: string;
  display_name: string;
  thinking: { enabled: boolean; adaptive: boolean };
  max_tokens: number;
  lifecycle?: "active" | "deprecated" | "retired";
};

const model = (
  id: string,
  display_name: string,
  enabled: boolean,
  adaptive: boolean,
  max_tokens: number,
  lifecycle: FakeModel["lifecycle"] = "active",
): FakeModel => ({ id, display_name, thinking: { enabled, adaptive }, max_tokens, lifecycle });

/**
 * The lineup the fake lists by default: the model ids of @anthropic-ai/sdk 1.14.0's `Model`
 * type, with the thinking each takes as Anthropic's docs give it (extended thinking with a
 * budget up to the 4.6 models, adaptive only from 4.7 on) and the deprecations the SDK
 * warns about.
 */
export const FAKE_ANTHROPIC_MODELS: FakeModel[] = [
  model("claude-fable-5-2", "Claude Fable 5.2", false, true, 128_000),
  model("claude-mythos-5-2", "Claude Mythos 5.2", false, true, 128_000),
  model("claude-haiku-5-5", "Claude Haiku 5.5", false, true, 128_000),
  model("claude-sonnet-5-5", "Claude Sonnet 5.5", false, true, 128_000),
  model("claude-fable-5-1", "Claude Fable 5.1", false, true, 128_000),
  model("claude-opus-5-5", "Claude Opus 5.5", false, true, 128_000),
  model("claude-mythos-5-1", "Claude Mythos 5.1", false, true, 128_000),
  model("claude-sonnet-5", "Claude Sonnet 5", false, true, 128_000),
  model("claude-fable-5", "Claude Fable 5", false, true, 128_000),
  model("claude-mythos-5", "Claude Mythos 5", false, true, 128_000),
  model("claude-opus-5", "Claude Opus 5", false, true, 128_000),
  model("claude-opus-4-8", "Claude Opus 4.8", false, true, 128_000),
  model("claude-opus-4-7", "Claude Opus 4.7", false, true, 128_000),
  model("claude-opus-4-6", "Claude Opus 4.6", true, true, 128_000),
  model("claude-sonnet-4-6", "Claude Sonnet 4.6", true, true, 64_000),
  model("claude-haiku-4-5-20251001", "Claude Haiku 4.5", true, false, 64_000),
  model("claude-opus-4-5-20251101", "Claude Opus 4.5", true, false, 64_000, "deprecated"),
  model("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", true, false, 64_000, "deprecated"),
];

/** Aliases the fake's Models API resolves on GET /v1/models/{id}, as the real one does. */
const ALIASES: Record<string, string> = {
  "claude-haiku-4-5": "claude-haiku-4-5-20251001",
  "claude-opus-4-5": "claude-opus-4-5-20251101",
  "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
};

/** The key the fake signs thinking with; a test never knows it, so it cannot forge a signature. */
const SIGNING_KEY = crypto.randomBytes(32);
const sign = (kind: string, text: string) => crypto.createHmac("sha256", SIGNING_KEY).update(`${kind}\0${text}`).digest("base64");

/**
 * A loopback stand-in for the Anthropic API: the Messages API (POST /v1/messages) answers
 * from a script, one step per request, and records every request so tests can assert on
 * exactly what the harness sent (when the script runs out it answers 500); the Models API
 * (GET /v1/models, GET /v1/models/{id}) lists `models`, off the script. Like the real API
 * it signs the thinking blocks it returns and answers 400 to a request whose thinking
 * blocks were altered or dropped, and to extended thinking on a model that only thinks
 * adaptively.
 */
export class FakeAnthropic {
  /** Requests to the Messages API (and any other path but the Models API). */
  readonly requests: RecordedRequest[] = [];
  /** Requests to the Models API. */
  readonly modelRequests: RecordedRequest[] = [];
  /** Requests to the token-counting endpoint (POST /v1/messages/count_tokens), off the script. */
  readonly countRequests: RecordedRequest[] = [];
  /** Thinking blocks returned with each tool_use id: a message with that call must bring them back, unaltered, first. */
  private readonly thinkingFor = new Map<string, Array<Record<string, unknown>>>();
  private constructor(
    private readonly server: LoopbackServer,
    private readonly script: FakeStep[],
    readonly models: FakeModel[],
    private readonly countTokens: (body: unknown) => number,
  ) {}

  /**
   * `countTokens` is the fake's tokenizer for POST /v1/messages/count_tokens (by default one
   * token per 4 bytes of the request body); scripted replies report their own usage.
   */
  static async start(script: FakeStep[], opts: { models?: FakeModel[]; countTokens?: (body: unknown) => number } = {}): Promise<FakeAnthropic> {
    let fake!: FakeAnthropic;
    const server = await listenOnLoopback(async (req, res) => fake.handle(req, await readBody(req), res));
    const perFourBytes = (body: unknown) => Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 4);
    fake = new FakeAnthropic(server, script, opts.models ?? FAKE_ANTHROPIC_MODELS, opts.countTokens ?? perFourBytes);
    return fake;
  }

  get url(): string {
    return this.server.origin;
  }

  /** Requests that reached /v1/messages, in order. */
  get messageRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.path.endsWith("/v1/messages"));
  }

  private handle(req: http.IncomingMessage, raw: string, res: http.ServerResponse): void {
    let body: unknown = raw;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      // keep the raw text
    }
    const rec: RecordedRequest = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body };
    if (req.method === "GET" && /^\/v1\/models(\/|\?|$)/.test(rec.path)) {
      this.modelRequests.push(rec);
      const r = this.modelsAnswer(rec.path);
      res.writeHead(r.status ?? 200, { "content-type": "application/json" });
      res.end(JSON.stringify(r.body));
      return;
    }
    if (req.method === "POST" && rec.path.split("?")[0] === "/v1/messages/count_tokens") {
      this.countRequests.push(rec);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ input_tokens: this.countTokens(body) }));
      return;
    }
    this.requests.push(rec);
    const index = this.requests.length - 1;
    const refused = this.refusal(body);
    const step = this.script[index];
    const reply: FakeResponse = refused
      ? refused
      : !step
        ? errorResponse(500, "api_error", `fake script exhausted at request ${index + 1}`)
        : typeof step === "function"
          ? step(rec, index)
          : step;
    if ((reply.status ?? 200) === 200) this.signThinking(reply);
    const streamed = typeof body === "object" && body !== null && (body as { stream?: boolean }).stream === true;
    if (streamed && (reply.status ?? 200) === 200) return this.stream(res, reply);
    res.writeHead(reply.status ?? 200, { "content-type": "application/json", ...(reply.headers ?? {}) });
    res.end(JSON.stringify(reply.body));
  }

  /** GET /v1/models (one page) and GET /v1/models/{id} (aliases resolved). */
  private modelsAnswer(p: string): { status?: number; body: unknown } {
    const info = (m: FakeModel) => ({
      type: "model",
      id: m.id,
      display_name: m.display_name,
      created_at: "2026-06-30T00:00:00Z",
      lifecycle: m.lifecycle ?? "active",
      deprecated_at: null,
      retires_at: null,
      line: null,
      max_input_tokens: 1_000_000,
      max_tokens: m.max_tokens,
      capabilities: {
        thinking: {
          supported: m.thinking.enabled || m.thinking.adaptive,
          types: {
            enabled: { supported: m.thinking.enabled },
            adaptive: { supported: m.thinking.adaptive },
            disabled: { supported: true },
            between_tools: { supported: false },
          },
        },
      },
    });
    const id = /^\/v1\/models\/([^?]+)/.exec(p)?.[1];
    if (id !== undefined) {
      const m = this.models.find((x) => x.id === decodeURIComponent(id) || x.id === ALIASES[decodeURIComponent(id)]);
      return m ? { body: info(m) } : { status: 404, body: { type: "error", error: { type: "not_found_error", message: `model: ${decodeURIComponent(id)}` } } };
    }
    return { body: { data: this.models.map(info), has_more: false, first_id: this.models[0]?.id ?? null, last_id: this.models.at(-1)?.id ?? null } };
  }

  /**
   * What the real API refuses before answering: a thinking block whose signature does not
   * match its text, an assistant message that lost or reordered the thinking returned with
   * its calls, and extended thinking (a budget) on a model that only thinks adaptively.
   */
  private refusal(body: unknown): FakeResponse | undefined {
    const b = body as { model?: string; thinking?: { type?: string }; messages?: Array<{ role: string; content: unknown }> } | undefined;
    const m = this.models.find((x) => x.id === b?.model || x.id === ALIASES[b?.model ?? ""]);
    if (b?.thinking?.type === "enabled" && m && !m.thinking.enabled)
      return errorResponse(
        400,
        "invalid_request_error",
        `"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.`,
      );
    if (b?.thinking?.type === "adaptive" && m && !m.thinking.adaptive)
      return errorResponse(400, "invalid_request_error", `"thinking.type.adaptive" is not supported for this model.`);
    for (const [i, msg] of (b?.messages ?? []).entries()) {
      if (msg.role !== "assistant" || !Array.isArray(msg.content)) continue;
      const blocks = msg.content as Array<Record<string, unknown>>;
      for (const block of blocks) {
        if (block.type === "thinking" && (typeof block.signature !== "string" || block.signature !== sign("thinking", String(block.thinking)))) {
          return errorResponse(400, "invalid_request_error", `messages.${i}.content: Invalid \`signature\` in \`thinking\` block`);
        }
        if (block.type === "redacted_thinking" && (typeof block.data !== "string" || !this.redacted.has(block.data))) {
          return errorResponse(400, "invalid_request_error", `messages.${i}.content: Invalid \`data\` in \`redacted_thinking\` block`);
        }
      }
      for (const use of blocks.filter((x) => x.type === "tool_use")) {
        const expected = this.thinkingFor.get(String(use.id));
        if (!expected) continue;
        const sent = blocks.slice(0, expected.length);
        if (JSON.stringify(sent.map(stripCache)) !== JSON.stringify(expected)) {
          return errorResponse(
            400,
            "invalid_request_error",
            `messages.${i}.content: the thinking blocks returned with this assistant turn must be passed back unmodified, in order, before its other blocks`,
          );
        }
      }
    }
    return undefined;
  }

  private readonly redacted = new Set<string>();

  /** Signs the thinking blocks of a scripted reply (as the API does) and remembers them with the reply's tool calls. */
  private signThinking(reply: FakeResponse): void {
    const msg = reply.body as { content?: Array<Record<string, unknown>> } | undefined;
    if (!msg || !Array.isArray(msg.content)) return;
    const thinking: Array<Record<string, unknown>> = [];
    for (const block of msg.content) {
      if (block.type === "thinking") {
        block.signature = sign("thinking", String(block.thinking));
        thinking.push({ type: "thinking", thinking: block.thinking, signature: block.signature });
      } else if (block.type === "redacted_thinking") {
        this.redacted.add(String(block.data));
        thinking.push({ type: "redacted_thinking", data: block.data });
      }
    }
    if (thinking.length === 0) return;
    for (const block of msg.content) if (block.type === "tool_use") this.thinkingFor.set(String(block.id), thinking);
  }

  /** Writes a Messages API reply as server-sent events, the way the streaming API does. */
  private stream(res: http.ServerResponse, reply: FakeResponse): void {
    const msg = reply.body as { id: string; model: string; content: Array<Record<string, unknown>>; stop_reason: string; usage: Record<string, number> };
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    send("message_start", { type: "message_start", message: { ...msg, content: [], stop_reason: null, usage: { ...msg.usage, output_tokens: 1 } } });
    if (reply.sseError) {
      send("error", { type: "error", error: reply.sseError });
      res.end();
      return;
    }
    if (reply.dropMidStream) {
      send("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
      res.socket?.destroy();
      return;
    }
    msg.content.forEach((block, index) => {
      if (block.type === "thinking") {
        send("content_block_start", { type: "content_block_start", index, content_block: { type: "thinking", thinking: "", signature: "" } });
        send("content_block_delta", { type: "content_block_delta", index, delta: { type: "thinking_delta", thinking: block.thinking } });
        send("content_block_delta", { type: "content_block_delta", index, delta: { type: "signature_delta", signature: block.signature } });
      } else if (block.type === "redacted_thinking") {
        send("content_block_start", { type: "content_block_start", index, content_block: { type: "redacted_thinking", data: block.data } });
      } else if (block.type === "text") {
        send("content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "" } });
        send("content_block_delta", { type: "content_block_delta", index, delta: { type: "text_delta", text: block.text } });
      } else {
        send("content_block_start", { type: "content_block_start", index, content_block: { ...block, input: {} } });
        const json = JSON.stringify(block.input ?? {});
        const mid = Math.floor(json.length / 2);
        for (const part of [json.slice(0, mid), json.slice(mid)])
          send("content_block_delta", { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: part } });
      }
      send("content_block_stop", { type: "content_block_stop", index });
    });
    send("message_delta", {
      type: "message_delta",
      delta: { stop_reason: msg.stop_reason, stop_sequence: null },
      usage: { output_tokens: msg.usage.output_tokens },
    });
    send("message_stop", { type: "message_stop" });
    res.end();
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

type Call = { name: string; input: unknown; id?: string };

/** A block as it came in, without the cache breakpoint a client may put on it. */
function stripCache(block: Record<string, unknown>): Record<string, unknown> {
  const { cache_control: _c, ...rest } = block;
  return rest;
}

export function message(content: unknown[], stopReason: string, usage?: Partial<Record<string, number>>): FakeResponse {
  return {
    body: {
      id: `msg_fake_${++counter}`,
      type: "message",
      role: "assistant",
      model: "claude-fake",
      content,
      stop_reason: stopReason,
      stop_sequence: null,
      usage: {
        input_tokens: 100,
        output_tokens: 20,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        ...usage,
      },
    },
  };
}

/** An assistant turn that calls tools. */
export function toolUseReply(calls: Call[], text = "Calling tools."): FakeResponse {
  return message(
    [...(text ? [{ type: "text", text }] : []), ...calls.map((c) => ({ type: "tool_use", id: c.id ?? `toolu_${++counter}`, name: c.name, input: c.input }))],
    "tool_use",
  );
}

/**
 * An assistant turn that thinks (signed by the fake when it is sent), maybe with thinking
 * the fake returns encrypted, then calls tools.
 */
export function thinkingToolUseReply(thinking: string, calls: Call[], opts: { redacted?: boolean; text?: string } = {}): FakeResponse {
  return message(
    [
      { type: "thinking", thinking },
      ...(opts.redacted ? [{ type: "redacted_thinking", data: `EncryptedThinking${crypto.randomBytes(12).toString("base64")}` }] : []),
      ...(opts.text ? [{ type: "text", text: opts.text }] : []),
      ...calls.map((c) => ({ type: "tool_use", id: c.id ?? `toolu_${++counter}`, name: c.name, input: c.input })),
    ],
    "tool_use",
  );
}

export function textReply(text: string, stopReason = "end_turn"): FakeResponse {
  return message([{ type: "text", text }], stopReason);
}

/** A turn cut off by max_tokens, with a trailing (possibly incomplete) tool call. */
export function maxTokensReply(call: Call): FakeResponse {
  return message(
    [
      { type: "text", text: "A long explanation that ran out of room" },
      { type: "tool_use", id: call.id ?? `toolu_${++counter}`, name: call.name, input: call.input },
    ],
    "max_tokens",
  );
}

export function errorResponse(status: number, type: string, msg: string, headers?: Record<string, string>): FakeResponse {
  return { status, ...(headers ? { headers } : {}), body: { type: "error", error: { type, message: msg } } };
}

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

/**
 * A loopback stand-in for the Anthropic Messages API (POST /v1/messages). It answers
 * from a script, one step per request, and records every request so tests can
 * assert on exactly what the harness sent. When the script runs out it answers 500.
 */
export class FakeAnthropic {
  readonly requests: RecordedRequest[] = [];
  private constructor(
    private readonly server: LoopbackServer,
    private readonly script: FakeStep[],
  ) {}

  static async start(script: FakeStep[]): Promise<FakeAnthropic> {
    let fake!: FakeAnthropic;
    const server = await listenOnLoopback(async (req, res) => fake.handle(req, await readBody(req), res));
    fake = new FakeAnthropic(server, script);
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
    this.requests.push(rec);
    const index = this.requests.length - 1;
    const step = this.script[index];
    const reply: FakeResponse = !step
      ? errorResponse(500, "api_error", `fake script exhausted at request ${index + 1}`)
      : typeof step === "function"
        ? step(rec, index)
        : step;
    const streamed = typeof body === "object" && body !== null && (body as { stream?: boolean }).stream === true;
    if (streamed && (reply.status ?? 200) === 200) return this.stream(res, reply);
    res.writeHead(reply.status ?? 200, { "content-type": "application/json", ...(reply.headers ?? {}) });
    res.end(JSON.stringify(reply.body));
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
      if (block.type === "text") {
        send("content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "" } });
        send("content_block_delta", { type: "content_block_delta", index, delta: { type: "text_delta", text: block.text } });
      } else {
        send("content_block_start", { type: "content_block_start", index, content_block: { ...block, input: {} } });
        const json = JSON.stringify(block.input ?? {});
        const mid = Math.floor(json.length / 2);
        for (const part of [json.slice(0, mid), json.slice(mid)]) send("content_block_delta", { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: part } });
      }
      send("content_block_stop", { type: "content_block_stop", index });
    });
    send("message_delta", { type: "message_delta", delta: { stop_reason: msg.stop_reason, stop_sequence: null }, usage: { output_tokens: msg.usage.output_tokens } });
    send("message_stop", { type: "message_stop" });
    res.end();
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

type Call = { name: string; input: unknown; id?: string };

function message(content: unknown[], stopReason: string, usage?: Partial<Record<string, number>>): FakeResponse {
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
    [
      ...(text ? [{ type: "text", text }] : []),
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

import http from "node:http";
import type { AddressInfo } from "node:net";

/** A request as the fake received it. */
export type RecordedRequest = { method: string; path: string; headers: http.IncomingHttpHeaders; body: any };

export type FakeResponse = { status?: number; headers?: Record<string, string>; body: unknown };
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
    private readonly server: http.Server,
    private readonly script: FakeStep[],
  ) {}

  static async start(script: FakeStep[]): Promise<FakeAnthropic> {
    let fake!: FakeAnthropic;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => fake.handle(req, Buffer.concat(chunks).toString("utf8"), res));
    });
    fake = new FakeAnthropic(server, script);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
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
    res.writeHead(reply.status ?? 200, { "content-type": "application/json", ...(reply.headers ?? {}) });
    res.end(JSON.stringify(reply.body));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
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

import type http from "node:http";
import { listenOnLoopback, readBody, type LoopbackServer } from "./loopback.ts";

/** A request to the fake as it arrived. */
export type ResponsesRequest = { method: string; path: string; headers: http.IncomingHttpHeaders; body: any };

/** One output item of a reply: a function call, or an assistant message. */
export type ResponsesItem = { type: "function_call"; name: string; namespace?: string; arguments: unknown } | { type: "message"; text: string };

/** Decides the reply to a request (the conversation so far is in `req.body.input`). */
export type ResponsesBrain = (req: ResponsesRequest) => ResponsesItem[];

let counter = 0;

/**
 * A loopback fake of the OpenAI Responses API (`POST /v1/responses`, streamed as server-sent
 * events: response.created, response.output_item.added/done per item, response.completed), the
 * wire format Codex CLI speaks to a model provider with `wire_api = "responses"`. Every request
 * is recorded; `brain` picks the reply from what the request carries.
 */
export class FakeResponses {
  readonly requests: ResponsesRequest[] = [];
  private constructor(
    private readonly server: LoopbackServer,
    private readonly brain: ResponsesBrain,
  ) {}

  static async start(brain: ResponsesBrain): Promise<FakeResponses> {
    let fake!: FakeResponses;
    const server = await listenOnLoopback(async (req, res) => fake.handle(req, await readBody(req), res));
    fake = new FakeResponses(server, brain);
    return fake;
  }

  /** The base URL a client is given (`…/v1`). */
  get url(): string {
    return `${this.server.origin}/v1`;
  }

  private handle(req: http.IncomingMessage, raw: string, res: http.ServerResponse): void {
    let body: any = raw;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      // keep the raw text
    }
    const rec: ResponsesRequest = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body };
    this.requests.push(rec);
    if (req.method === "GET" && /\/models/.test(rec.path)) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [], models: [] }));
      return;
    }
    if (req.method !== "POST" || !/\/responses$/.test(rec.path.split("?")[0]!)) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: `the fake serves POST /v1/responses, not ${req.method} ${rec.path}`, type: "invalid_request_error" } }));
      return;
    }
    const id = `resp_fake_${++counter}`;
    const items = this.brain(rec).map((it, i) =>
      it.type === "function_call"
        ? {
            type: "function_call",
            id: `fc_${counter}_${i}`,
            call_id: `call_${counter}_${i}`,
            name: it.name,
            ...(it.namespace ? { namespace: it.namespace } : {}),
            arguments: typeof it.arguments === "string" ? it.arguments : JSON.stringify(it.arguments),
            status: "completed",
          }
        : {
            type: "message",
            id: `msg_${counter}_${i}`,
            role: "assistant",
            status: "completed",
            content: [{ type: "output_text", text: it.text, annotations: [] }],
          },
    );
    const response = (status: string, output: unknown[]) => ({
      id,
      object: "response",
      created_at: Math.floor(Date.now() / 1000),
      status,
      model: body?.model ?? "fake",
      output,
      usage: {
        input_tokens: 100,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: 20,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 120,
      },
    });
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    let seq = 0;
    const send = (type: string, data: Record<string, unknown>) =>
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`);
    send("response.created", { response: response("in_progress", []) });
    items.forEach((item, output_index) => {
      send("response.output_item.added", { output_index, item });
      send("response.output_item.done", { output_index, item });
    });
    send("response.completed", { response: response("completed", items) });
    res.end();
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

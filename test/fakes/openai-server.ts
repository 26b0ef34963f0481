import http from "node:http";
import type { AddressInfo } from "node:net";

export type OpenAIStep = { status?: number; body: unknown } | ((req: any, index: number) => { status?: number; body: unknown });

let counter = 0;

/**
 * A loopback stand-in for an OpenAI-compatible chat-completions server
 * (POST /v1/chat/completions), answering from a script and recording requests.
 */
export class FakeOpenAI {
  readonly requests: any[] = [];
  private constructor(
    private readonly server: http.Server,
    private readonly script: OpenAIStep[],
  ) {}

  static async start(script: OpenAIStep[]): Promise<FakeOpenAI> {
    let fake!: FakeOpenAI;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
        fake.requests.push({ path: req.url, headers: req.headers, body });
        const i = fake.requests.length - 1;
        const step = fake.script[i];
        const r = !step ? { status: 500, body: { error: { message: "fake script exhausted", type: "server_error" } } } : typeof step === "function" ? step(body, i) : step;
        res.writeHead(r.status ?? 200, { "content-type": "application/json" });
        res.end(JSON.stringify(r.body));
      });
    });
    fake = new FakeOpenAI(server, script);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return fake;
  }

  /** The base URL the SDK takes (with /v1). */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

export function chatToolCalls(calls: Array<{ name: string; args: unknown | string; id?: string }>, text: string | null = null): OpenAIStep {
  return {
    body: {
      id: `chatcmpl-${++counter}`,
      object: "chat.completion",
      created: 1_760_000_000,
      model: "fake-model",
      choices: [
        {
          index: 0,
          finish_reason: "tool_calls",
          message: {
            role: "assistant",
            content: text,
            tool_calls: calls.map((c) => ({ id: c.id ?? `call_${++counter}`, type: "function", function: { name: c.name, arguments: typeof c.args === "string" ? c.args : JSON.stringify(c.args) } })),
          },
        },
      ],
      usage: { prompt_tokens: 50, completion_tokens: 10, total_tokens: 60, prompt_tokens_details: { cached_tokens: 20 } },
    },
  };
}

export function chatText(text: string, finish = "stop"): OpenAIStep {
  return {
    body: {
      id: `chatcmpl-${++counter}`,
      object: "chat.completion",
      created: 1_760_000_000,
      model: "fake-model",
      choices: [{ index: 0, finish_reason: finish, message: { role: "assistant", content: text } }],
      usage: { prompt_tokens: 50, completion_tokens: 10, total_tokens: 60 },
    },
  };
}

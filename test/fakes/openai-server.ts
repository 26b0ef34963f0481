import { listenOnLoopback, readBody, type LoopbackServer } from "./loopback.ts";

export type OpenAIStep = { status?: number; body: unknown } | ((req: any, index: number) => { status?: number; body: unknown });

let counter = 0;

/** The reasoning efforts the chat-completions API takes (openai@6's ReasoningEffort). */
const EFFORTS = new Set(["none", "minimal", "low", "medium", "high", "xhigh", "max"]);

/**
 * A loopback stand-in for an OpenAI-compatible chat-completions server
 * (POST /v1/chat/completions), answering from a script and recording requests; it lists
 * `models` on GET /v1/models (off the script, recorded apart) and answers 400 to a
 * reasoning_effort the API does not know.
 */
export class FakeOpenAI {
  readonly requests: any[] = [];
  readonly modelRequests: any[] = [];
  private constructor(
    private readonly server: LoopbackServer,
    private readonly script: OpenAIStep[],
    readonly models: string[],
  ) {}

  static async start(script: OpenAIStep[], opts: { models?: string[] } = {}): Promise<FakeOpenAI> {
    let fake!: FakeOpenAI;
    const server = await listenOnLoopback(async (req, res) => {
      const raw = await readBody(req);
      if (req.method === "GET" && /^\/v1\/models(\?|$)/.test(req.url ?? "")) {
        fake.modelRequests.push({ path: req.url, headers: req.headers });
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ object: "list", data: fake.models.map((id) => ({ id, object: "model", created: 1_760_000_000, owned_by: "fake" })) }));
        return;
      }
      const body = JSON.parse(raw || "{}");
      fake.requests.push({ path: req.url, headers: req.headers, body });
      const i = fake.requests.length - 1;
      const step = fake.script[i];
      const r =
        body.reasoning_effort !== undefined && !EFFORTS.has(body.reasoning_effort)
          ? {
              status: 400,
              body: {
                error: {
                  message: `Invalid value for 'reasoning_effort': ${JSON.stringify(body.reasoning_effort)}`,
                  type: "invalid_request_error",
                  param: "reasoning_effort",
                },
              },
            }
          : !step
            ? { status: 500, body: { error: { message: "fake script exhausted", type: "server_error" } } }
            : typeof step === "function"
              ? step(body, i)
              : step;
      res.writeHead(r.status ?? 200, { "content-type": "application/json" });
      res.end(JSON.stringify(r.body));
    });
    fake = new FakeOpenAI(server, script, opts.models ?? ["fake-model"]);
    return fake;
  }

  /** The base URL the SDK takes (with /v1). */
  get url(): string {
    return `${this.server.origin}/v1`;
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

/** A chat.completion reply with one choice. */
function completion(finishReason: string, message: Record<string, unknown>, usage: Record<string, unknown> = {}): OpenAIStep {
  return {
    body: {
      id: `chatcmpl-${++counter}`,
      object: "chat.completion",
      created: 1_760_000_000,
      model: "fake-model",
      choices: [{ index: 0, finish_reason: finishReason, message: { role: "assistant", ...message } }],
      usage: { prompt_tokens: 50, completion_tokens: 10, total_tokens: 60, ...usage },
    },
  };
}

export function chatToolCalls(calls: Array<{ name: string; args: unknown | string; id?: string }>, text: string | null = null): OpenAIStep {
  return completion(
    "tool_calls",
    {
      content: text,
      tool_calls: calls.map((c) => ({
        id: c.id ?? `call_${++counter}`,
        type: "function",
        function: { name: c.name, arguments: typeof c.args === "string" ? c.args : JSON.stringify(c.args) },
      })),
    },
    { prompt_tokens_details: { cached_tokens: 20 } },
  );
}

export function chatText(text: string, finish = "stop"): OpenAIStep {
  return completion(finish, { content: text });
}

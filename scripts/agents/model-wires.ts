import type { RecordedRequest } from "../../test/fakes/anthropic-server.ts";
import type { ResponsesRequest } from "../../test/fakes/openai-responses-server.ts";

/**
 * The fake model behind both clients: a script of gateway calls, and how each client's wire
 * format (Anthropic Messages for Claude Code, OpenAI Responses for Codex) shows the main loop,
 * the tool results the model read and the whole request.
 */

/** One call the scripted model makes. */
export type Call = { tool: string; args: Record<string, unknown> };

export type Wire<Req> = {
  isMainLoop(req: Req): boolean;
  toolResults(req: Req): string[];
  whole(req: Req): string;
};

/** The fake model: the next call of the script, by how many results the conversation holds; what each result read. */
export class Brain {
  readonly seen: string[] = [];
  /** The first request of the main loop, as sent (the instructions are in it). */
  requestsText = "";
  constructor(readonly script: Call[]) {}
  next<Req>(wire: Wire<Req>, req: Req): Call | undefined {
    if (!wire.isMainLoop(req)) return undefined;
    const results = wire.toolResults(req);
    for (const [i, r] of results.entries()) this.seen[i] = r;
    this.requestsText ||= wire.whole(req);
    return this.script[results.length];
  }
}

// ── Claude Code: the Anthropic Messages API ──
export const SERVER = "tinkerloop";
export const claudeWire: Wire<RecordedRequest> = {
  isMainLoop: (req) => ((req.body?.tools ?? []) as Array<{ name: string }>).some((t) => t.name.startsWith(`mcp__${SERVER}__`)),
  toolResults: (req) =>
    ((req.body?.messages ?? []) as Array<{ role: string; content: unknown }>)
      .filter((m) => m.role === "user" && Array.isArray(m.content))
      .flatMap((m) => (m.content as Array<{ type: string; content?: unknown }>).filter((b) => b.type === "tool_result"))
      .map((b) => (typeof b.content === "string" ? b.content : ((b.content ?? []) as Array<{ text?: string }>).map((c) => c.text ?? "").join("\n"))),
  whole: (req) => JSON.stringify(req.body),
};

// ── Codex: the OpenAI Responses API ──
export const codexWire: Wire<ResponsesRequest> = {
  isMainLoop: (req) => ((req.body?.tools ?? []) as Array<{ name?: string }>).some((t) => t.name === `mcp__${SERVER}`),
  toolResults: (req) =>
    ((req.body?.input ?? []) as Array<{ type: string; output?: unknown }>)
      .filter((i) => i.type === "function_call_output")
      .map((i) => (typeof i.output === "string" ? i.output : ((i.output ?? []) as Array<{ text?: string }>).map((c) => c.text ?? "").join("\n"))),
  whole: (req) => JSON.stringify(req.body),
};

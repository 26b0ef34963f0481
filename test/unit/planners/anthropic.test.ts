import { afterEach, describe, expect, it } from "vitest";
import type { Message } from "../../../agent/core/conversation.ts";
import type { ToolSpec } from "../../../agent/core/tools.ts";
import { AnthropicPlanner } from "../../../agent/planners/anthropic.ts";
import { errorResponse, FakeAnthropic, textReply, toolUseReply } from "../../fakes/anthropic-server.ts";

let fake: FakeAnthropic | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const tools: ToolSpec[] = [
  { name: "echo", description: "echo", inputSchema: { type: "object", properties: { text: { type: "string" } } }, source: "s" },
  { name: "finish", description: "finish", inputSchema: { type: "object" }, source: "s" },
];
const signal = new AbortController().signal;

function planner(maxRetries = 2) {
  return new AnthropicPlanner({ model: "claude-test", apiKey: "sk-ant-test-key-123456", baseURL: fake!.url, maxRetries });
}

describe("Anthropic planner (real SDK against a loopback fake)", () => {
  it("sends system, tools and messages with cache breakpoints and maps the reply", async () => {
    fake = await FakeAnthropic.start([toolUseReply([{ name: "echo", input: { text: "hi" }, id: "toolu_A" }], "Let me echo.")]);
    const messages: Message[] = [
      { role: "user", content: [{ type: "text", text: "go" }] },
      { role: "assistant", content: [{ type: "tool_use", id: "toolu_0", name: "echo", input: { text: "a" } }] },
      {
        role: "user",
        content: [
          { type: "tool_result", toolUseId: "toolu_0", content: "failed", isError: true },
          { type: "text", text: "feedback" },
        ],
      },
    ];
    const turn = await planner().next({ system: "SYSTEM PROMPT", messages, tools, signal });
    expect(turn.stopReason).toBe("tool_use");
    expect(turn.content).toEqual([
      { type: "text", text: "Let me echo." },
      { type: "tool_use", id: "toolu_A", name: "echo", input: { text: "hi" } },
    ]);
    expect(turn.usage).toEqual({ inputTokens: 100, outputTokens: 20, cacheReadTokens: 0, cacheWriteTokens: 0 });

    const req = fake.messageRequests[0]!;
    expect(req.headers.authorization).toBe("Bearer sk-ant-test-key-123456");
    const body = req.body;
    expect(body.model).toBe("claude-test");
    expect(body.system).toEqual([{ type: "text", text: "SYSTEM PROMPT", cache_control: { type: "ephemeral" } }]);
    expect(body.tools.map((t: any) => t.cache_control)).toEqual([undefined, { type: "ephemeral" }]);
    expect(body.messages[1].content[0]).toEqual({ type: "tool_use", id: "toolu_0", name: "echo", input: { text: "a" } });
    const lastUser = body.messages[2].content;
    expect(lastUser[0]).toEqual({ type: "tool_result", tool_use_id: "toolu_0", content: "failed", is_error: true });
    expect(lastUser[1]).toEqual({ type: "text", text: "feedback", cache_control: { type: "ephemeral" } });
    // Only the newest user message carries a breakpoint.
    expect(body.messages[0].content[0].cache_control).toBeUndefined();
  });

  it("rides out an overloaded 529 through the SDK's own retry", async () => {
    fake = await FakeAnthropic.start([errorResponse(529, "overloaded_error", "Overloaded", { "retry-after-ms": "20" }), textReply("ok")]);
    const turn = await planner().next({ system: "S", messages: [{ role: "user", content: [{ type: "text", text: "go" }] }], tools, signal });
    expect(turn.stopReason).toBe("end_turn");
    expect(fake.messageRequests).toHaveLength(2);
    expect(fake.messageRequests[1]!.headers["x-stainless-retry-count"]).toBe("1");
  });

  it("returns errors as turns, classified, instead of throwing", async () => {
    fake = await FakeAnthropic.start([
      errorResponse(401, "authentication_error", "invalid x-api-key"),
      errorResponse(400, "invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum"),
    ]);
    const p = planner(0);
    const req = { system: "S", messages: [{ role: "user" as const, content: [{ type: "text" as const, text: "go" }] }], tools, signal };
    const auth = await p.next(req);
    expect(auth).toMatchObject({ stopReason: "error", errorKind: "auth" });
    expect(auth.error).toMatch(/ANTHROPIC_API_KEY/);
    expect(auth.error).not.toContain("sk-ant-test-key");
    expect(await p.next(req)).toMatchObject({ stopReason: "error", errorKind: "context_overflow" });
  });

  it("maps max_tokens, refusal and pause_turn stop reasons", async () => {
    fake = await FakeAnthropic.start([textReply("cut", "max_tokens"), textReply("no", "refusal"), textReply("hm", "pause_turn")]);
    const p = planner(0);
    const req = { system: "S", messages: [{ role: "user" as const, content: [{ type: "text" as const, text: "go" }] }], tools, signal };
    expect((await p.next(req)).stopReason).toBe("max_tokens");
    expect((await p.next(req)).stopReason).toBe("refusal");
    expect((await p.next(req)).stopReason).toBe("pause_turn");
  });
});

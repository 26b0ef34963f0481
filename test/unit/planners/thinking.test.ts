import { afterEach, describe, expect, it } from "vitest";
import type { Message } from "../../../agent/core/conversation.ts";
import { compactMessages, compactToFit } from "../../../agent/core/compaction.ts";
import { AnthropicPlanner, INTERLEAVED_THINKING_BETA } from "../../../agent/planners/anthropic.ts";
import { DEFAULT_ANTHROPIC_MODEL } from "../../../agent/planners/index.ts";
import type { ToolSpec } from "../../../agent/core/tools.ts";
import { FAKE_ANTHROPIC_MODELS, FakeAnthropic, textReply, thinkingToolUseReply } from "../../fakes/anthropic-server.ts";

let fake: FakeAnthropic | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const tools: ToolSpec[] = [{ name: "echo", description: "echo", inputSchema: { type: "object", properties: { text: { type: "string" } } }, source: "s" }];
const signal = new AbortController().signal;
const KEY = "sk-ant-depth-000000";

function planner(model: string, thinkingBudget?: number) {
  return new AnthropicPlanner({ model, apiKey: KEY, baseURL: fake!.url, maxRetries: 0, ...(thinkingBudget ? { thinkingBudget } : {}) });
}

/** The conversation after one thinking turn and its tool result. */
function afterThinking(reply: { content: Message["content"] }): Message[] {
  return [
    { role: "user", content: [{ type: "text", text: "go" }] },
    { role: "assistant", content: reply.content },
    { role: "user", content: [{ type: "tool_result", toolUseId: "toolu_T1", content: "echoed" }] },
  ];
}

describe("extended thinking with the Anthropic planner (real SDK against the fake)", () => {
  it("thinks between tool calls: the budget and the interleaved-thinking beta are sent, and signed thinking blocks go back exactly as returned", async () => {
    fake = await FakeAnthropic.start([
      thinkingToolUseReply("Let me echo first, then look at the result.", [{ name: "echo", input: { text: "a" }, id: "toolu_T1" }], { redacted: true }),
      textReply("done"),
    ]);
    const p = planner("claude-sonnet-4-6", 4096);
    const lines = await p.check(signal);
    expect(lines.join("\n")).toMatch(/thinking: extended thinking, 4096 tokens a turn, interleaved with tool calls \(max_tokens 12288\)/);
    const first = await p.next({ system: "S", messages: [{ role: "user", content: [{ type: "text", text: "go" }] }], tools, signal });
    expect(first.content.map((b) => b.type)).toEqual(["thinking", "redacted_thinking", "tool_use"]);
    const thinking = first.content[0] as { thinking: string; signature: string };
    expect(thinking.thinking).toBe("Let me echo first, then look at the result.");
    expect(thinking.signature.length).toBeGreaterThan(20);
    const req = fake.messageRequests[0]!;
    expect(req.body.thinking).toEqual({ type: "enabled", budget_tokens: 4096 });
    expect(req.body.max_tokens).toBe(12288);
    expect(req.headers["anthropic-beta"]).toContain(INTERLEAVED_THINKING_BETA);

    const second = await p.next({ system: "S", messages: afterThinking(first), tools, signal });
    expect(second.stopReason).toBe("end_turn");
    // The assistant turn went back block for block: thinking with its signature, the encrypted thinking, the call.
    expect(fake.messageRequests[1]!.body.messages[1].content).toEqual([
      { type: "thinking", thinking: thinking.thinking, signature: thinking.signature },
      { type: "redacted_thinking", data: (first.content[1] as { data: string }).data },
      { type: "tool_use", id: "toolu_T1", name: "echo", input: { text: "a" } },
    ]);
  });

  it("the fake refuses, as the API does, a conversation whose thinking was altered or dropped: the harness must keep it intact", async () => {
    const turn = () => thinkingToolUseReply("Plan: echo.", [{ name: "echo", input: { text: "a" }, id: "toolu_T1" }]);
    fake = await FakeAnthropic.start([turn(), turn(), turn(), textReply("never")]);
    const p = planner("claude-sonnet-4-6", 2048);
    const first = await p.next({ system: "S", messages: [{ role: "user", content: [{ type: "text", text: "go" }] }], tools, signal });
    const [think, use] = first.content as [{ type: "thinking"; thinking: string; signature: string }, Message["content"][number]];
    const altered = await p.next({
      system: "S",
      messages: afterThinking({ content: [{ ...think, thinking: `${think.thinking} (edited)` }, use] }),
      tools,
      signal,
    });
    expect(altered).toMatchObject({ stopReason: "error", errorKind: "bad_request" });
    expect(altered.error).toMatch(/HTTP 400.*Invalid `signature` in `thinking` block/);
    const dropped = await p.next({ system: "S", messages: afterThinking({ content: [use] }), tools, signal });
    expect(dropped.error).toMatch(/HTTP 400.*thinking blocks returned with this assistant turn must be passed back unmodified/);
  });

  it("a model that only thinks adaptively gets adaptive thinking (no budget, no beta) and the budget widens max_tokens; the fake refuses a budget on it", async () => {
    fake = await FakeAnthropic.start([thinkingToolUseReply("Adaptive plan.", [{ name: "echo", input: {}, id: "toolu_T1" }]), textReply("done")]);
    const p = planner(DEFAULT_ANTHROPIC_MODEL, 8000);
    expect((await p.check(signal)).join("\n")).toMatch(/thinks adaptively.*raises max_tokens to 16192/);
    const first = await p.next({ system: "S", messages: [{ role: "user", content: [{ type: "text", text: "go" }] }], tools, signal });
    expect(fake.messageRequests[0]!.body.thinking).toEqual({ type: "adaptive" });
    expect(fake.messageRequests[0]!.headers["anthropic-beta"]).toBeUndefined();
    expect((await p.next({ system: "S", messages: afterThinking(first), tools, signal })).stopReason).toBe("end_turn");
    // Without the model check (it reads the model's thinking types), the budget is sent and refused.
    await fake.close();
    fake = await FakeAnthropic.start([textReply("x")]);
    const unchecked = await planner(DEFAULT_ANTHROPIC_MODEL, 8000).next({
      system: "S",
      messages: [{ role: "user", content: [{ type: "text", text: "go" }] }],
      tools,
      signal,
    });
    expect(unchecked.error).toMatch(/HTTP 400.*thinking\.type\.enabled" is not supported/);
  });

  it("compaction never shortens a turn that thought: its blocks stay byte for byte (only whole old exchanges may go)", () => {
    const long = "x".repeat(2000);
    const messages: Message[] = [{ role: "user", content: [{ type: "text", text: "go" }] }];
    for (let i = 0; i < 12; i++) {
      messages.push({
        role: "assistant",
        content: [
          { type: "thinking", thinking: `step ${i} ${long}`, signature: `sig-${i}` },
          { type: "text", text: long },
          { type: "tool_use", id: `t${i}`, name: "echo", input: {} },
        ],
      });
      messages.push({ role: "user", content: [{ type: "tool_result", toolUseId: `t${i}`, content: long }] });
    }
    // Eliding before the last 4 messages: every tool result is stubbed, no turn that thought is touched.
    const elided = compactMessages(messages, messages.length - 4);
    expect(elided.elided).toBe(10);
    for (const [i, m] of elided.messages.entries()) if (m.role === "assistant") expect(m).toBe(messages[i]);
    expect(
      elided.messages
        .filter((m, i) => m.role === "user" && i > 0 && i < messages.length - 4)
        .every((m) => (m.content[0] as { content: string }).content.startsWith("[elided")),
    ).toBe(true);
    // Under pressure whole old exchanges go too; what stays of a turn that thought is whole.
    const r = compactToFit("S", messages, { maxContextTokens: 8_000, keepRecentMessages: 4 }, "threshold", 4)!;
    expect(r.compaction.dropped).toBeGreaterThan(0);
    for (const m of r.messages.filter((x) => x.role === "assistant")) expect(messages).toContain(m);
  });
});

describe("planner model ids that exist", () => {
  it("the default planner model is one the Anthropic model list returns, and it has a price", async () => {
    expect(FAKE_ANTHROPIC_MODELS.map((m) => m.id)).toContain(DEFAULT_ANTHROPIC_MODEL);
    fake = await FakeAnthropic.start([]);
    const lines = await planner(DEFAULT_ANTHROPIC_MODEL).check(signal);
    expect(lines).toEqual([`planner model: ${DEFAULT_ANTHROPIC_MODEL} is offered by the Anthropic API (Claude Sonnet 5.5)`]);
    expect(fake.modelRequests[0]!.path).toMatch(/^\/v1\/models\?limit=1000/);
  });
});

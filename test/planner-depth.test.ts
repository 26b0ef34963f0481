import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Message } from "../agent/core/conversation.ts";
import { compactMessages, compactToFit } from "../agent/core/compaction.ts";
import { AnthropicPlanner, INTERLEAVED_THINKING_BETA } from "../agent/planners/anthropic.ts";
import { DEFAULT_ANTHROPIC_MODEL } from "../agent/planners/index.ts";
import { readTranscript } from "../agent/transcript/transcript.ts";
import type { ToolSpec } from "../agent/core/tools.ts";
import { FAKE_ANTHROPIC_MODELS, FakeAnthropic, textReply, thinkingToolUseReply, toolUseReply } from "./fakes/anthropic-server.ts";
import { chatText, chatToolCalls, FakeOpenAI } from "./fakes/openai-server.ts";
import { runCli, tempDir, testServerEntry, writeMcpConfig } from "./helpers.ts";

let fake: FakeAnthropic | undefined;
let openai: FakeOpenAI | undefined;
afterEach(async () => {
  await fake?.close();
  await openai?.close();
  fake = undefined;
  openai = undefined;
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

  it("a run with --thinking records thinking blocks in the transcript, shows them in replay, and keeps them intact through compaction and a resume", async () => {
    const calls = (n: number) =>
      thinkingToolUseReply(`Thinking about step ${n}: ${"reasoning ".repeat(40)}`, [{ name: "echo", input: { text: "y".repeat(1500) } }], {
        text: `Step ${n}.`,
        redacted: n === 2,
      });
    fake = await FakeAnthropic.start([
      calls(1),
      calls(2),
      calls(3),
      calls(4),
      calls(5),
      textReply("done"),
      textReply("still done"),
      calls(6),
      textReply("bye"),
      textReply("bye"),
      textReply("bye"),
      textReply("bye"),
    ]);
    const dir = tempDir("tl-think-");
    const runDir = path.join(dir, "run");
    const mcp = writeMcpConfig(dir, { t: testServerEntry() });
    const env = { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: fake.url };
    const r = await runCli(
      [
        "run",
        "--planner",
        "anthropic:claude-sonnet-4-6",
        "--thinking",
        "2048",
        "--model",
        "local/tiny-arith",
        "--prompt",
        "p",
        "--mcp-config",
        mcp,
        "--run-dir",
        runDir,
        "--max-turns",
        "6",
        "--max-nudges",
        "0",
        "--max-context-tokens",
        "3000",
      ],
      { env, timeoutMs: 120_000 },
    );
    expect(r.stdout).toMatch(/thinking: extended thinking, 2048 tokens a turn/);
    // Every request was accepted: compaction shortened the old tool results but never a turn that thought.
    expect(fake.messageRequests.slice(0, 6).every((q) => q.body.thinking?.budget_tokens === 2048)).toBe(true);
    const events = readTranscript(path.join(runDir, "transcript.jsonl")).events as any[];
    expect(events.some((e) => e.type === "compaction")).toBe(true);
    expect(events.filter((e) => e.type === "assistant" && e.stopReason === "error")).toEqual([]);
    const thought = events.filter((e) => e.type === "assistant" && e.content[0]?.type === "thinking");
    expect(thought).toHaveLength(5);
    expect(thought[1].content[1].type).toBe("redacted_thinking");
    const view = await runCli(["replay", runDir]);
    expect(view.stdout).toMatch(/\(thinking\) Thinking about step 1: reasoning/);
    expect(view.stdout).toMatch(/\(thinking, encrypted by the provider: \d+ characters\)/);

    // Resumed from the transcript: the rebuilt conversation carries the signed blocks, and the fake accepts it.
    const before = fake.messageRequests.length;
    const resumed = await runCli(["resume", runDir, "--mcp-config", mcp, "--thinking", "2048", "--max-turns", "8"], { env, timeoutMs: 120_000 });
    expect(resumed.stderr).toBe("");
    const req = fake.messageRequests[before]!.body;
    expect(req.thinking).toEqual({ type: "enabled", budget_tokens: 2048 });
    const sentThinking = req.messages.flatMap((m: any) =>
      m.role === "assistant" ? m.content.filter((b: any) => b.type === "thinking" || b.type === "redacted_thinking") : [],
    );
    expect(sentThinking.length).toBeGreaterThan(0);
    const after = readTranscript(path.join(runDir, "transcript.jsonl")).events as any[];
    expect(after.filter((e) => e.type === "assistant" && e.stopReason === "error")).toEqual([]);
  });

  it("--thinking is refused for a planner that cannot take it, and a budget under the API's minimum", async () => {
    const scripted = await runCli(["run", "--planner", "scripted", "--thinking", "4096", "--model", "local/tiny-arith", "--prompt", "p"]);
    expect(scripted.code).toBe(2);
    expect(scripted.stderr).toMatch(/^error: --thinking is for anthropic: planners; this run's planner is scripted\.\n$/);
    const small = await runCli(["run", "--thinking", "100", "--model", "local/tiny-arith", "--prompt", "p"]);
    expect(small.code).toBe(2);
    expect(small.stderr).toMatch(/--thinking must be at least 1024 tokens/);
  });
});

describe("reasoning effort for OpenAI-compatible planners", () => {
  it("sends --reasoning-effort as reasoning_effort on every request; refuses a value the flag does not take", async () => {
    openai = await FakeOpenAI.start([chatToolCalls([{ name: "echo", args: { text: "hi" } }]), chatText("done")]);
    const dir = tempDir("tl-effort-");
    const env = { OPENAI_API_KEY: "sk-openai-effort-000000", OPENAI_BASE_URL: openai.url };
    const r = await runCli(
      [
        "run",
        "--planner",
        "openai:fake-model",
        "--reasoning-effort",
        "high",
        "--model",
        "local/tiny-arith",
        "--prompt",
        "p",
        "--mcp-config",
        writeMcpConfig(dir, { t: testServerEntry() }),
        "--run-dir",
        path.join(dir, "run"),
        "--max-turns",
        "2",
        "--max-nudges",
        "0",
      ],
      { env, timeoutMs: 60_000 },
    );
    expect(r.stdout).toMatch(/planner model: fake-model is listed by the server; reasoning effort high/);
    expect(openai.requests.map((q) => q.body.reasoning_effort)).toEqual(["high", "high"]);
    const bad = await runCli(["run", "--planner", "openai:fake-model", "--reasoning-effort", "extreme", "--model", "local/tiny-arith", "--prompt", "p"], {
      env,
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: --reasoning-effort must be low, medium, high/);
    const wrong = await runCli(["run", "--planner", "scripted", "--reasoning-effort", "low", "--model", "local/tiny-arith", "--prompt", "p"], { env });
    expect(wrong.stderr).toMatch(/^error: --reasoning-effort is for openai: planners/);
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

  it("an unknown model is one line and exit 2, naming the available ones, before any server starts; doctor says the same", async () => {
    fake = await FakeAnthropic.start([toolUseReply([{ name: "echo", input: {} }])]);
    const dir = tempDir("tl-unknown-model-");
    const runDir = path.join(dir, "run");
    const env = { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: fake.url };
    const r = await runCli(
      [
        "run",
        "--planner",
        "anthropic:claude-sonnet-9",
        "--model",
        "local/tiny-arith",
        "--prompt",
        "p",
        "--mcp-config",
        writeMcpConfig(dir, { t: testServerEntry() }),
        "--run-dir",
        runDir,
      ],
      { env },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^error: anthropic:claude-sonnet-9 is not a model the Anthropic API lists; available: claude-fable-5-2, .*claude-sonnet-5-5, .*\(18 in all\)\.\n$/,
    );
    expect(fake.requests).toHaveLength(0);
    expect(fs.existsSync(runDir)).toBe(false);
    // An alias the list does not name is looked up on its own.
    const alias = await runCli(["doctor", "--planner", "anthropic:claude-sonnet-4-5", "--mcp-config", writeMcpConfig(dir, {})], { env });
    expect(alias.stdout).toMatch(/ok\s+planner\s+anthropic:claude-sonnet-4-5: claude-sonnet-4-5 is offered by the Anthropic API \(Claude Sonnet 4\.5\)/);
    const doctor = await runCli(["doctor", "--planner", "anthropic:claude-sonnet-9", "--mcp-config", writeMcpConfig(dir, {})], { env });
    expect(doctor.stdout).toMatch(/FAIL planner\s+anthropic:claude-sonnet-9 is not a model the Anthropic API lists; available: /);

    openai = await FakeOpenAI.start([], { models: ["qwen3-32b", "llama-4"] });
    const o = await runCli(["run", "--planner", "openai:qwen3-23b", "--model", "local/tiny-arith", "--prompt", "p", "--run-dir", runDir], {
      env: { OPENAI_BASE_URL: openai.url },
    });
    expect(o.code).toBe(2);
    expect(o.stderr).toMatch(/^error: openai:qwen3-23b is not a model the OpenAI-compatible server lists; available: qwen3-32b, llama-4\.\n$/);
    expect(openai.requests).toHaveLength(0);
  });
});

import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { FakeAnthropic, textReply, toolUseReply } from "../fakes/anthropic-server.ts";
import { chatText, chatToolCalls, FakeOpenAI } from "../fakes/openai-server.ts";
import { REPO, runCli, tempDir, testServerEntry, writeMcpConfig } from "../helpers.ts";

const MODEL = "local/tiny-arith";
const FIXTURES = path.join(REPO, "test", "fixtures", "transcripts");
let anthropic: FakeAnthropic | undefined;
let openai: FakeOpenAI | undefined;
afterEach(async () => {
  await anthropic?.close();
  await openai?.close();
  anthropic = openai = undefined;
});

/** One scenario, as calls: the same decisions whichever provider makes them. */
const SCENARIO = [
  { name: "echo", input: { text: "hello" } },
  { name: "init_grpo", input: { base_model: MODEL } },
  { name: "add", input: { a: 2, b: 3 } },
  { name: "save", input: { name: "ckpt-a" } },
  { name: "finish", input: {} },
];

async function runWith(planner: string, env: Record<string, string>) {
  const dir = tempDir("tl-swap-");
  const runDir = path.join(dir, "run");
  const mcp = writeMcpConfig(dir, { lab: testServerEntry() });
  const res = await runCli(["run", "--planner", planner, "--model", MODEL, "--prompt", "Teach addition.", "--mcp-config", mcp, "--run-dir", runDir], { env });
  return { res, runDir, mcp, events: readTranscript(path.join(runDir, "transcript.jsonl")).events };
}

const toolCalls = (events: any[]) => events.filter((e) => e.type === "tool").map((e) => ({ name: e.name, input: e.input, isError: e.isError }));

describe("swapping planners", () => {
  it("runs the same scenario through the Anthropic and the OpenAI-compatible planner to the same tool calls", async () => {
    anthropic = await FakeAnthropic.start(SCENARIO.map((c) => toolUseReply([c])));
    openai = await FakeOpenAI.start(SCENARIO.map((c) => chatToolCalls([{ name: c.name, args: c.input }])));
    const a = await runWith("anthropic:claude-sonnet-5-5", { ANTHROPIC_API_KEY: "sk-ant-swap-000000", ANTHROPIC_BASE_URL: anthropic.url });
    const o = await runWith("openai:fake-model", { OPENAI_API_KEY: "sk-openai-swap-000000", OPENAI_BASE_URL: openai.url });
    expect(a.res.code, a.res.stderr).toBe(0);
    expect(o.res.code, o.res.stderr).toBe(0);
    expect(toolCalls(o.events)).toEqual(toolCalls(a.events));
    expect(toolCalls(a.events).map((c) => c.name)).toEqual(SCENARIO.map((c) => c.name));
    // What the OpenAI-compatible server was sent: system first, tool results as `tool` messages with the call ids.
    const second = openai.requests[1]!.body;
    expect(second.messages[0]).toEqual({ role: "system", content: expect.stringContaining(MODEL) });
    const call = second.messages.find((m: any) => m.role === "assistant").tool_calls[0];
    expect(JSON.parse(call.function.arguments)).toEqual({ text: "hello" });
    expect(second.messages.find((m: any) => m.role === "tool")).toMatchObject({ tool_call_id: call.id, content: "testsrv echoes: hello" });
    expect(second.tools[0]).toMatchObject({ type: "function", function: { name: expect.any(String), parameters: expect.any(Object) } });
    expect(openai.requests[0]!.headers.authorization).toBe("Bearer sk-openai-swap-000000");
    const assistant = o.events.find((e) => e.type === "assistant") as any;
    // prompt_tokens (50) counts the cached ones (20): inputTokens keeps them apart, as Anthropic's usage does (they are billed apart).
    expect(assistant.usage).toEqual({ inputTokens: 30, outputTokens: 10, cacheReadTokens: 20, cacheWriteTokens: 0 });
  });

  it("answers malformed tool arguments with an error result instead of crashing, and maps finish reasons", async () => {
    openai = await FakeOpenAI.start([
      chatToolCalls([{ name: "add", args: '{"a": 2, "b": ' }]),
      chatText("cut off", "length"),
      chatToolCalls([{ name: "finish", args: {} }]),
    ]);
    const o = await runWith("openai:fake-model", { OPENAI_API_KEY: "sk-openai-swap-000000", OPENAI_BASE_URL: openai.url });
    expect(o.res.code, o.res.stderr).toBe(0);
    const guard = o.events.find((e) => e.type === "guard") as any;
    expect(guard).toMatchObject({ rule: "malformed-args", decision: { action: "reject" } });
    const toolMsg = openai.requests[1]!.body.messages.find((m: any) => m.role === "tool");
    expect(toolMsg.content).toMatch(/not valid JSON/);
    // The malformed arguments are sent back verbatim, as the model wrote them.
    expect(openai.requests[1]!.body.messages.find((m: any) => m.role === "assistant").tool_calls[0].function.arguments).toBe('{"a": 2, "b": ');
    expect((o.events.filter((e) => e.type === "assistant") as any[])[1].stopReason).toBe("max_tokens");
  });

  it("forks a run recorded with the Anthropic planner at turn 3 onto the OpenAI-compatible planner, which finishes it", async () => {
    anthropic = await FakeAnthropic.start([...SCENARIO.slice(0, 4).map((c) => toolUseReply([c])), textReply("done?"), toolUseReply([SCENARIO[4]!])]);
    const a = await runWith("anthropic:claude-sonnet-5-5", { ANTHROPIC_API_KEY: "sk-ant-swap-000000", ANTHROPIC_BASE_URL: anthropic.url });
    expect(a.res.code).toBe(0);
    openai = await FakeOpenAI.start([chatToolCalls([{ name: "echo", args: { text: "forked" } }]), chatToolCalls([{ name: "finish", args: {} }])]);
    const forkDir = path.join(tempDir("tl-fork-"), "forked");
    const res = await runCli(["replay", a.runDir, "--fork", "3", "--planner", "openai:fake-model", "--run-dir", forkDir, "--mcp-config", a.mcp], {
      env: { OPENAI_API_KEY: "sk-openai-swap-000000", OPENAI_BASE_URL: openai.url },
    });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const { events } = readTranscript(path.join(forkDir, "transcript.jsonl"));
    const header = events[0] as any;
    expect(header.parent).toMatch(/at turn 3/);
    expect(header.planner).toBe("openai:fake-model");
    // The first three turns are the recorded ones; the OpenAI planner saw them, translated.
    expect(
      toolCalls(events)
        .slice(0, 3)
        .map((c) => c.name),
    ).toEqual(["echo", "init_grpo", "add"]);
    expect(
      toolCalls(events)
        .slice(3)
        .map((c) => c.name),
    ).toEqual(["echo", "finish"]);
    const first = openai.requests[0]!.body.messages;
    expect(first.filter((m: any) => m.role === "tool").map((m: any) => m.tool_call_id)).toHaveLength(3);
    expect(first.at(-1).content).toMatch(/forked from run .* at turn 3/);
    expect(events.at(-1)).toMatchObject({ type: "end", reason: "finished" });
    expect((events.filter((e) => e.type === "assistant") as any[]).map((e) => e.turn)).toEqual([1, 2, 3, 4, 5]);
  });
});

describe("replay", () => {
  it("views the older draft schema through the CLI", async () => {
    const view = await runCli(["replay", path.join(FIXTURES, "v0-draft-format.jsonl")]);
    expect(view.code).toBe(0);
    expect(view.stdout).toMatch(/← init_grpo ✓ 0\.9s: GRPO session ready/);
  });

  it("runs a recorded transcript as a planner: --planner replay:<file> against live tools", async () => {
    const dir = tempDir("tl-replay-planner-");
    const res = await runCli([
      "run",
      "--planner",
      `replay:${path.join(FIXTURES, "v1-guarded-run.jsonl")}`,
      "--model",
      MODEL,
      "--prompt",
      "p",
      "--mcp-config",
      writeMcpConfig(dir, { lab: testServerEntry() }),
      "--run-dir",
      path.join(dir, "run"),
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/finished: the planner called finish/);
  });
});

import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { FakeAnthropic, textReply, thinkingToolUseReply, toolUseReply } from "../fakes/anthropic-server.ts";
import { chatText, chatToolCalls, FakeOpenAI } from "../fakes/openai-server.ts";
import { runCli, tempDir, testServerEntry, writeMcpConfig } from "../helpers.ts";

let fake: FakeAnthropic | undefined;
let openai: FakeOpenAI | undefined;
afterEach(async () => {
  await fake?.close();
  await openai?.close();
  fake = undefined;
  openai = undefined;
});

const KEY = "sk-ant-depth-000000";

describe("extended thinking with the Anthropic planner (real SDK against the fake)", () => {
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

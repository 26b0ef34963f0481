import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { toAnthropicMessages } from "../../agent/planners/anthropic.ts";
import { messagesFromEvents, readTranscript } from "../../agent/transcript/transcript.ts";
import { FakeAnthropic, textReply, toolUseReply } from "../fakes/anthropic-server.ts";
import { readJsonl, REPO, runCli, tempDir, testServerEntry, writeMcpConfig } from "../helpers.ts";

let fake: FakeAnthropic | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const API_KEY = "sk-ant-e2e-SECRET-987654321";
const HF_TOKEN = "hf_e2eSecretValue999";

function allFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

describe("tinkerloop run, end to end", () => {
  it("completes a multi-turn run against the fake Anthropic API and a real MCP server, with a faithful transcript", async () => {
    fake = await FakeAnthropic.start([
      toolUseReply(
        [
          { name: "read_file", input: { path: "/app/AGENTS.md" } },
          { name: "echo", input: { text: `leak ${API_KEY} and ${HF_TOKEN}` } },
        ],
        "First I read the playbook.",
      ),
      toolUseReply([{ name: "init_grpo", input: { base_model: "local/tiny-arith" } }]),
      textReply("Let me think about this."),
      toolUseReply([{ name: "finish", input: {} }]),
    ]);
    const dir = tempDir("tl-e2e-");
    const runDir = path.join(dir, "run");
    const mcp = writeMcpConfig(dir, { lab: testServerEntry(["--name", "lab"], { HF_TOKEN: "${HF_TOKEN}" }) });
    const res = await runCli(
      [
        "run",
        "--planner",
        "anthropic:claude-sonnet-5-5",
        "--model",
        "local/tiny-arith",
        "--prompt",
        "Teach addition.",
        "--mcp-config",
        mcp,
        "--run-dir",
        runDir,
      ],
      { env: { ANTHROPIC_API_KEY: API_KEY, ANTHROPIC_BASE_URL: fake.url, HF_TOKEN } },
    );
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/turn +1 .*read_file ✓.*echo ✓/);
    expect(res.stdout).toMatch(/finished: the planner called finish\(\)/);

    const { events, tornTail } = readTranscript(path.join(runDir, "transcript.jsonl"));
    expect(tornTail).toBeUndefined();
    expect(events[0]).toMatchObject({ type: "run", schema: 1, planner: "anthropic:claude-sonnet-5-5", model: "local/tiny-arith" });
    expect(events.at(-1)).toMatchObject({ type: "end", reason: "finished", turns: 4 });
    const system = events.find((e) => e.type === "system") as { text: string };
    expect(system.text).toContain("**Teach addition.**");
    expect(system.text).toContain('base_model="local/tiny-arith"');

    // Every request carried the same system prompt, and the transcript rebuilds exactly what was sent.
    const requests = fake.messageRequests.map((r) => r.body);
    expect(requests).toHaveLength(4);
    for (const body of requests) expect(body.system[0].text).toBe(system.text);
    const rebuilt = messagesFromEvents(events);
    for (const body of requests) {
      expect(toAnthropicMessages(rebuilt.slice(0, body.messages.length))).toEqual(body.messages);
    }
    // Each tool_use is answered by a tool_result with its id, first in the next user message.
    const second = requests[1].messages;
    const uses = second[1].content.filter((b: any) => b.type === "tool_use").map((b: any) => b.id);
    expect(second[2].content.slice(0, uses.length).map((b: any) => b.tool_use_id)).toEqual(uses);
    // The playbook was served through the workspace tool.
    expect(second[2].content[0].content).toContain(fs.readFileSync(path.join(REPO, "playbook", "AGENTS.md"), "utf8").split("\n")[0]);
    // The nudge after the quiet turn.
    expect(JSON.stringify(requests[3].messages.at(-1))).toContain("without calling a tool");

    // A secret a tool echoed never reached the planner, and no secret is anywhere in the run directory.
    expect(JSON.stringify(requests.slice(1))).not.toContain(HF_TOKEN);
    expect(JSON.stringify(requests.slice(1))).not.toContain(API_KEY);
    expect(JSON.stringify(requests[1].messages[2])).toContain("[REDACTED:HF_TOKEN]");
    for (const f of allFiles(runDir)) {
      const text = fs.readFileSync(f, "utf8");
      expect(text, f).not.toContain(API_KEY);
      expect(text, f).not.toContain(HF_TOKEN);
    }
    expect(fs.readFileSync(path.join(runDir, "transcript.jsonl"), "utf8")).toContain("[REDACTED:ANTHROPIC_API_KEY]");
    const summary = JSON.parse(fs.readFileSync(path.join(runDir, "summary.json"), "utf8"));
    expect(summary).toMatchObject({ reason: "finished", turns: 4, toolCalls: 4, toolErrors: 0 });
    expect(
      readJsonl(path.join(runDir, "transcript.jsonl"))
        .filter((e) => e.type === "tool")
        .map((e) => e.name),
    ).toEqual(["read_file", "echo", "init_grpo", "finish"]);
  });

  it("refuses a template without both placeholders before starting anything", async () => {
    const dir = tempDir("tl-tpl-");
    fs.writeFileSync(path.join(dir, "bad.md"), "Objective: <<PROMPT>> (no model here)");
    const runDir = path.join(dir, "run");
    const res = await runCli(
      [
        "run",
        "--planner",
        "anthropic:claude-sonnet-5-5",
        "--model",
        "local/tiny-arith",
        "--prompt",
        "p",
        "--template",
        path.join(dir, "bad.md"),
        "--run-dir",
        runDir,
      ],
      {
        env: { ANTHROPIC_API_KEY: "sk-ant-whatever-123" },
      },
    );
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/lacks <<MODEL>>/);
    expect(res.stderr).not.toMatch(/at .*\.ts:\d+/);
    expect(fs.existsSync(runDir)).toBe(false);
  });

  it("refuses a run without a prompt or without a model, with exit code 2", async () => {
    const noModel = await runCli(["run", "--prompt", "p"]);
    expect(noModel.code).toBe(2);
    expect(noModel.stderr).toMatch(/No base model given/);
    const noPrompt = await runCli(["run", "--model", "m"]);
    expect(noPrompt.code).toBe(2);
    expect(noPrompt.stderr).toMatch(/No research prompt/);
  });

  it("reports a tool server that fails to start by name, with exit code 3", async () => {
    fake = await FakeAnthropic.start([]);
    const dir = tempDir("tl-bad-srv-");
    const mcp = writeMcpConfig(dir, { broken: testServerEntry(["--fail-start"]) });
    const res = await runCli(
      [
        "run",
        "--planner",
        "anthropic:claude-sonnet-5-5",
        "--model",
        "local/tiny-arith",
        "--prompt",
        "p",
        "--mcp-config",
        mcp,
        "--run-dir",
        path.join(dir, "run"),
      ],
      {
        env: { ANTHROPIC_API_KEY: "sk-ant-whatever-123", ANTHROPIC_BASE_URL: fake.url },
      },
    );
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/MCP server 'broken' failed to start/);
    expect(res.stderr).toMatch(/cannot open \/nonexistent\/config\.toml/);
    expect(fake.requests).toHaveLength(0);
  });
});

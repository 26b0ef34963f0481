/**
 * A resumed run's elapsed time is the whole run's: the real CLI, the fake Anthropic planner
 * and the test MCP server; stopped by its turn limit, then resumed to its end. The summary's
 * time is the two sessions' own times added (each session's `end` event), never the time
 * between the stop and the resume.
 */
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { FakeAnthropic, toolUseReply } from "../fakes/anthropic-server.ts";
import { runCli, tempDir, testServerEntry, writeMcpConfig } from "../helpers.ts";

const MODEL = "local/tiny-arith";
const KEY = "sk-ant-elapsed-000000";
let fake: FakeAnthropic | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const train = { name: "train_grpo_step", input: { prompts: "p.jsonl", reward_function: "r.py", reward_mean: 0.4 } };

describe("a resumed run's elapsed time", () => {
  it("covers the whole run in summary.json and the terminal summary", async () => {
    const dir = tempDir("tl-elapsed-");
    const mcp = writeMcpConfig(dir, { lab: testServerEntry() });
    const runDir = path.join(dir, "run");
    fake = await FakeAnthropic.start([toolUseReply([{ name: "init_grpo", input: { base_model: MODEL } }]), toolUseReply([train])]);
    const env = () => ({ ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: fake!.url });
    const args = ["--planner", "anthropic:claude-sonnet-5-5", "--model", MODEL, "--prompt", "p", "--mcp-config", mcp, "--run-dir", runDir];
    const first = await runCli(["run", ...args, "--max-turns", "2"], { env: env() });
    expect(first.code, first.stdout + first.stderr).toBe(1);
    await fake.close();
    // Time passes between the stop and the resume; it is not the run's.
    await new Promise((r) => setTimeout(r, 1500));
    fake = await FakeAnthropic.start([
      toolUseReply([train]),
      toolUseReply([{ name: "save", input: { name: "end" } }]),
      toolUseReply([{ name: "finish", input: {} }]),
    ]);
    const again = await runCli(["resume", runDir, "--mcp-config", mcp, "--max-turns", "10"], { env: env() });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    const ends = (readTranscript(path.join(runDir, "transcript.jsonl")).events as any[]).filter((e) => e.type === "end");
    expect(ends).toHaveLength(2);
    const summary = JSON.parse(fs.readFileSync(path.join(runDir, "summary.json"), "utf8"));
    expect(summary.elapsedMs).toBe(ends[0].elapsedMs + ends[1].elapsedMs);
    expect(again.stdout).toContain(`   time ${(summary.elapsedMs / 1000).toFixed(1)}s`);
  });
});

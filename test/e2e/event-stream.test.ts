/**
 * The run as one event stream with listeners: state is kept by the harness whatever
 * guard rules are on, and rebuilding it from a transcript (resume) never writes the
 * run's files a second time.
 */
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { FakeAnthropic, textReply, toolUseReply } from "../fakes/anthropic-server.ts";
import { readJsonl, runCli, tempDir, testServerEntry, writeMcpConfig } from "../helpers.ts";

const MODEL = "local/tiny-arith";
const KEY = "sk-ant-stream-000000";
let fake: FakeAnthropic | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function run(args: string[], script: Parameters<typeof FakeAnthropic.start>[0], runDir: string, mcp: string) {
  fake = await FakeAnthropic.start(script);
  const r = await runCli(
    ["run", "--planner", "anthropic:claude-sonnet-5-5", "--model", MODEL, "--prompt", "p", "--mcp-config", mcp, "--run-dir", runDir, ...args],
    { env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: fake.url } },
  );
  await fake.close();
  fake = undefined;
  return r;
}

const train = (reward: number) => ({ name: "train_grpo_step", input: { prompts: "p.jsonl", reward_function: "r.py", reward_mean: reward } });

describe("the event stream", () => {
  it("--guard-off workflow keeps the harness's training state: a stop still saves unsaved training", async () => {
    const dir = tempDir("tl-stream-");
    const mcp = writeMcpConfig(dir, { lab: testServerEntry() });
    const runDir = path.join(dir, "run");
    const r = await run(
      ["--guard-off", "workflow", "--max-nudges", "0"],
      [toolUseReply([{ name: "init_grpo", input: { base_model: MODEL } }]), toolUseReply([train(0.4)]), textReply("I am done thinking.")],
      runDir,
      mcp,
    );
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const events = readTranscript(path.join(runDir, "transcript.jsonl")).events as any[];
    const save = events.find((e) => e.type === "tool" && e.toolUseId === "harness-emergency-save");
    // Stopped at turn 3 (no tool call, no nudge left): the harness saves the one unsaved step under that turn.
    expect(save, r.stdout).toMatchObject({ name: "save", input: { name: "emergency-turn3" }, isError: false });
    expect(r.stdout).toMatch(/emergency save: emergency-turn3\n/);
  });

  it("resume rebuilds metrics and state from the transcript without appending old records to metrics.jsonl again", async () => {
    const dir = tempDir("tl-stream-resume-");
    const mcp = writeMcpConfig(dir, { lab: testServerEntry() });
    const runDir = path.join(dir, "run");
    const first = await run(
      ["--max-turns", "3"],
      [toolUseReply([{ name: "init_grpo", input: { base_model: MODEL } }]), toolUseReply([train(0.3)]), toolUseReply([train(0.5)])],
      runDir,
      mcp,
    );
    expect(first.code, first.stdout + first.stderr).toBe(1);
    expect(readJsonl(path.join(runDir, "metrics.jsonl")).map((m) => m.turn)).toEqual([2, 3]);
    // The harness finished the session on stop; the resumed planner opens a new one.
    fake = await FakeAnthropic.start([
      toolUseReply([{ name: "init_grpo", input: { base_model: MODEL } }]),
      toolUseReply([train(0.7)]),
      toolUseReply([{ name: "save", input: { name: "end" } }]),
      toolUseReply([{ name: "finish", input: {} }]),
    ]);
    const again = await runCli(["resume", runDir, "--mcp-config", mcp, "--max-turns", "10"], { env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: fake.url } });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    const metrics = readJsonl(path.join(runDir, "metrics.jsonl"));
    expect(metrics.map((m) => [m.turn, m.rewardMean])).toEqual([
      [2, 0.3],
      [3, 0.5],
      [5, 0.7],
    ]);
    // The feedback after the resumed turn counts all three calls: the ledger was rebuilt from the transcript.
    const feedback = (readTranscript(path.join(runDir, "transcript.jsonl")).events as any[]).filter((e) => e.type === "feedback").at(-1);
    expect(feedback.text).toMatch(/3 training call\(s\)/);
  });
});

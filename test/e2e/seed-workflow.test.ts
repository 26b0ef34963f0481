/**
 * The seed prompt's workflow as an LLM planner drives it: files it builds and writes
 * are the files every tool then reads, by the same relative paths (one path rule).
 * Real CLI, real bundled servers, the local backend; the planner is the real Anthropic
 * SDK against a scripted fake of the Messages API.
 */
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { FakeAnthropic, toolUseReply } from "../fakes/anthropic-server.ts";
import { REPO, runCli, tempDir } from "../helpers.ts";

const MODEL = "local/tiny-arith";
const REWARD = [
  "def compute_reward(completion, ground_truth):",
  "    answer = completion.strip().split()[0] if completion.strip() else ''",
  "    return 1.0 if answer == ground_truth.strip() else 0.0",
  "",
].join("\n");

let fake: FakeAnthropic | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

describe("the seed workflow end to end", () => {
  it("pool, holdout and reward written as files, then checked, sampled and trained on by the same relative paths", async () => {
    const steps = [
      { name: "read_file", input: { path: "/app/AGENTS.md", limit: 40 } },
      { name: "generate_synthetic", input: { task: "arithmetic", n: 64, seed: 1, difficulty: 1, split: "train", output: "data/pool.jsonl" } },
      { name: "generate_synthetic", input: { task: "arithmetic", n: 16, seed: 2, difficulty: 1, split: "eval", output: "data/holdout.jsonl" } },
      { name: "write_file", input: { path: "reward.py", content: REWARD } },
      {
        name: "check_reward",
        input: {
          reward_function: "reward.py",
          cases: [
            { completion: "7", ground_truth: "7", expected: 1 },
            { completion: "8", ground_truth: "7", expected: 0 },
            { completion: "", ground_truth: "7", expected: 0 },
          ],
        },
      },
      { name: "init_grpo", input: { base_model: "Qwen/Qwen3-8B", group_size: 4 } },
      { name: "sample", input: { prompts: "data/holdout.jsonl", n: 2, temperature: 0, reward_function: "reward.py", limit: 8 } },
      { name: "train_grpo_step", input: { prompts: "data/pool.jsonl", start: 0, limit: 8, reward_function: "reward.py", learning_rate: 1e-4 } },
      { name: "train_grpo_step", input: { prompts: "data/pool.jsonl", start: 8, limit: 8, reward_function: "reward.py", learning_rate: 1e-4 } },
      { name: "save", input: { name: "after-two-steps" } },
      { name: "finish", input: {} },
    ];
    fake = await FakeAnthropic.start(steps.map((s) => toolUseReply([s])));
    const runDir = path.join(tempDir("tl-seed-"), "run");
    const r = await runCli(
      ["run", "--planner", "anthropic:claude-sonnet-5-5", "--model", MODEL, "--prompt", "Teach one-digit addition.", "--run-dir", runDir],
      {
        env: { ANTHROPIC_API_KEY: "sk-ant-seed-0000000000", ANTHROPIC_BASE_URL: fake.url, HF_HUB_OFFLINE: "1" },
        timeoutMs: 300_000,
      },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const events = readTranscript(path.join(runDir, "transcript.jsonl")).events as any[];
    const tools = events.filter((e) => e.type === "tool");
    expect(tools.map((t) => t.name)).toEqual(steps.map((s) => s.name));
    for (const t of tools) expect(t.isError, `${t.name}: ${t.result}`).toBe(false);
    // The guard corrected the base model; the server opened the run's model.
    const init = events.find((e) => e.type === "guard" && e.name === "init_grpo");
    expect(init.decision.action).toBe("rewrite");
    expect(tools.find((t) => t.name === "init_grpo").structured.base_model).toBe(MODEL);
    // The same files throughout: what was written is what was read.
    const real = fs.realpathSync(runDir);
    expect(tools[1].structured.path).toBe(path.join(real, "data", "pool.jsonl"));
    expect(tools[2].structured.path).toBe(path.join(real, "data", "holdout.jsonl"));
    expect(fs.readFileSync(path.join(runDir, "reward.py"), "utf8")).toBe(REWARD);
    const check = tools.find((t) => t.name === "check_reward").structured;
    expect(check.cases.map((c: { matches: boolean }) => c.matches)).toEqual([true, true, true]);
    const sample = tools.find((t) => t.name === "sample").structured;
    expect(sample.scored).toBe(16);
    const trains = tools.filter((t) => t.name === "train_grpo_step");
    expect(trains.map((t) => t.input.prompts)).toEqual(["data/pool.jsonl", "data/pool.jsonl"]);
    expect(trains.map((t) => t.structured.prompts)).toEqual([8, 8]);
    for (const t of [...trains, tools.find((x) => x.name === "check_reward"), tools.find((x) => x.name === "sample")]) {
      expect(t.input.reward_function).toBe("reward.py");
    }
    // The reward the server ran is the file the planner wrote.
    const sessionDir = tools.find((t) => t.name === "check_reward").structured.session_dir;
    expect(fs.readFileSync(path.join(sessionDir, "grading_function.py"), "utf8")).toBe(REWARD);
    expect(fs.existsSync(path.join(runDir, "checkpoints", "after-two-steps"))).toBe(true);
  });

  it("a reward file that is not there is an error that says where it looked and what is there", async () => {
    fake = await FakeAnthropic.start([
      toolUseReply([{ name: "write_file", input: { path: "rewards/exact.py", content: REWARD } }]),
      toolUseReply([{ name: "check_reward", input: { reward_function: "exact.py", cases: [{ completion: "1", ground_truth: "1" }] } }]),
      toolUseReply([{ name: "finish", input: {} }]),
    ]);
    const runDir = path.join(tempDir("tl-seed-miss-"), "run");
    const r = await runCli(["run", "--planner", "anthropic:claude-sonnet-5-5", "--model", MODEL, "--prompt", "p", "--run-dir", runDir], {
      env: { ANTHROPIC_API_KEY: "sk-ant-seed-0000000000", ANTHROPIC_BASE_URL: fake.url, HF_HUB_OFFLINE: "1" },
      cwd: REPO,
    });
    expect(r.code, r.stderr).toBe(0);
    const check = (readTranscript(path.join(runDir, "transcript.jsonl")).events as any[]).find((e) => e.type === "tool" && e.name === "check_reward");
    expect(check.isError).toBe(true);
    expect(check.result).toMatch(/No such file: exact\.py/);
    expect(check.result).toContain(path.join(fs.realpathSync(runDir), "exact.py"));
    expect(check.result).toMatch(/Files in the run directory: .*rewards/);
    expect(check.result).not.toMatch(/compute_reward|syntax/);
  });
});

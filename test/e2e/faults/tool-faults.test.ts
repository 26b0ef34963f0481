import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FakeAnthropic, toolUseReply } from "../../fakes/anthropic-server.ts";
import type { FakeStep } from "../../fakes/anthropic-server.ts";
import { REPO, testServerEntry } from "../../helpers.ts";
import { FAULT_MODEL as MODEL, runAgainstFake } from "../../faults/fault-run.ts";

const PARITY = "def compute_reward(completion, ground_truth):\n    return float(len(completion.strip()) % 2)\n";
let fake: FakeAnthropic | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const pool = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ prompt: `What is ${i % 10} + ${(i * 3) % 10}?`, ground_truth: String((i % 10) + ((i * 3) % 10)) }));

async function runScenario(script: FakeStep[], servers: Record<string, unknown>, env: Record<string, string> = {}) {
  fake = await FakeAnthropic.start(script);
  return runAgainstFake(fake, servers, { env, timeoutMs: 180_000 });
}

describe("fault injection: tool servers", () => {
  it("the tinker server killed mid-training: restarted, the planner told which checkpoint to load, and load restores it", async () => {
    const marker = `marker-${crypto.randomUUID()}`;
    const killTinker = () => {
      try {
        execFileSync("pkill", ["-9", "-f", marker]);
      } catch {
        // already gone
      }
    };
    const script: FakeStep[] = [
      toolUseReply([{ name: "init_grpo", input: { base_model: MODEL, group_size: 4, lora_rank: 8 } }]),
      toolUseReply([{ name: "train_grpo_step", input: { prompts: pool(8), reward_function: PARITY, max_tokens: 6, temperature: 1, learning_rate: 0.001 } }]),
      toolUseReply([{ name: "save", input: { name: "before-crash" } }]),
      () => {
        setTimeout(killTinker, 700);
        return toolUseReply([
          {
            name: "train_grpo_step",
            input: { prompts: pool(256), reward_function: PARITY, max_tokens: 16, num_iterations: 5, temperature: 1, warmup_ratio: 0 },
          },
        ]);
      },
      toolUseReply([{ name: "sample", input: { prompt: "What is 1 + 1?" } }]),
      (req) => {
        // The planner follows the harness's hint from the previous result.
        const last = JSON.stringify(req.body.messages.at(-1));
        const m = /load\(path=\\"([^"\\]+)\\"\)/.exec(last);
        return toolUseReply([{ name: "load", input: { path: m ? m[1] : "missing-hint" } }]);
      },
      toolUseReply([{ name: "finish", input: {} }]),
    ];
    const tinker = { command: process.execPath, args: [path.join(REPO, "bin", "tinker-mcp.js"), marker], cwd: REPO };
    const { res, events } = await runScenario(script, { tinker }, {});
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const tools = events.filter((e) => e.type === "tool");
    const killed = tools[3];
    expect(killed).toMatchObject({ name: "train_grpo_step", isError: true });
    expect(killed.result).toMatch(/stopped while running 'train_grpo_step'/);
    const after = tools[4];
    expect(after.name).toBe("sample");
    expect(after.result).toMatch(/was restarted; any state it held/);
    expect(after.result).toMatch(/call load\(path="local:\/\/before-crash"\)/);
    const load = tools[5];
    expect(load).toMatchObject({ name: "load", isError: false, input: { path: "local://before-crash" } });
    expect(load.structured.counters.grpo_iterations).toBe(1);
    expect(events.at(-1)).toMatchObject({ type: "end", reason: "finished" });
  });

  it("a hung call is abandoned after its timeout and the server restarted", async () => {
    const { res, events } = await runScenario(
      [
        toolUseReply([{ name: "slow", input: { ms: 10_000 } }]),
        toolUseReply([{ name: "add", input: { a: 1, b: 2 } }]),
        toolUseReply([{ name: "finish", input: {} }]),
      ],
      { lab: { ...testServerEntry(), timeouts: { slow: 0.5 } } },
    );
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const tools = events.filter((e) => e.type === "tool");
    expect(tools[0]).toMatchObject({ name: "slow", isError: true });
    expect(tools[0].ms).toBeLessThan(5000);
    expect(tools[1].result).toMatch(/restarted/);
    expect(tools[1].structured).toEqual({ sum: 3 });
  });

  it("reward code that hangs or eats memory is contained and the run goes on", async () => {
    const hang = "def compute_reward(c, g):\n    while True:\n        pass\n";
    const hog = "def compute_reward(c, g):\n    x = bytearray(8 * 1024 ** 3)\n    return 1.0\n";
    const cases = [{ completion: "1", ground_truth: "1" }];
    const { res, events } = await runScenario(
      [
        toolUseReply([{ name: "check_reward", input: { reward_function: hang, cases } }]),
        toolUseReply([{ name: "check_reward", input: { reward_function: hog, cases } }]),
        toolUseReply([{ name: "finish", input: {} }]),
      ],
      { tinker: { command: process.execPath, args: [path.join(REPO, "bin", "tinker-mcp.js")], cwd: REPO } },
    );
    expect(res.code, res.stdout + res.stderr).toBe(0);
    // The guard let both through: containing them is the sandbox's work.
    expect(events.filter((e) => e.type === "guard" && e.name === "check_reward").map((e) => e.decision.action)).toEqual(["allow", "allow"]);
    const checks = events.filter((e) => e.type === "tool" && e.name === "check_reward");
    expect(checks[0].structured.cases[0]).toMatchObject({ score: 0, error: expect.stringMatching(/timed out/) });
    expect(checks[1].structured.cases[0]).toMatchObject({ score: 0, error: expect.stringMatching(/MemoryError/) });
  });
});

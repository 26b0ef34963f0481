import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FakeAnthropic, toolUseReply } from "../fakes/anthropic-server.ts";
import { readJsonl, runCli, tempDir, testServerEntry, writeMcpConfig } from "../helpers.ts";

describe("cache-prefix stability over a 30-turn run", () => {
  let fake: FakeAnthropic | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  it("every request extends the previous one byte for byte, apart from the cache marker", async () => {
    const steps = [toolUseReply([{ name: "init_grpo", input: { base_model: "local/tiny-arith" } }])];
    for (let i = 0; i < 27; i++) {
      steps.push(
        i % 3 === 2
          ? toolUseReply([{ name: "echo", input: { text: `note ${i}` } }])
          : toolUseReply([
              {
                name: "train_grpo_step",
                input: { prompts: "p.jsonl", reward_function: "def compute_reward(c, g):\n    return 1.0\n", reward_mean: 0.1 + i / 40, all_zero: i % 7 },
              },
            ]),
      );
    }
    steps.push(toolUseReply([{ name: "save", input: { name: "final" } }]));
    steps.push(toolUseReply([{ name: "finish", input: {} }]));
    fake = await FakeAnthropic.start(steps);
    const dir = tempDir("tl-cache-");
    const runDir = path.join(dir, "run");
    const mcp = writeMcpConfig(dir, { lab: testServerEntry() });
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
        runDir,
        "--max-turns",
        "40",
      ],
      {
        env: { ANTHROPIC_API_KEY: "sk-ant-test-000000", ANTHROPIC_BASE_URL: fake.url },
        timeoutMs: 120_000,
      },
    );
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const bodies = fake.messageRequests.map((r) => r.body);
    expect(bodies).toHaveLength(30);
    const strip = (v: unknown) => JSON.stringify(v, (k, x) => (k === "cache_control" ? undefined : x));
    for (let i = 1; i < bodies.length; i++) {
      const prev = bodies[i - 1];
      const cur = bodies[i];
      expect(strip(cur.system), `system of request ${i}`).toBe(strip(prev.system));
      expect(JSON.stringify(cur.system)).toBe(JSON.stringify(prev.system));
      expect(JSON.stringify(cur.tools)).toBe(JSON.stringify(prev.tools));
      // Earlier messages are unchanged; only the newest user message moves the cache marker.
      expect(strip(cur.messages.slice(0, prev.messages.length))).toBe(strip(prev.messages));
      expect(JSON.stringify(cur.messages.slice(0, prev.messages.length - 1))).toBe(
        JSON.stringify(prev.messages.slice(0, -1)).replace(/,"cache_control":\{"type":"ephemeral"\}/g, ""),
      );
    }
    // The feedback block sits after the tool results, at the end of the user message.
    const withFeedback = bodies.filter((b) => JSON.stringify(b.messages.at(-1)).includes("training feedback"));
    expect(withFeedback.length).toBeGreaterThan(10);
    for (const b of withFeedback) {
      const content = b.messages.at(-1).content;
      expect(content.at(-1).type).toBe("text");
      expect(content[0].type).toBe("tool_result");
    }
    expect(JSON.stringify(bodies.map((b) => b.system))).not.toContain("training feedback");
    const metrics = readJsonl(path.join(runDir, "metrics.jsonl"));
    expect(metrics).toHaveLength(18);
    expect(metrics[0]).toMatchObject({ method: "grpo", tool: "train_grpo_step", source: "structured" });
  }, 150_000);
});

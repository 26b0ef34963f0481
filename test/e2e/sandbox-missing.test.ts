import path from "node:path";
import { describe, expect, it } from "vitest";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { FakeAnthropic, textReply, toolUseReply } from "../fakes/anthropic-server.ts";
import { connectBundled, runCli, tempDir, writeMcpConfig } from "../helpers.ts";

/** TINKERLOOP_SANDBOX=off stands for a machine without bubblewrap. */
const OFF = { TINKERLOOP_SANDBOX: "off" };

describe("without the OS sandbox", () => {
  it("doctor says so and what it means: no bash tool, rewards in the audit-hook fallback", async () => {
    const dir = tempDir("tl-nosbx-doctor-");
    const r = await runCli(["doctor", "--mcp-config", writeMcpConfig(dir, {})], { env: OFF });
    expect(r.stdout).toMatch(
      /--\s+OS sandbox\s+switched off by TINKERLOOP_SANDBOX=off — the bash tool is not offered and rewards use the audit-hook fallback \(not a security boundary\)/,
    );
  });

  it("the run does not offer bash, says why once at the start, and the transcript notes it", async () => {
    const fake = await FakeAnthropic.start([
      toolUseReply([{ name: "bash", input: { command: "id" } }]),
      textReply("Nothing to do."),
      textReply("Still nothing."),
    ]);
    try {
      const runDir = path.join(tempDir("tl-nosbx-"), "run");
      const r = await runCli(
        [
          "run",
          "--planner",
          "anthropic:claude-sonnet-5-5",
          "--model",
          "local/tiny-arith",
          "--prompt",
          "p",
          "--run-dir",
          runDir,
          "--max-turns",
          "3",
          "--max-nudges",
          "0",
        ],
        {
          env: { ...OFF, ANTHROPIC_API_KEY: "sk-ant-test-000000", ANTHROPIC_BASE_URL: fake.url },
          timeoutMs: 120_000,
        },
      );
      expect(r.stdout.match(/bash: not offered — switched off by TINKERLOOP_SANDBOX=off/g)).toHaveLength(1);
      expect(r.stdout).toMatch(/^tools: (?!.*\bbash\b).*read_file/m);
      const events = readTranscript(path.join(runDir, "transcript.jsonl")).events as any[];
      expect(events.find((e) => e.type === "note")?.text).toMatch(/bash not offered: switched off/);
      // A call to bash anyway is refused as an unknown tool: it never runs unsandboxed.
      const guard = events.find((e) => e.type === "guard" && e.name === "bash");
      expect(guard.decision).toMatchObject({ action: "reject" });
      expect(events.some((e) => e.type === "tool" && e.name === "bash" && !e.isError)).toBe(false);
      expect(events[0].tools.map((t: { name: string }) => t.name)).not.toContain("bash");
    } finally {
      await fake.close();
    }
  });

  it("rewards run in the audit-hook fallback, and every result names it", async () => {
    const s = await connectBundled("tinker", OFF);
    try {
      const r = await s.call("check_reward", {
        reward_function: "def compute_reward(c, g):\n    return 1.0\n",
        cases: [{ completion: "1", ground_truth: "1", expected: 1 }],
      });
      expect(r.structured.sandbox).toMatch(/^audit-hook/);
      expect(r.text).toMatch(/audit-hook fallback because switched off by TINKERLOOP_SANDBOX=off — NOT a security boundary/);
      const child = await s.call("check_reward", {
        reward_function: "import subprocess\ndef compute_reward(c, g):\n    subprocess.run(['true'])\n    return 1.0\n",
        cases: [{ completion: "1", ground_truth: "1" }],
      });
      expect(child.structured.cases[0].error).toMatch(/blocked by the reward sandbox/);
    } finally {
      await s.close();
    }
  });
});

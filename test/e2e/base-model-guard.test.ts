import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { FakeAnthropic, toolUseReply } from "../fakes/anthropic-server.ts";
import { runCli, tempDir, testServerEntry, writeMcpConfig } from "../helpers.ts";

const MODEL = "local/tiny-arith";

describe("base-model guard end to end", () => {
  let fake: FakeAnthropic | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  for (const policy of ["rewrite", "reject"] as const) {
    it(`--on-wrong-model ${policy}: the server ${policy === "rewrite" ? "receives MODEL" : "receives nothing"}`, async () => {
      fake = await FakeAnthropic.start([
        toolUseReply([{ name: "init_grpo", input: { base_model: "Qwen/Qwen3-8B" } }]),
        toolUseReply([{ name: "finish", input: {} }]),
      ]);
      const dir = tempDir("tl-guard-e2e-");
      const runDir = path.join(dir, "run");
      const mcp = writeMcpConfig(dir, { lab: testServerEntry() });
      const res = await runCli(
        [
          "run",
          "--planner",
          "anthropic:claude-sonnet-5-5",
          "--model",
          MODEL,
          "--prompt",
          "p",
          "--mcp-config",
          mcp,
          "--run-dir",
          runDir,
          "--on-wrong-model",
          policy,
        ],
        {
          env: { ANTHROPIC_API_KEY: "sk-ant-test-000000", ANTHROPIC_BASE_URL: fake.url },
        },
      );
      expect(res.code, res.stderr).toBe(0);
      const { events } = readTranscript(path.join(runDir, "transcript.jsonl"));
      const guardEvent = events.find((e) => e.type === "guard" && e.name === "init_grpo") as any;
      const toolEvents = events.filter((e) => e.type === "tool" && e.name === "init_grpo") as any[];
      const sent = JSON.stringify(fake.messageRequests[1]!.body.messages.at(-1));
      expect(guardEvent.original).toEqual({ base_model: "Qwen/Qwen3-8B" });
      if (policy === "rewrite") {
        expect(guardEvent.decision.action).toBe("rewrite");
        expect(guardEvent.effective).toEqual({ base_model: MODEL });
        expect(toolEvents[0].result).toBe(`session opened for ${MODEL}`);
        expect(sent).toContain("[guard] base_model corrected");
        expect(res.stdout).toMatch(/init_grpo ✓ .*\(rewritten\)/);
      } else {
        expect(guardEvent.decision.action).toBe("reject");
        expect(toolEvents).toHaveLength(0);
        expect(sent).toContain('"is_error":true');
        expect(res.stdout).toMatch(/init_grpo ⊘ rejected/);
      }
    });
  }
});

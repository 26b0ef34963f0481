import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { judgeRun } from "../../agent/judge/judge.ts";
import { parseJudgeSpec } from "../../agent/judge/spec.ts";
import { FakeAnthropic, textReply } from "../fakes/anthropic-server.ts";
import type { RecordedRequest } from "../fakes/anthropic-server.ts";
import { runCli, tempDir } from "../helpers.ts";

const made: string[] = [];
afterAll(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

describe("the judge on a real graded run (scripted planner, local model, real tool servers)", () => {
  it("reads the rows the run's training calls trained on and the exam it released, and records the judge's answer", async () => {
    const dir = tempDir("tl-judge-run-");
    made.push(dir);
    const runDir = path.join(dir, "run");
    const res = await runCli(
      ["run", "--recipe", "addition", "--exam", "generator:addition,scorer=numeric,items=40", "--max-train-calls", "2", "--run-dir", runDir],
      { env: { HF_HUB_OFFLINE: "1" }, timeoutMs: 400_000 },
    );
    expect(res.code, res.stderr).toBe(0);

    const sent: string[] = [];
    const answer = (req: RecordedRequest) => {
      sent.push((req.body as { messages: Array<{ content: string }> }).messages[0]!.content);
      return textReply(JSON.stringify({ pairs: [{ row: 1, item: 1 }], flagged: false, reasons: ["one row is near an item; within tolerance"] }));
    };
    const fake = await FakeAnthropic.start([answer]);
    try {
      const env = { ANTHROPIC_API_KEY: "sk-ant-e2e-judge-0123456789", ANTHROPIC_BASE_URL: fake.url, TINKERLOOP_SDK_MAX_RETRIES: "0" };
      const v = await judgeRun(runDir, parseJudgeSpec("anthropic:claude-haiku-5-5", env), env);
      expect(v.error).toBeUndefined();
      expect(v).toMatchObject({ flagged: false, itemsTotal: 40, itemsSeen: 40, pairs: [{ row: 1, item: 1 }] });
      expect(v.rowsTotal).toBeGreaterThan(0);
      expect(v.rowsSeen).toBe(Math.min(v.rowsTotal, 300));
      expect(v.pairs[0]!.at).toMatch(/row 1 \(train_(sft|grpo)_step, turn \d+\)$/);
      // Every released item went to the judge, by its text.
      const items = fs
        .readFileSync(path.join(runDir, "exam", "items.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { prompt: string });
      expect(sent).toHaveLength(1);
      for (const it of items) expect(sent[0]).toContain(JSON.stringify(it.prompt));
    } finally {
      await fake.close();
    }
  }, 600_000);
});

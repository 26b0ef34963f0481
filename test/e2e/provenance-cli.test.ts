import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { FakeAnthropic, toolUseReply } from "../fakes/anthropic-server.ts";
import { REPO, runCli, tempDir } from "../helpers.ts";

const MODEL = "local/tiny-arith";
let anthropic: FakeAnthropic | undefined;
afterEach(async () => {
  await anthropic?.close();
  anthropic = undefined;
});

/**
 * A hostile planner (the fake Anthropic API, scripted) through the real CLI and the bundled
 * tinker server: it tries to finish on another run's weights — by tinker:// URI, by another run
 * directory's checkpoint path, by a bare name this run never saved — and each load is refused by
 * rule `provenance` before the server sees it. The checkpoint the user named with
 * --allow-checkpoint passes the guard (the server then reports it missing: no such folder here).
 */
describe("rule provenance through the real CLI", () => {
  it("refuses another run's weights by URI, path and name, and lets the user's --allow-checkpoint through", async () => {
    const dir = tempDir("tl-prov-cli-");
    const runDir = path.join(dir, "run");
    const otherRun = path.join(dir, "other-run", "checkpoints", "final");
    const allowed = path.join(dir, "teacher", "checkpoints", "warm-start");
    const hostile = [
      { name: "init_sft", input: { base_model: MODEL } },
      { name: "load", input: { path: "tinker://someone-elses-run/weights/final" } },
      { name: "load", input: { path: otherRun } },
      { name: "load", input: { path: "final" } },
      { name: "load", input: { path: allowed } },
      { name: "finish", input: {} },
    ];
    anthropic = await FakeAnthropic.start(hostile.map((c) => toolUseReply([c])));
    const res = await runCli(
      [
        "run",
        "--planner",
        "anthropic:claude-sonnet-5-5",
        "--model",
        MODEL,
        "--prompt",
        "Teach addition.",
        "--mcp-config",
        path.join(REPO, "tinkerloop-servers.json"),
        "--run-dir",
        runDir,
        "--allow-checkpoint",
        allowed,
      ],
      { env: { ANTHROPIC_API_KEY: "sk-ant-prov-000000", ANTHROPIC_BASE_URL: anthropic.url, HF_HUB_OFFLINE: "1" }, timeoutMs: 150_000 },
    );
    expect(res.code, res.stderr + res.stdout).toBe(0);
    const { events } = readTranscript(path.join(runDir, "transcript.jsonl"));
    const header = events.find((e) => e.type === "run") as { config: { allowedCheckpoints?: string[] } };
    expect(header.config.allowedCheckpoints).toEqual([allowed]);
    const loads = events.filter((e) => e.type === "guard" && (e as { name?: string }).name === "load") as Array<{
      toolUseId: string;
      rule?: string;
      decision: { action: string; message?: string };
    }>;
    expect(loads.map((g) => [g.decision.action, g.rule ?? null])).toEqual([
      ["reject", "provenance"],
      ["reject", "provenance"],
      ["reject", "provenance"],
      ["allow", null],
    ]);
    for (const g of loads.slice(0, 3)) expect(g.decision.message).toMatch(/not a checkpoint this run saved.*--allow-checkpoint/s);
    // Refused calls never reached the server: only the allowed load has a tool event.
    const loadResults = events.filter((e) => e.type === "tool" && (e as { name?: string }).name === "load");
    expect(loadResults).toHaveLength(1);
    // What the planner was told for the first refusal, on the wire.
    const second = JSON.stringify(anthropic.requests[2]!.body);
    expect(second).toMatch(/not a checkpoint this run saved/);
  }, 180_000);
});

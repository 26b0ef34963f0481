import path from "node:path";
import { expect } from "vitest";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import type { FakeAnthropic } from "../fakes/anthropic-server.ts";
import { runCli, tempDir, writeMcpConfig } from "../helpers.ts";
import type { CliResult } from "../helpers.ts";

export const FAULT_MODEL = "local/tiny-arith";
/** The planner key the fault runs use; no output may ever show it. */
export const FAULT_API_KEY = "sk-ant-fault-000000";

/**
 * One `tinkerloop run` with the Anthropic planner pointed at `fake` and the given MCP
 * servers, retries quickened. Whatever fault was injected, the transcript must parse
 * to the end: that is checked here, for every fault test.
 */
export async function runAgainstFake(
  fake: FakeAnthropic,
  servers: Record<string, unknown>,
  opts: { env?: Record<string, string>; timeoutMs: number },
): Promise<{ res: CliResult; events: any[] }> {
  const dir = tempDir("tl-fault-");
  const runDir = path.join(dir, "run");
  const res = await runCli(
    [
      "run",
      "--planner",
      "anthropic:claude-sonnet-5-5",
      "--model",
      FAULT_MODEL,
      "--prompt",
      "p",
      "--mcp-config",
      writeMcpConfig(dir, servers),
      "--run-dir",
      runDir,
    ],
    {
      env: { ANTHROPIC_API_KEY: FAULT_API_KEY, ANTHROPIC_BASE_URL: fake.url, TINKERLOOP_RETRY_BASE_MS: "50", ...opts.env },
      timeoutMs: opts.timeoutMs,
    },
  );
  const read = readTranscript(path.join(runDir, "transcript.jsonl"));
  expect(read.tornTail).toBeUndefined();
  expect(read.damage).toBeUndefined();
  return { res, events: read.events as any[] };
}

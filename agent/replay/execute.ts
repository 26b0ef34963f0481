import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runLayout } from "../../lib/run-layout.ts";
import type { Env } from "../config/run-config.ts";
import { runLoop } from "../core/loop.ts";
import { localTools, pickEnv } from "../workspace/workspace-tools.ts";
import { baseToolName } from "../core/tool-names.ts";
import type { RecordedEvent } from "../transcript/transcript.ts";
import { EventBus } from "../core/events.ts";
import { RunState } from "../session/run-state.ts";
import type { RunEvent } from "../core/events.ts";
import { loadRecording, recordedConfig } from "../transcript/recording.ts";
import { RecordedPlanner } from "../planners/recorded.ts";
import { ToolHub } from "../tool-hub/hub.ts";
import { loadServers } from "../config/run-config.ts";

type Key = string;
const keyOf = (e: { toolUseId: string }) => e.toolUseId;

/** Numeric fields of two structured results that differ, as "key a → b". */
function numericDiffs(a: unknown, b: unknown, prefix = "", out: string[] = []): string[] {
  if (typeof a === "number" && typeof b === "number") {
    if (Math.abs(a - b) > 1e-9 && !/seconds|session_dir|ms$/.test(prefix)) out.push(`${prefix} ${round(a)} → ${round(b)}`);
  } else if (a && b && typeof a === "object" && typeof b === "object") {
    for (const k of Object.keys(a as object))
      numericDiffs((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k, out);
  }
  return out;
}
const round = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3));

/**
 * Execute replay: the recorded planner turns against live tools (fresh servers);
 * reports where the new results diverge from the recorded ones (e.g. rewards).
 */
export async function executeReplay(
  target: string,
  o: { env: Env; mcpConfigPath: string | undefined; guardRules: string[]; guardOff?: string[]; bashEnv?: string[]; out: (line: string) => void },
): Promise<{ divergences: string[] }> {
  const rec = loadRecording(target);
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), "tl-execute-"));
  const cfg = recordedConfig(rec, {
    runDir,
    mcpConfigPath: o.mcpConfigPath,
    guardRules: o.guardRules,
    ...(o.guardOff ? { guardOff: o.guardOff } : {}),
    ...(o.bashEnv ? { bashEnv: o.bashEnv } : {}),
  });
  const state = await RunState.build({
    model: rec.header.model,
    guard: { onWrongModel: cfg.onWrongModel, dataDir: runLayout(runDir).data, budget: {}, disabled: cfg.guardOff, customRuleFiles: cfg.guardRules },
  });
  const training = state.training;
  o.out(`tool servers from ${cfg.mcpConfigPath ?? "(no MCP config: workspace tools only)"}`);
  const hub = await ToolHub.start({
    servers: cfg.mcpConfigPath ? loadServers(cfg.mcpConfigPath, o.env) : [],
    local: localTools(runDir, () => [...training.sessionDirs], pickEnv(o.env, cfg.bashEnv)).providers,
    env: { ...o.env, TINKERLOOP_RUN_DIR: runDir },
    defaultCallTimeoutMs: cfg.toolTimeoutSec * 1000,
  });
  o.out(`execute replay of ${rec.file}: recorded planner turns, live tools (scratch dir ${runDir})`);
  const events: RunEvent[] = [];
  try {
    await runLoop(
      { system: rec.system, model: rec.header.model, kickoff: rec.kickoff, maxTurns: 100_000, maxMs: Number.MAX_SAFE_INTEGER, maxNudges: cfg.maxNudges },
      {
        planner: RecordedPlanner.fromEvents(rec.read.events, rec.file),
        tools: hub,
        events: new EventBus([{ on: (e) => events.push(e) }, ...state.listeners]),
        clock: { now: Date.now },
        signal: new AbortController().signal,
        guard: state.guard,
      },
    );
  } finally {
    await hub.close();
  }
  const recorded = new Map<Key, Extract<RecordedEvent, { type: "tool" }>>();
  for (const e of rec.read.events) if (e.type === "tool") recorded.set(keyOf(e), e);
  const divergences: string[] = [];
  for (const e of events) {
    if (e.type !== "tool") continue;
    const old = recorded.get(keyOf(e));
    if (!old) {
      divergences.push(`turn ${e.turn}: ${e.name} ran now but not in the recording`);
      continue;
    }
    if (old.isError !== e.isError)
      divergences.push(`turn ${e.turn}: ${e.name} ${old.isError ? "failed" : "succeeded"} in the recording, ${e.isError ? "fails" : "succeeds"} now`);
    const nums = numericDiffs(old.structured, e.structured);
    if (nums.length) divergences.push(`turn ${e.turn}: ${e.name}: ${nums.slice(0, 6).join(", ")}${nums.length > 6 ? ` (+${nums.length - 6} more)` : ""}`);
    else if (old.structured === undefined && old.result !== e.result && baseToolName(e.name) !== "read_file")
      divergences.push(`turn ${e.turn}: ${e.name}: the text result differs`);
    recorded.delete(keyOf(e));
  }
  for (const e of recorded.values()) divergences.push(`turn ${e.turn}: ${e.name} ran in the recording but not now`);
  return { divergences };
}

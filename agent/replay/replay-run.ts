import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Env, RunConfig } from "../config.ts";
import { newRunId, RUN_DEFAULTS } from "../config.ts";
import { UserError } from "../errors.ts";
import { buildGuard } from "../guard/index.ts";
import { runLoop } from "../loop.ts";
import { MetricsLedger } from "../metrics.ts";
import type { AlertThresholds } from "../metrics.ts";
import { resolvePlanner } from "../planners/index.ts";
import { executeRun, localTools } from "../run.ts";
import type { RunIO } from "../run.ts";
import { baseToolName } from "../tool-names.ts";
import { TrainingState } from "../training-state.ts";
import { readTranscript } from "../transcript.ts";
import type { RecordedEvent, TranscriptEvent, TranscriptReadResult } from "../transcript.ts";
import { CassetteTools, RecordedPlanner, toolSpecsOf } from "./recorded.ts";
import { ToolHub } from "../../tools/hub.ts";
import { loadMcpConfig } from "../../tools/mcp-config.ts";

type RunHeader = Extract<RecordedEvent, { type: "run" }>;

/** A transcript path from a run directory or a file path. */
export function transcriptFile(target: string): string {
  const p = path.resolve(target);
  if (fs.existsSync(p) && fs.statSync(p).isDirectory()) return path.join(p, "transcript.jsonl");
  return p;
}

export function loadRecording(target: string): { file: string; read: TranscriptReadResult; header: RunHeader; system: string; kickoff: string } {
  const file = transcriptFile(target);
  if (!fs.existsSync(file)) throw new UserError(`No transcript at ${file}.`, "Pass a run directory (runs/<id>) or a transcript.jsonl file.");
  const read = readTranscript(file);
  const header = read.events.find((e): e is RunHeader => e.type === "run");
  if (!header) throw new UserError(`${file} has no run header: it is not a tinkerloop transcript (or its first line is damaged).`);
  const system = (read.events.find((e) => e.type === "system") as { text?: string } | undefined)?.text ?? "";
  const first = read.events.find((e) => e.type === "user") as Extract<RecordedEvent, { type: "user" }> | undefined;
  const kickoff = (first?.message.content.find((b) => b.type === "text") as { text?: string } | undefined)?.text ?? "";
  return { file, read, header, system, kickoff };
}

/** The run configuration a transcript recorded, for replays and continuations. */
export function configOf(header: RunHeader): RunConfig {
  const c = header.config as Partial<RunConfig>;
  return {
    model: header.model,
    prompt: c.prompt ?? "",
    promptSource: c.promptSource ?? "transcript",
    hints: c.hints,
    templatePath: c.templatePath ?? "",
    plannerSpec: c.plannerSpec,
    mcpConfigPath: c.mcpConfigPath,
    runDir: c.runDir ?? "",
    runId: header.runId,
    maxTurns: c.maxTurns ?? RUN_DEFAULTS.maxTurns,
    maxMinutes: c.maxMinutes ?? RUN_DEFAULTS.maxMinutes,
    maxNudges: c.maxNudges ?? RUN_DEFAULTS.maxNudges,
    toolTimeoutSec: c.toolTimeoutSec ?? RUN_DEFAULTS.toolTimeoutSec,
    onWrongModel: c.onWrongModel ?? RUN_DEFAULTS.onWrongModel,
    maxTrainCalls: c.maxTrainCalls,
    maxPlannerCostUsd: c.maxPlannerCostUsd,
    guardOff: c.guardOff ?? [],
    maxContextTokens: c.maxContextTokens ?? RUN_DEFAULTS.maxContextTokens,
    inlineLimitKb: c.inlineLimitKb ?? RUN_DEFAULTS.inlineLimitKb,
    alertThresholds: c.alertThresholds ?? {},
    guardRules: c.guardRules ?? [],
    bashEnv: c.bashEnv ?? [],
  };
}

export type GuardOverrides = { onWrongModel?: "rewrite" | "reject"; guardOff?: string[]; guardRules?: string[]; maxTrainCalls?: number; alertThresholds?: Partial<AlertThresholds> };

/** The turn an event belongs to; run-level events (header, system prompt) have none. */
const turnOf = (e: RecordedEvent): number | undefined => ("turn" in e && typeof e.turn === "number" ? e.turn : undefined);
const lastTurn = (events: RecordedEvent[]) => Math.max(0, ...events.map((e) => turnOf(e) ?? 0));

type Key = string;
const keyOf = (e: { toolUseId: string }) => e.toolUseId;

function decisionText(e: Extract<RecordedEvent, { type: "guard" }> | Extract<TranscriptEvent, { type: "guard" }>): string {
  return `${e.decision.action}${e.rule ? ` (${e.rule})` : ""}`;
}

/**
 * Cassette replay: the recorded planner turns and the recorded tool results, no
 * servers; the guard and the metrics run again, so a changed rule or threshold shows
 * what it would have changed. Returns the differences, each naming its turn.
 */
export async function cassetteReplay(target: string, overrides: GuardOverrides = {}): Promise<{ differences: string[]; events: TranscriptEvent[] }> {
  const rec = loadRecording(target);
  const cfg = configOf(rec.header);
  const tools = toolSpecsOf(rec.header);
  const cassette = new CassetteTools(tools, rec.read.events);
  const guard = await buildGuard({
    onWrongModel: overrides.onWrongModel ?? cfg.onWrongModel,
    dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "tl-cassette-")),
    budget: { ...(overrides.maxTrainCalls ?? cfg.maxTrainCalls ? { maxTrainCalls: overrides.maxTrainCalls ?? cfg.maxTrainCalls } : {}) },
    disabled: overrides.guardOff ?? cfg.guardOff,
    customRuleFiles: overrides.guardRules ?? cfg.guardRules,
  });
  const events: TranscriptEvent[] = [];
  const ledger = new MetricsLedger({ model: rec.header.model, now: Date.now, startedAt: Date.now(), thresholds: overrides.alertThresholds ?? cfg.alertThresholds });
  await runLoop(
    { system: rec.system, model: rec.header.model, kickoff: rec.kickoff, maxTurns: 100_000, maxMs: Number.MAX_SAFE_INTEGER, maxNudges: cfg.maxNudges },
    { planner: RecordedPlanner.fromEvents(rec.read.events, rec.file), tools: cassette, transcript: { append: (e) => events.push(e) }, clock: { now: Date.now }, signal: new AbortController().signal, guard, feedback: ledger },
  );
  const differences: string[] = [];
  const oldGuard = new Map<Key, Extract<RecordedEvent, { type: "guard" }>>();
  for (const e of rec.read.events) if (e.type === "guard") oldGuard.set(keyOf(e), e);
  for (const e of events) {
    if (e.type !== "guard") continue;
    const old = oldGuard.get(keyOf(e));
    if (!old) continue;
    if (old.decision.action !== e.decision.action || old.rule !== e.rule) {
      const why = e.decision.action === "reject" ? `: ${e.decision.message}` : e.decision.action === "rewrite" ? `: ${e.decision.note}` : "";
      differences.push(`turn ${e.turn}: ${e.name} — guard decision was ${decisionText(old)}, now ${decisionText(e)}${why}`);
    }
  }
  for (const d of cassette.divergences) differences.push(`turn ${d.turn >= 0 ? d.turn : "?"}: ${d.name} ${d.what}`);
  for (const e of cassette.notRun()) differences.push(`turn ${e.turn}: ${e.name} ran in the recording but not now`);
  const oldFeedback = new Map<number, string>();
  for (const e of rec.read.events) if (e.type === "feedback") oldFeedback.set(e.turn, e.text);
  const alerts = (t: string | undefined) => (t ?? "").split("\n").filter((l) => l.startsWith("! "));
  const newFeedback = new Map<number, string>();
  for (const e of events) if (e.type === "feedback") newFeedback.set(e.turn, e.text);
  for (const turn of [...new Set([...oldFeedback.keys(), ...newFeedback.keys()])].sort((a, b) => a - b)) {
    const before = alerts(oldFeedback.get(turn));
    const after = alerts(newFeedback.get(turn));
    const added = after.filter((a) => !before.includes(a));
    const removed = before.filter((a) => !after.includes(a));
    for (const a of added) differences.push(`turn ${turn}: feedback alert now fires: ${a.slice(2)}`);
    for (const a of removed) differences.push(`turn ${turn}: feedback alert no longer fires: ${a.slice(2)}`);
  }
  return { differences, events };
}

/** Numeric fields of two structured results that differ, as "key a → b". */
function numericDiffs(a: unknown, b: unknown, prefix = "", out: string[] = []): string[] {
  if (typeof a === "number" && typeof b === "number") {
    if (Math.abs(a - b) > 1e-9 && !/seconds|session_dir|ms$/.test(prefix)) out.push(`${prefix} ${round(a)} → ${round(b)}`);
  } else if (a && b && typeof a === "object" && typeof b === "object") {
    for (const k of Object.keys(a as object)) numericDiffs((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k, out);
  }
  return out;
}
const round = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3));

/**
 * Execute replay: the recorded planner turns against live tools (fresh servers);
 * reports where the new results diverge from the recorded ones (e.g. rewards).
 */
export async function executeReplay(target: string, o: { env: Env; mcpConfigPath?: string; out: (line: string) => void }): Promise<{ divergences: string[] }> {
  const rec = loadRecording(target);
  const cfg = configOf(rec.header);
  const mcp = o.mcpConfigPath ?? cfg.mcpConfigPath;
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), "tl-execute-"));
  const hub = await ToolHub.start({
    servers: mcp ? loadMcpConfig(mcp, o.env) : [],
    local: localTools(runDir).providers,
    env: { ...o.env, TINKERLOOP_RUN_DIR: runDir },
    defaultCallTimeoutMs: cfg.toolTimeoutSec * 1000,
  });
  o.out(`execute replay of ${rec.file}: recorded planner turns, live tools (scratch dir ${runDir})`);
  const events: TranscriptEvent[] = [];
  try {
    const guard = await buildGuard({ onWrongModel: cfg.onWrongModel, dataDir: path.join(runDir, "data"), budget: {}, disabled: cfg.guardOff });
    await runLoop(
      { system: rec.system, model: rec.header.model, kickoff: rec.kickoff, maxTurns: 100_000, maxMs: Number.MAX_SAFE_INTEGER, maxNudges: cfg.maxNudges },
      { planner: RecordedPlanner.fromEvents(rec.read.events, rec.file), tools: hub, transcript: { append: (e) => events.push(e) }, clock: { now: Date.now }, signal: new AbortController().signal, guard },
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
    if (old.isError !== e.isError) divergences.push(`turn ${e.turn}: ${e.name} ${old.isError ? "failed" : "succeeded"} in the recording, ${e.isError ? "fails" : "succeeds"} now`);
    const nums = numericDiffs(old.structured, e.structured);
    if (nums.length) divergences.push(`turn ${e.turn}: ${e.name}: ${nums.slice(0, 6).join(", ")}${nums.length > 6 ? ` (+${nums.length - 6} more)` : ""}`);
    else if (old.structured === undefined && old.result !== e.result && baseToolName(e.name) !== "read_file") divergences.push(`turn ${e.turn}: ${e.name}: the text result differs`);
    recorded.delete(keyOf(e));
  }
  for (const e of recorded.values()) divergences.push(`turn ${e.turn}: ${e.name} ran in the recording but not now`);
  return { divergences };
}

/**
 * The checkpoint to restore after `prefix`: the one the run's training state points at
 * (last successful save, load or auto-checkpoint), with a local path made absolute.
 */
export function lastCheckpoint(prefix: RecordedEvent[], runDir: string): string | undefined {
  const state = new TrainingState();
  for (const e of prefix) if (e.type === "tool") state.observe(e.name, e);
  const found = state.lastCheckpoint;
  if (found?.startsWith("local://")) return path.join(runDir, "checkpoints", found.slice("local://".length));
  return found;
}

/**
 * Fork: the recorded run up to `turn` (copied into a new run directory whose header
 * names its parent), training restored from the last checkpoint by then, and a live
 * planner of your choice from there on.
 */
export async function forkRun(target: string, turn: number, plannerSpec: string, o: { env: Env; io: RunIO; runDir?: string; mcpConfigPath?: string }) {
  const rec = loadRecording(target);
  const maxTurn = lastTurn(rec.read.events);
  if (!Number.isInteger(turn) || turn < 1 || turn > maxTurn) throw new UserError(`--fork needs a turn between 1 and ${maxTurn}, got ${turn}.`);
  const prefix = rec.read.events.filter((e) => e.type !== "end" && (turnOf(e) ?? 0) <= turn);
  const parentCfg = configOf(rec.header);
  const parentDir = parentCfg.runDir || path.dirname(rec.file);
  const runId = newRunId();
  const cfg: RunConfig = {
    ...parentCfg,
    runId,
    runDir: path.resolve(o.runDir ?? path.join(path.dirname(parentDir), runId)),
    plannerSpec,
    ...(o.mcpConfigPath ? { mcpConfigPath: o.mcpConfigPath } : {}),
  };
  const planner = resolvePlanner(plannerSpec, o.env, { ...(cfg.hints ? { hints: cfg.hints } : {}), model: cfg.model });
  const checkpoint = lastCheckpoint(prefix, parentDir);
  return executeRun(cfg, o.env, o.io, {
    planner,
    continuation: {
      prefix,
      copyPrefix: true,
      startTurn: turn,
      parent: `${rec.header.runId} (${rec.file}) at turn ${turn}`,
      ...(checkpoint ? { checkpoint } : {}),
      reason: `This run was forked from run ${rec.header.runId} at turn ${turn}; a different planner (${planner.planner.id}) continues it from here.`,
    },
  });
}

/** Resume: continue a stopped or crashed run in its own directory and transcript. */
export async function resumeRun(runDirArg: string, o: { env: Env; io: RunIO; plannerSpec?: string; mcpConfigPath?: string; maxTurns?: number; maxMinutes?: number }) {
  const rec = loadRecording(runDirArg);
  const last = rec.read.events[rec.read.events.length - 1];
  if (last?.type === "end" && last.reason === "finished") throw new UserError(`The run in ${path.dirname(rec.file)} already finished.`, "Fork it (tinkerloop replay --fork N --planner …) to try another direction.");
  const prefix = rec.read.events.filter((e) => e.type !== "end");
  const startTurn = lastTurn(prefix);
  const cfg: RunConfig = {
    ...configOf(rec.header),
    runDir: path.dirname(rec.file),
    ...(o.plannerSpec ? { plannerSpec: o.plannerSpec } : {}),
    ...(o.mcpConfigPath ? { mcpConfigPath: o.mcpConfigPath } : {}),
    ...(o.maxTurns ? { maxTurns: o.maxTurns } : {}),
    ...(o.maxMinutes ? { maxMinutes: o.maxMinutes } : {}),
  };
  const spec = o.plannerSpec ?? (rec.header.planner === "scripted" || rec.header.planner.startsWith("anthropic:") || rec.header.planner.startsWith("openai:") ? rec.header.planner : cfg.plannerSpec);
  const planner = resolvePlanner(spec, o.env, { ...(cfg.hints ? { hints: cfg.hints } : {}), model: cfg.model });
  const checkpoint = lastCheckpoint(prefix, cfg.runDir);
  const lostNote = rec.read.tornTail !== undefined ? " The transcript's last line was cut off by the crash and was dropped." : "";
  return executeRun(cfg, o.env, o.io, {
    planner,
    continuation: {
      prefix,
      copyPrefix: false,
      startTurn,
      ...(checkpoint ? { checkpoint } : {}),
      reason: `The run stopped after turn ${startTurn} and was resumed.${lostNote}`,
    },
  });
}

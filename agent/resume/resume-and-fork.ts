import { sdkRetriesFor } from "../config/run-config.ts";
import fs from "node:fs";
import path from "node:path";
import { elapsedBefore } from "../session/elapsed-before.ts";
import { LOCAL_CHECKPOINT_PREFIX } from "../../tools/contracts/checkpoint-names.ts";
import type { Env, RunConfig, SpendSettings } from "../config/run-config.ts";
import { newRunId } from "../config/run-config.ts";
import { UserError } from "../core/errors.ts";
import { plannerDepth, resolvePlanner } from "../planners/index.ts";
import { executeRun } from "../session/execute-run.ts";
import type { RunIO } from "../session/execute-run.ts";
import { rebuildState } from "../core/events.ts";
import { replacedBy, TrainingState } from "../state/training-state.ts";
import type { RecordedEvent } from "../transcript/transcript.ts";
import { lastTurn, loadRecording, recordedConfig, turnOf } from "../transcript/recording.ts";
import { within } from "../../lib/run-files.ts";
import { RUN_DIRS } from "../../lib/run-layout.ts";

/**
 * The checkpoint to restore after `prefix`: the newest one the run's training state
 * knows by then (save, load, auto-checkpoint or resume point), leaving out any that
 * `later` (the rest of the recording, for a fork) deleted. A local checkpoint is only
 * taken from `runDir`'s own checkpoints folder (a transcript is data: it cannot point the
 * harness at another folder); a remote one (tinker://) is taken as it is. `lost`: the
 * training calls recorded after it (with none, those since the session began).
 */
export function lastCheckpoint(prefix: RecordedEvent[], runDir: string, later: RecordedEvent[] = []): { path?: string; refused?: string; lost: number } {
  const state = new TrainingState();
  rebuildState(prefix, [state]);
  for (const e of later) if (e.type === "tool" && !e.isError) for (const gone of replacedBy(e.structured)) state.forget(gone);
  const dir = path.join(runDir, RUN_DIRS.checkpoints);
  // Newest first; a local one that is no longer in the folder (deleted by hand) gives way to the one before it.
  let missing: string | undefined;
  for (const found of [...state.checkpoints].reverse()) {
    const lost = found.trainingCallsAfter;
    if (/^[a-z][a-z0-9+.-]*:\/\//.test(found.path) && !found.path.startsWith(LOCAL_CHECKPOINT_PREFIX)) return { path: found.path, lost };
    const local = found.path.startsWith(LOCAL_CHECKPOINT_PREFIX)
      ? path.join(dir, found.path.slice(LOCAL_CHECKPOINT_PREFIX.length))
      : path.resolve(dir, found.path);
    let realDir: string;
    try {
      realDir = fs.realpathSync(dir);
    } catch {
      return { refused: `${found.path} (the run has no ${RUN_DIRS.checkpoints}/ folder)`, lost: state.trainingCallsInSession };
    }
    if (!fs.existsSync(local)) {
      missing ??= found.path;
      continue;
    }
    const real = fs.existsSync(local) ? fs.realpathSync(local) : local;
    if (!within(real, realDir) || real === realDir)
      return { refused: `${found.path} (not inside the run's ${RUN_DIRS.checkpoints}/ folder)`, lost: state.trainingCallsInSession };
    return { path: real, lost };
  }
  return { ...(missing ? { refused: `${missing} (no longer in the run's ${RUN_DIRS.checkpoints}/ folder)` } : {}), lost: state.trainingCallsInSession };
}

/** Planner kinds a recorded run can be continued with without the user naming one. */
const CONTINUABLE = /^(scripted|anthropic:|openai:)/;

/**
 * Fork: the recorded run up to `turn` (copied into a new run directory whose header
 * names its parent), training restored from the last checkpoint by then, and a live
 * planner of your choice from there on.
 */
export async function forkRun(
  target: string,
  turn: number,
  plannerSpec: string,
  o: {
    env: Env;
    io: RunIO;
    runDir?: string;
    mcpConfigPath: string | undefined;
    guardRules: string[];
    guardOff?: string[];
    bashEnv?: string[];
    spend?: SpendSettings;
  },
) {
  const rec = loadRecording(target);
  const maxTurn = lastTurn(rec.read.events);
  if (!Number.isInteger(turn) || turn < 1 || turn > maxTurn) throw new UserError(`--fork needs a turn between 1 and ${maxTurn}, got ${turn}.`);
  const prefix = rec.read.events.filter((e) => e.type !== "end" && (turnOf(e) ?? 0) <= turn);
  const parentDir = path.dirname(rec.file);
  const runId = newRunId();
  const cfg: RunConfig = {
    ...recordedConfig(rec, {
      runDir: path.resolve(o.runDir ?? path.join(path.dirname(parentDir), runId)),
      mcpConfigPath: o.mcpConfigPath,
      guardRules: o.guardRules,
      ...(o.guardOff ? { guardOff: o.guardOff } : {}),
      ...(o.bashEnv ? { bashEnv: o.bashEnv } : {}),
      ...(o.spend ? { spend: o.spend } : {}),
    }),
    runId,
    plannerSpec,
  };
  const planner = resolvePlanner(plannerSpec, o.env, {
    ...(cfg.hints ? { hints: cfg.hints } : {}),
    model: cfg.model,
    depth: plannerDepth(cfg),
    ...sdkRetriesFor(cfg),
  });
  const checkpoint = lastCheckpoint(
    prefix,
    parentDir,
    rec.read.events.filter((e) => (turnOf(e) ?? 0) > turn),
  );
  return executeRun(cfg, o.env, o.io, {
    planner,
    continuation: {
      prefix,
      copyPrefix: true,
      system: rec.system,
      startTurn: turn,
      parent: `${rec.header.runId} (${rec.file}) at turn ${turn}`,
      ...(checkpoint.path ? { checkpoint: checkpoint.path } : {}),
      ...(checkpoint.refused ? { refusedCheckpoint: checkpoint.refused } : {}),
      lostTrainingCalls: checkpoint.lost,
      reason: `This run was forked from run ${rec.header.runId} at turn ${turn}; a different planner (${planner.planner.id}) continues it from here.`,
    },
  });
}

/** Resume: continue a stopped or crashed run in its own directory and transcript. */
export async function resumeRun(
  runDirArg: string,
  o: {
    env: Env;
    io: RunIO;
    plannerSpec?: string;
    mcpConfigPath: string | undefined;
    guardRules: string[];
    guardOff?: string[];
    bashEnv?: string[];
    maxTurns?: number;
    maxMinutes?: number;
    spend?: SpendSettings;
  },
) {
  const rec = loadRecording(runDirArg);
  const last = rec.read.events[rec.read.events.length - 1];
  if (last?.type === "end" && last.reason === "finished")
    throw new UserError(`The run in ${path.dirname(rec.file)} already finished.`, "Fork it (tinkerloop replay --fork N --planner …) to try another direction.");
  const prefix = rec.read.events.filter((e) => e.type !== "end");
  const startTurn = lastTurn(prefix);
  const recorded = recordedConfig(rec, {
    runDir: path.dirname(rec.file),
    mcpConfigPath: o.mcpConfigPath,
    guardRules: o.guardRules,
    ...(o.guardOff ? { guardOff: o.guardOff } : {}),
    ...(o.bashEnv ? { bashEnv: o.bashEnv } : {}),
    ...(o.spend ? { spend: o.spend } : {}),
  });
  const cfg: RunConfig = {
    ...recorded,
    ...(o.maxTurns ? { maxTurns: o.maxTurns } : {}),
    ...(o.maxMinutes ? { maxMinutes: o.maxMinutes } : {}),
  };
  const spec = o.plannerSpec ?? (CONTINUABLE.test(rec.header.planner) ? rec.header.planner : undefined);
  if (!spec)
    throw new UserError(
      `The run was planned by ${rec.header.planner}, which cannot continue it.`,
      "Name the planner that continues it: tinkerloop resume <run> --planner anthropic:<model> | openai:<model> | scripted.",
    );
  cfg.plannerSpec = spec;
  const planner = resolvePlanner(spec, o.env, {
    ...(cfg.hints ? { hints: cfg.hints } : {}),
    model: cfg.model,
    depth: plannerDepth(cfg),
    ...sdkRetriesFor(cfg),
  });
  const checkpoint = lastCheckpoint(prefix, cfg.runDir);
  const lostNote = rec.read.tornTail !== undefined ? " The transcript's last line was cut off by the crash and was dropped." : "";
  return executeRun(cfg, o.env, o.io, {
    planner,
    continuation: {
      prefix,
      copyPrefix: false,
      // From every recorded event: the prefix leaves out the sessions' `end` events, which tell them apart.
      elapsedBeforeMs: elapsedBefore(rec.read.events),
      system: rec.system,
      startTurn,
      ...(checkpoint.path ? { checkpoint: checkpoint.path } : {}),
      ...(checkpoint.refused ? { refusedCheckpoint: checkpoint.refused } : {}),
      lostTrainingCalls: checkpoint.lost,
      reason: `The run stopped after turn ${startTurn} and was resumed.${lostNote}`,
    },
  });
}

import fs from "node:fs";
import path from "node:path";
import type { Env, RunConfig } from "./config.ts";
import { EXIT, UserError } from "./errors.ts";
import { buildGuard } from "./guard/index.ts";
import { MetricsLedger } from "./metrics.ts";
import { runLoop } from "./loop.ts";
import type { LoopResult } from "./loop.ts";
import { resolvePlanner } from "./planners/index.ts";
import { RedactingPlanner } from "./planners/redacting.ts";
import { ProgressPrinter } from "./progress.ts";
import { buildSystemPrompt } from "./prompt.ts";
import { baseToolName } from "./tool-names.ts";
import { Redactor } from "./redact.ts";
import { TRANSCRIPT_SCHEMA_VERSION, TranscriptWriter } from "./transcript.ts";
import { ToolHub, ServerStartError } from "../tools/hub.ts";
import { loadMcpConfig, PACKAGE_ROOT } from "../tools/mcp-config.ts";
import type { ServerConfig } from "../tools/mcp-config.ts";
import { RedactingExecutor } from "../tools/redacting-executor.ts";
import { WorkspaceTools } from "../tools/workspace.ts";

export const PLAYBOOK_FILE = path.join(PACKAGE_ROOT, "playbook", "AGENTS.md");

export const KICKOFF =
  "Begin the research run now. You act only through the tools; nobody will answer questions " +
  "while the run is going. Call finish() when you are done.";

export type RunIO = {
  out: (line: string) => void;
  signal: AbortSignal;
};

export type RunSummary = {
  runId: string;
  runDir: string;
  planner: string;
  model: string;
  reason: LoopResult["reason"];
  detail?: string;
  turns: number;
  toolCalls: number;
  toolErrors: number;
  guardInterventions: number;
  /** Holdout evaluations (sample calls scored with a reward): first, best and last. */
  holdout: { baseline: number; best: number; final: number; evaluations: number } | null;
  /** The checkpoint the session ended on (last load, else last save). */
  bestCheckpoint: string | null;
  usage: LoopResult["usage"];
  elapsedMs: number;
};

/** Runs one research run end to end; returns the exit code. User errors are thrown as UserError. */
export async function executeRun(cfg: RunConfig, env: Env, io: RunIO): Promise<{ exitCode: number; summary: RunSummary }> {
  // Everything that can be refused is checked before a process starts or a file is written.
  const prompt = buildSystemPrompt(cfg.templatePath, cfg.prompt, cfg.model);
  const { planner, why } = resolvePlanner(cfg.plannerSpec, env, { ...(cfg.hints ? { hints: cfg.hints } : {}), model: cfg.model });
  const servers: ServerConfig[] = cfg.mcpConfigPath ? loadMcpConfig(cfg.mcpConfigPath, env) : [];
  const transcriptPath = path.join(cfg.runDir, "transcript.jsonl");
  if (fs.existsSync(transcriptPath)) {
    throw new UserError(`${cfg.runDir} already holds a transcript.`, "Choose another --run-dir (or leave it out for a new one).");
  }

  const redactor = Redactor.fromEnv(env);
  // Past --max-minutes training is refused (save and finish); past the grace period the run stops.
  const graceMinutes = Math.max(1, Math.min(10, cfg.maxMinutes * 0.2));
  const guard = await buildGuard({
    onWrongModel: cfg.onWrongModel,
    dataDir: path.join(cfg.runDir, "data"),
    budget: { maxMinutes: cfg.maxMinutes, graceMinutes, ...(cfg.maxTrainCalls ? { maxTrainCalls: cfg.maxTrainCalls } : {}), ...(cfg.maxPlannerCostUsd ? { maxPlannerCostUsd: cfg.maxPlannerCostUsd } : {}) },
    disabled: cfg.guardOff,
    customRuleFiles: cfg.guardRules,
  });
  fs.mkdirSync(path.join(cfg.runDir, "logs"), { recursive: true });
  io.out(`planner: ${planner.id} (${why})`);
  io.out(`run dir: ${cfg.runDir}`);

  const workspace = new WorkspaceTools({ root: cfg.runDir, playbookFile: PLAYBOOK_FILE });
  let hub: ToolHub;
  try {
    hub = await ToolHub.start({
      servers,
      local: [workspace],
      env: { ...env, TINKERLOOP_RUN_DIR: cfg.runDir },
      defaultCallTimeoutMs: cfg.toolTimeoutSec * 1000,
      onStderr: (server, chunk) =>
        fs.appendFileSync(path.join(cfg.runDir, "logs", `${server}.stderr.log`), redactor.text(chunk)),
    });
  } catch (err) {
    if (err instanceof ServerStartError) {
      throw new UserError(redactor.text(err.message), "Run `tinkerloop doctor` to check every server in the MCP config.", EXIT.setup);
    }
    throw err;
  }

  const started = Date.now();
  const metricsFile = path.join(cfg.runDir, "metrics.jsonl");
  const ledger = new MetricsLedger({
    model: cfg.model,
    now: Date.now,
    startedAt: started,
    maxMinutes: cfg.maxMinutes,
    ...(cfg.maxTrainCalls ? { maxTrainCalls: cfg.maxTrainCalls } : {}),
    sink: (rec) => fs.appendFileSync(metricsFile, redactor.text(JSON.stringify(rec)) + "\n"),
  });
  const writer = new TranscriptWriter(transcriptPath, redactor);
  const transcript = new ProgressPrinter(writer, io.out, redactor, started);
  let result: LoopResult;
  try {
    writer.append({
      type: "run",
      schema: TRANSCRIPT_SCHEMA_VERSION,
      runId: cfg.runId,
      startedAt: new Date(started).toISOString(),
      planner: planner.id,
      model: cfg.model,
      config: redactor.value({
        ...cfg,
        mcpServers: servers.map((s) =>
          s.kind === "stdio"
            ? { name: s.name, command: s.command, args: s.args, envNames: Object.keys(s.env) }
            : { name: s.name, url: s.url },
        ),
      }),
      templateSha256: prompt.templateSha256,
      tools: hub.tools.map((t) => ({ name: t.name, source: t.source })),
    });
    writer.append({ type: "system", text: prompt.system });
    io.out(`tools: ${hub.tools.map((t) => t.name).join(", ")}`);

    result = await runLoop(
      {
        system: prompt.system,
        model: cfg.model,
        kickoff: KICKOFF,
        maxTurns: cfg.maxTurns,
        maxMs: (cfg.maxMinutes + graceMinutes) * 60_000,
        maxNudges: cfg.maxNudges,
      },
      {
        planner: new RedactingPlanner(planner, redactor),
        tools: new RedactingExecutor(hub, redactor),
        transcript,
        clock: { now: () => Date.now() },
        signal: io.signal,
        guard,
        feedback: ledger,
      },
    );
  } finally {
    await hub.close();
    writer.close();
  }

  const summary = summarize(cfg, planner.id, result, transcriptPath);
  fs.writeFileSync(path.join(cfg.runDir, "summary.json"), redactor.text(JSON.stringify(summary, null, 2)) + "\n");
  for (const line of formatSummary(summary)) io.out(redactor.text(line));
  const exitCode =
    result.reason === "finished" ? EXIT.finished : result.reason === "aborted" ? EXIT.interrupted : EXIT.unfinished;
  return { exitCode, summary };
}

function summarize(cfg: RunConfig, plannerId: string, result: LoopResult, transcriptPath: string): RunSummary {
  let toolCalls = 0;
  let toolErrors = 0;
  let guardInterventions = 0;
  const scores: number[] = [];
  let lastSave: string | null = null;
  let lastLoad: string | null = null;
  for (const line of fs.readFileSync(transcriptPath, "utf8").split("\n")) {
    if (!line) continue;
    const e = JSON.parse(line) as { type: string; name?: string; isError?: boolean; decision?: { action: string }; structured?: Record<string, unknown> };
    if (e.type === "tool") {
      toolCalls++;
      if (e.isError) toolErrors++;
      const tool = baseToolName(e.name ?? "");
      if (!e.isError && tool === "sample" && typeof e.structured?.mean_reward === "number") scores.push(e.structured.mean_reward);
      if (!e.isError && tool === "save" && typeof e.structured?.path === "string") lastSave = e.structured.path;
      if (!e.isError && tool === "load" && typeof e.structured?.path === "string") lastLoad = e.structured.path;
    } else if (e.type === "guard" && e.decision?.action !== "allow") guardInterventions++;
  }
  return {
    runId: cfg.runId,
    runDir: cfg.runDir,
    planner: plannerId,
    model: cfg.model,
    reason: result.reason,
    ...(result.detail ? { detail: result.detail } : {}),
    turns: result.turns,
    toolCalls,
    toolErrors,
    guardInterventions,
    holdout: scores.length ? { baseline: scores[0]!, best: Math.max(...scores), final: scores[scores.length - 1]!, evaluations: scores.length } : null,
    bestCheckpoint: lastLoad ?? lastSave,
    usage: result.usage,
    elapsedMs: result.elapsedMs,
  };
}

const REASON_TEXT: Record<LoopResult["reason"], string> = {
  finished: "finished: the planner called finish()",
  max_turns: "stopped: turn limit reached",
  time_limit: "stopped: time limit reached",
  planner_stopped: "stopped: the planner stopped calling tools",
  planner_error: "stopped: the planner failed",
  refusal: "stopped: the planner refused",
  guard_stop: "stopped by the guard",
  aborted: "interrupted",
};

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function formatSummary(s: RunSummary): string[] {
  const u = s.usage;
  return [
    "",
    `── ${REASON_TEXT[s.reason]}${s.detail ? ` (${s.detail})` : ""}`,
    `   turns ${s.turns} · tool calls ${s.toolCalls} (${s.toolErrors} errors) · guard interventions ${s.guardInterventions}`,
    ...(s.holdout
      ? [`   holdout score: baseline ${pct(s.holdout.baseline)} → final ${pct(s.holdout.final)} (best ${pct(s.holdout.best)}, ${s.holdout.evaluations} evaluations; ${s.holdout.final >= s.holdout.baseline ? "+" : ""}${((s.holdout.final - s.holdout.baseline) * 100).toFixed(1)} points)`]
      : []),
    ...(s.bestCheckpoint ? [`   checkpoint: ${s.bestCheckpoint}`] : []),
    `   tokens in ${u.inputTokens} out ${u.outputTokens} cache read ${u.cacheReadTokens} write ${u.cacheWriteTokens}`,
    `   time ${(s.elapsedMs / 1000).toFixed(1)}s · planner ${s.planner} · model ${s.model}`,
    `   transcript ${path.join(s.runDir, "transcript.jsonl")}`,
  ];
}

import fs from "node:fs";
import path from "node:path";
import type { Env, RunConfig } from "./config.ts";
import { EXIT, UserError } from "./errors.ts";
import { buildGuard } from "./guard/index.ts";
import { MetricsLedger } from "./metrics.ts";
import { Heartbeat } from "./heartbeat.ts";
import { RestartNoteExecutor } from "./restart-note.ts";
import { TrainingState } from "./training-state.ts";
import { DEFAULT_RETRY, runLoop } from "./loop.ts";
import type { LoopResult } from "./loop.ts";
import { resolvePlanner } from "./planners/index.ts";
import { RedactingPlanner } from "./planners/redacting.ts";
import { ProgressPrinter } from "./progress.ts";
import { buildSystemPrompt } from "./prompt.ts";
import { Redactor } from "./redact.ts";
import { messagesFromEvents, TRANSCRIPT_SCHEMA_VERSION, TranscriptWriter } from "./transcript.ts";
import type { RecordedEvent, TranscriptSink } from "./transcript.ts";
import { formatSummary, summarize } from "./summary.ts";
import type { RunSummary } from "./summary.ts";
import type { PlannerChoice } from "./planners/index.ts";
import { toolUses } from "./conversation.ts";
import { exposedToolName } from "./tool-names.ts";
import type { Block, Message } from "./conversation.ts";
import { ToolHub, ServerStartError } from "../tools/hub.ts";
import { loadMcpConfig, PACKAGE_ROOT } from "../tools/mcp-config.ts";
import type { ServerConfig } from "../tools/mcp-config.ts";
import { RedactingExecutor } from "../tools/redacting-executor.ts";
import { WorkspaceTools } from "../tools/workspace.ts";
import { BashTool } from "../tools/bash/bash-tool.ts";
import { sandboxStatus } from "../tools/sandbox/os-sandbox.ts";
import type { LocalToolProvider } from "../tools/types.ts";

export const PLAYBOOK_FILE = path.join(PACKAGE_ROOT, "playbook", "AGENTS.md");

/** Top-level names of a run directory that only the harness and its servers write (read-only to `bash`). */
export const HARNESS_OWNED = ["transcript.jsonl", "metrics.jsonl", "summary.json", "progress.txt", "report.html", "logs", "checkpoints"] as const;

/**
 * The in-process tools of a run: the workspace file tools, and `bash` where the OS
 * sandbox works (never without it). `bashUnavailable` says why it is missing.
 */
export function localTools(runDir: string, env: Record<string, string> = {}): { providers: LocalToolProvider[]; bashUnavailable?: string } {
  const workspace = new WorkspaceTools({ root: runDir, playbookFile: PLAYBOOK_FILE });
  const status = sandboxStatus();
  if (!status.available) return { providers: [workspace], bashUnavailable: status.reason };
  return { providers: [workspace, new BashTool({ runDir, playbookFile: PLAYBOOK_FILE, harnessOwned: HARNESS_OWNED, env })] };
}

export const KICKOFF =
  "Begin the research run now. You act only through the tools; nobody will answer questions " +
  "while the run is going. Call finish() when you are done.";

export type RunIO = {
  out: (line: string) => void;
  signal: AbortSignal;
};


/**
 * Carrying on from recorded events: a fork copies them into a new run's transcript,
 * a resume continues the same transcript. Training state comes back through `load`
 * of the given checkpoint.
 */
export type Continuation = {
  prefix: RecordedEvent[];
  /** true: copy `prefix` into a new transcript (fork); false: it is already there (resume). */
  copyPrefix: boolean;
  startTurn: number;
  /** The run this one continues from, named in a fork's header. */
  parent?: string;
  /** Checkpoint to `load` before the planner carries on (absolute path or name). */
  checkpoint?: string;
  /** One line saying what this continuation is, for the planner's note. */
  reason: string;
};

export type RunOptions = { planner?: PlannerChoice; continuation?: Continuation };

/** Runs one research run end to end; returns the exit code. User errors are thrown as UserError. */
export async function executeRun(cfg: RunConfig, env: Env, io: RunIO, opts: RunOptions = {}): Promise<{ exitCode: number; summary: RunSummary }> {
  // Everything that can be refused is checked before a process starts or a file is written.
  const prompt = buildSystemPrompt(cfg.templatePath, cfg.prompt, cfg.model);
  const { planner, why } = opts.planner ?? resolvePlanner(cfg.plannerSpec, env, { ...(cfg.hints ? { hints: cfg.hints } : {}), model: cfg.model });
  const servers: ServerConfig[] = cfg.mcpConfigPath ? loadMcpConfig(cfg.mcpConfigPath, env) : [];
  const transcriptPath = path.join(cfg.runDir, "transcript.jsonl");
  const cont = opts.continuation;
  const resuming = cont !== undefined && !cont.copyPrefix;
  if (!resuming && fs.existsSync(transcriptPath)) {
    throw new UserError(`${cfg.runDir} already holds a transcript.`, "Choose another --run-dir (or leave it out for a new one), or resume it with tinkerloop resume.");
  }

  const redactor = Redactor.fromEnv(env);
  // Past --max-minutes training is refused (save and finish); past the grace period the run stops.
  const graceMinutes = Math.max(1, Math.min(10, cfg.maxMinutes * 0.2));
  const training = new TrainingState();
  const guard = await buildGuard({
    trainingState: training,
    onWrongModel: cfg.onWrongModel,
    dataDir: path.join(cfg.runDir, "data"),
    inlineLimitBytes: cfg.inlineLimitKb * 1024,
    budget: { maxMinutes: cfg.maxMinutes, graceMinutes, ...(cfg.maxTrainCalls ? { maxTrainCalls: cfg.maxTrainCalls } : {}), ...(cfg.maxPlannerCostUsd ? { maxPlannerCostUsd: cfg.maxPlannerCostUsd } : {}) },
    disabled: cfg.guardOff,
    customRuleFiles: cfg.guardRules,
  });
  fs.mkdirSync(path.join(cfg.runDir, "logs"), { recursive: true });
  io.out(`planner: ${planner.id} (${why})`);
  io.out(`run dir: ${cfg.runDir}`);

  const local = localTools(cfg.runDir, pickEnv(env, cfg.bashEnv));
  if (local.bashUnavailable) io.out(`bash: not offered — ${local.bashUnavailable}`);
  let heartbeat: Heartbeat | undefined;
  let hub: ToolHub;
  try {
    hub = await ToolHub.start({
      servers,
      local: local.providers,
      env: { ...env, TINKERLOOP_RUN_DIR: cfg.runDir },
      defaultCallTimeoutMs: cfg.toolTimeoutSec * 1000,
      onStderr: (server, chunk) =>
        fs.appendFileSync(path.join(cfg.runDir, "logs", `${server}.stderr.log`), redactor.text(chunk)),
      onProgress: (server, tool, message) => heartbeat?.progress(server, tool, message),
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
    thresholds: cfg.alertThresholds,
  });
  const lastSeq = resuming ? Math.max(0, ...cont!.prefix.map((e) => e.seq)) : 0;
  if (resuming) truncateTornTail(transcriptPath);
  const writer = new TranscriptWriter(transcriptPath, redactor, () => new Date(), lastSeq);
  heartbeat = new Heartbeat(writer, path.join(cfg.runDir, "progress.txt"));
  heartbeat.start();
  const transcript = new ProgressPrinter(heartbeat, io.out, redactor, started);
  const tools = new RestartNoteExecutor(new RedactingExecutor(hub, redactor), training);
  let result: LoopResult;
  try {
    if (!resuming) writer.append({
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
      toolSpecs: hub.tools.map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema, source: t.source })),
      ...(cont?.parent ? { parent: cont.parent } : {}),
    });
    if (!resuming) writer.append({ type: "system", text: prompt.system });
    if (local.bashUnavailable) writer.append({ type: "note", turn: cont?.startTurn ?? 0, text: `bash not offered: ${local.bashUnavailable}` });
    io.out(`tools: ${hub.tools.map((t) => t.name).join(", ")}`);
    const messages = cont ? await bridge(cont, { writer: transcript, hub: tools, guard, ledger, io, signal: io.signal }) : undefined;

    result = await runLoop(
      {
        system: prompt.system,
        model: cfg.model,
        kickoff: KICKOFF,
        maxTurns: cfg.maxTurns,
        maxMs: (cfg.maxMinutes + graceMinutes) * 60_000,
        maxNudges: cfg.maxNudges,
        ...(messages ? { messages, startTurn: cont!.startTurn } : {}),
        context: { maxContextTokens: cfg.maxContextTokens, keepRecentMessages: 8 },
        onStop: (r) => wrapUp(r, { tools, training, transcript, io }),
        retry: {
          retries: Number(env.TINKERLOOP_RETRIES ?? DEFAULT_RETRY.retries),
          baseDelayMs: Number(env.TINKERLOOP_RETRY_BASE_MS ?? DEFAULT_RETRY.baseDelayMs),
          maxDelayMs: DEFAULT_RETRY.maxDelayMs,
        },
      },
      {
        planner: new RedactingPlanner(planner, redactor),
        tools,
        transcript,
        clock: { now: () => Date.now() },
        signal: io.signal,
        guard,
        feedback: ledger,
      },
    );
  } finally {
    heartbeat.stop();
    await hub.close();
    writer.close();
  }

  const summary = summarize(cfg, planner.id, result, transcriptPath);
  fs.writeFileSync(path.join(cfg.runDir, "summary.json"), redactor.text(JSON.stringify(summary, null, 2)) + "\n");
  for (const line of formatSummary(summary)) io.out(redactor.text(line));
  const exitCode =
    result.reason === "finished"
      ? EXIT.finished
      : result.reason === "aborted"
        ? EXIT.interrupted
        : result.reason === "planner_error"
          ? EXIT.plannerFailed
          : EXIT.unfinished;
  return { exitCode, summary };
}


/** The variables the user allowed into `bash` (--bash-env), with their values from the environment. */
function pickEnv(env: Env, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) if (env[n] !== undefined) out[n] = env[n]!;
  return out;
}

/** Drops a partial last line (a crash mid-write) so appended events start on a line of their own. */
function truncateTornTail(file: string): void {
  const raw = fs.readFileSync(file, "utf8");
  if (raw.length === 0 || raw.endsWith("\n")) return;
  fs.writeFileSync(file, raw.slice(0, raw.lastIndexOf("\n") + 1));
}

/**
 * A graceful stop (interrupt, spent budget, planner failure): no new planner turn;
 * training since the last save is saved by the harness itself, then the session is
 * finished, so nothing trained is lost and a resume can restore it.
 */
async function wrapUp(result: LoopResult, d: { tools: RestartNoteExecutor; training: TrainingState; transcript: TranscriptSink; io: RunIO }): Promise<void> {
  if (!d.training.sessionOpen) return;
  const signal = new AbortController().signal; // the run's own signal may already be aborted
  const turn = result.turns;
  const call = async (name: string, input: Record<string, unknown>, id: string) => {
    const started = Date.now();
    const r = await d.tools.call(name, input, { signal, toolUseId: id });
    d.transcript.append({ type: "tool", turn, toolUseId: id, name, input, result: r.content, ...(r.structured !== undefined ? { structured: r.structured } : {}), isError: r.isError, ms: Date.now() - started });
    d.training.observe(name, r);
    return r;
  };
  const save = exposedToolName(d.tools.tools, "save");
  if (d.training.unsavedTrainingCalls > 0 && save) {
    const name = `emergency-${new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15)}`;
    d.transcript.append({ type: "note", turn, text: `graceful stop (${result.reason}): saving unsaved training as ${name}` });
    const r = await call(save, { name }, "harness-emergency-save");
    d.io.out(`emergency save: ${r.isError ? `FAILED (${r.content.split("\n")[0]})` : `${name}`}`);
  }
  const finish = exposedToolName(d.tools.tools, "finish");
  if (finish) {
    const r = await call(finish, {}, "harness-finish");
    d.io.out(`session finished by the harness${r.isError ? ` (failed: ${r.content.split("\n")[0]})` : ""}`);
  }
}

type BridgeDeps = {
  writer: TranscriptSink;
  hub: RestartNoteExecutor;
  guard: { observe: (c: { id: string; name: string; input: unknown }, r: { isError: boolean; structured?: unknown; content: string }) => void };
  ledger: MetricsLedger;
  io: RunIO;
  signal: AbortSignal;
};

/**
 * Rebuilds the conversation from recorded events, replays them into the guard and the
 * metrics ledger, copies them (fork), restores training from the checkpoint, answers
 * any tool call left without a result, and tells the planner in one note what
 * happened. Returns the messages the loop continues from.
 */
async function bridge(cont: Continuation, d: BridgeDeps): Promise<Message[]> {
  for (const e of cont.prefix) {
    if (cont.copyPrefix && e.type !== "run" && e.type !== "end" && e.type !== "system") {
      const { seq: _seq, t: _t, ...event } = e;
      d.writer.append(event as Parameters<TranscriptSink["append"]>[0]);
    }
    if (e.type === "tool") {
      const call = { id: e.toolUseId, name: e.name, input: e.input };
      const result = { isError: e.isError, content: e.result, ...(e.structured !== undefined ? { structured: e.structured } : {}) };
      d.guard.observe(call, result);
      d.ledger.observe(call, result);
    }
  }
  const messages = messagesFromEvents(cont.prefix);
  const notes = [`[harness] ${cont.reason}`];
  if (cont.checkpoint) {
    const load = exposedToolName(d.hub.tools, "load");
    const r = load ? await d.hub.call(load, { path: cont.checkpoint }, { signal: d.signal }) : { isError: true, content: "no load tool is available" };
    d.writer.append({ type: "note", turn: cont.startTurn, text: `restore from ${cont.checkpoint}: ${r.isError ? "failed" : "ok"} — ${r.content.split("\n")[0]}` });
    d.io.out(`restore: ${r.isError ? "FAILED" : "loaded"} ${cont.checkpoint}`);
    notes.push(
      r.isError
        ? `Restoring the training session from ${cont.checkpoint} failed (${r.content.split("\n")[0]}); the tool servers are fresh, so re-initialise (init_*) before training.`
        : `The training session was restored from checkpoint ${cont.checkpoint} (weights, optimizer state and counters). Training done after that checkpoint was lost; continue from it (warmup_ratio=0).`,
    );
  } else {
    notes.push("No checkpoint was saved before this point: the tool servers are fresh, so call init_* again before training.");
  }
  const last = messages[messages.length - 1];
  const note: Block = { type: "text", text: notes.join(" ") };
  if (last?.role === "assistant") {
    // Calls that were made but never answered (the run stopped in between) get an error result.
    const orphans = toolUses(last.content).map((u) => ({ type: "tool_result" as const, toolUseId: u.id, content: "Not run: the run stopped before this call completed.", isError: true }));
    const message: Message = { role: "user", content: [...orphans, note] };
    messages.push(message);
    d.writer.append({ type: "user", turn: cont.startTurn, message });
  } else if (last?.role === "user") {
    const message: Message = { role: "user", content: [...last.content, note] };
    messages[messages.length - 1] = message;
    d.writer.append({ type: "user", turn: cont.startTurn, message, amends: true });
  }
  return messages;
}

import fs from "node:fs";
import path from "node:path";
import type { Env, RunConfig } from "./config.ts";
import { loadServers } from "./config.ts";
import { EXIT, UserError } from "./errors.ts";
import { EventBus, observing } from "./events.ts";
import type { EventListener } from "./events.ts";
import { buildGuard } from "./guard/index.ts";
import type { GuardPipeline } from "./guard/pipeline.ts";
import { wrapUp } from "./harness-calls.ts";
import { Heartbeat } from "./heartbeat.ts";
import { localTools, pickEnv } from "./local-tools.ts";
import type { LocalTools } from "./local-tools.ts";
import type { LoopResult } from "./loop.ts";
import { MetricsLedger } from "./metrics/ledger.ts";
import { MetricsFileWriter } from "./metrics/metrics-file.ts";
import { ProgressPrinter } from "./progress.ts";
import { MIN_SECRET_LENGTH, Redactor } from "./redact.ts";
import { reportLine } from "./report/report.ts";
import { RestartNoteExecutor } from "./restart-note.ts";
import { ResumePoints } from "./resume-points.ts";
import { formatSummary, summarize } from "./summary.ts";
import type { RunSummary } from "./summary.ts";
import { CallEstimator } from "./spend/estimate.ts";
import { costBudgetOf, SpendLedger } from "./spend/ledger.ts";
import { PricedExecutor } from "./spend/priced-executor.ts";
import type { RunPrices } from "./spend/setup.ts";
import { TrainingState } from "./training-state.ts";
import { TRANSCRIPT_SCHEMA_VERSION, TranscriptWriter } from "./transcript.ts";
import { ServerStartError, ToolHub } from "../tools/client/hub.ts";
import type { ServerConfig } from "../tools/client/mcp-config.ts";
import { RedactingExecutor } from "../tools/client/redacting-executor.ts";
import type { ToolExecutor } from "../tools/client/types.ts";
import { appendRunFile, makePrivateRunDir, mkdirBeneath, openBeneath, replaceFile } from "../tools/run-files.ts";
import { RUN_DIRS, RUN_FILES, runLayout } from "../tools/run-layout.ts";
import { RUN_SEED_ENV } from "../tools/run-seed.ts";

export type RunIO = {
  out: (line: string) => void;
  signal: AbortSignal;
};

export type SessionOptions = {
  /** The prices the run counts its spend at (spend/setup.ts: runPrices), looked up before the session opens. */
  prices: RunPrices;
  /** A resumed run: its transcript is there already, and numbering continues after `resumeSeq`. */
  resumeSeq?: number;
  /** Told about every progress notification of a running tool call (besides the heartbeat). */
  onProgress?: (server: string, tool: string, message: string | undefined) => void;
};

/** What the run header says about the one who acts: the planner (or external agent) and the system prompt. */
export type SessionHeader = { planner: string; system: string; templateSha256: string; parent?: string };

export const EXIT_FOR: Record<LoopResult["reason"], number> = {
  finished: EXIT.finished,
  aborted: EXIT.interrupted,
  planner_error: EXIT.plannerFailed,
  max_turns: EXIT.unfinished,
  time_limit: EXIT.unfinished,
  planner_stopped: EXIT.unfinished,
  refusal: EXIT.unfinished,
  guard_stop: EXIT.unfinished,
};

/**
 * Everything a run has besides whoever decides the calls: the run directory, the tool
 * hub behind redaction, the guard, the training state, and the listeners of the event
 * stream (transcript, state, metrics file, progress, heartbeat). `tinkerloop run` drives
 * it with the turn loop and a planner; `tinkerloop mcp` with an external agent's calls.
 */
export class RunSession {
  private constructor(
    readonly cfg: RunConfig,
    private readonly io: RunIO,
    readonly redactor: Redactor,
    readonly training: TrainingState,
    readonly guard: GuardPipeline,
    readonly ledger: MetricsLedger,
    readonly spend: SpendLedger,
    readonly events: EventBus,
    /** The listeners that rebuild state from recorded events (no file writers). */
    readonly state: EventListener[],
    readonly tools: ToolExecutor,
    private readonly hub: ToolHub,
    private readonly servers: ServerConfig[],
    private readonly writer: TranscriptWriter,
    private readonly heartbeat: Heartbeat,
    readonly startedAt: number,
    /** Past --max-minutes training is refused (save and finish); past this grace period the run stops. */
    readonly graceMinutes: number,
    /** Why `bash` is not offered, when it is not. */
    private readonly bashUnavailable: string | undefined,
  ) {
    this.resumePoints = new ResumePoints(cfg.resumeEvery, training);
  }

  private readonly resumePoints: ResumePoints;

  /** Checks the run directory, builds the guard, starts the tool servers and the listeners. Refusals throw UserError before anything is written. */
  static async open(cfg: RunConfig, env: Env, io: RunIO, o: SessionOptions): Promise<RunSession> {
    const servers: ServerConfig[] = cfg.mcpConfigPath ? loadServers(cfg.mcpConfigPath, env) : [];
    const layout = runLayout(cfg.runDir);
    const resuming = o.resumeSeq !== undefined;
    checkRunDir(cfg.runDir, resuming);
    const redactor = Redactor.fromEnv(env);
    const graceMinutes = Math.max(1, Math.min(10, cfg.maxMinutes * 0.2));
    const training = new TrainingState();
    const spend = new SpendLedger();
    const prices = o.prices;
    const costBudget = costBudgetOf(cfg);
    const guard = await buildGuard({
      trainingState: training,
      onWrongModel: cfg.onWrongModel,
      dataDir: layout.data,
      inlineLimitBytes: cfg.inlineLimitKb * 1024,
      budget: {
        maxMinutes: cfg.maxMinutes,
        graceMinutes,
        ...(cfg.maxTrainCalls ? { maxTrainCalls: cfg.maxTrainCalls } : {}),
        cost: costBudget,
        spend,
        ...(prices.training ? { estimator: new CallEstimator({ model: cfg.model, price: prices.training, runDir: cfg.runDir }) } : {}),
      },
      disabled: cfg.guardOff,
      customRuleFiles: cfg.guardRules,
    });
    // Every harness-owned name exists before the planner's shell could plant a link there.
    makePrivateRunDir(cfg.runDir);
    for (const dir of [RUN_DIRS.logs, RUN_DIRS.checkpoints, RUN_DIRS.completions]) mkdirBeneath(cfg.runDir, dir);
    fs.closeSync(openBeneath(cfg.runDir, RUN_FILES.metrics, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_APPEND));
    for (const name of Redactor.tooShort(env))
      io.out(`warning: ${name} is shorter than ${MIN_SECRET_LENGTH} characters, too short to be redacted from what the run writes`);
    io.out(`run dir: ${cfg.runDir}`);
    io.out(`tool servers: ${cfg.mcpConfigPath ?? "(no MCP config: workspace tools only)"}`);
    io.out(
      cfg.resumeEvery > 0
        ? `resume points: every ${cfg.resumeEvery} training calls without a checkpoint, at most two kept (${cfg.model.startsWith("local/") ? `in ${layout.checkpoints}` : "on Tinker they count toward your checkpoint storage"})`
        : "resume points: off (--resume-every 0): a crash loses the training since the last save",
    );

    const heartbeat = new Heartbeat(layout.progress);
    const local = localTools(cfg.runDir, () => [...training.sessionDirs], pickEnv(env, cfg.bashEnv));
    if (local.bashUnavailable) io.out(`bash: not offered — ${local.bashUnavailable}`);
    const hub = await startTools(cfg, env, servers, local, redactor, (server, tool, message) => {
      heartbeat.progress(server, tool, message);
      o.onProgress?.(server, tool, message);
    });
    const started = Date.now();
    // A run that can spend nothing (offline planner, local model, no budget) shows no spend as it goes.
    const spends =
      Object.keys(costBudget).length > 0 ||
      prices.planner === undefined ||
      prices.training === undefined ||
      prices.planner.input + prices.planner.output > 0 ||
      prices.training.prefill + prices.training.sample + prices.training.train > 0;
    const spendLine = spends ? () => `spend ${spend.describe(costBudget)}` : undefined;
    const ledger = new MetricsLedger({
      model: cfg.model,
      now: Date.now,
      startedAt: started,
      maxMinutes: cfg.maxMinutes,
      ...(cfg.maxTrainCalls ? { maxTrainCalls: cfg.maxTrainCalls } : {}),
      thresholds: cfg.alertThresholds,
      ...(spendLine ? { spendLine } : {}),
    });
    if (resuming) truncateTornTail(layout.transcript);
    const writer = new TranscriptWriter(layout.transcript, redactor, () => new Date(), o.resumeSeq ?? 0);
    // State listeners rebuild from recorded events on resume; file writers and printers only see what happens now.
    const state = [training, observing(guard), ledger, spend];
    const events = new EventBus([
      writer,
      ...state,
      new MetricsFileWriter(layout.metrics, (t) => redactor.text(t)),
      new ProgressPrinter(io.out, redactor, started, Date.now, spends ? () => spend.short(costBudget) : undefined),
      heartbeat,
    ]);
    const tools = new RestartNoteExecutor(new PricedExecutor(new RedactingExecutor(hub, redactor), prices.training), training);
    heartbeat.start();
    return new RunSession(
      cfg,
      io,
      redactor,
      training,
      guard,
      ledger,
      spend,
      events,
      state,
      tools,
      hub,
      servers,
      writer,
      heartbeat,
      started,
      graceMinutes,
      local.bashUnavailable,
    );
  }

  /** The run header and the system prompt: the first two events of a new run. */
  begin(h: SessionHeader): void {
    const cfg = this.cfg;
    this.events.emit({
      type: "run",
      schema: TRANSCRIPT_SCHEMA_VERSION,
      runId: cfg.runId,
      startedAt: new Date(this.startedAt).toISOString(),
      planner: h.planner,
      model: cfg.model,
      config: this.redactor.value({
        ...cfg,
        mcpServers: this.servers.map((s) =>
          s.kind === "stdio" ? { name: s.name, command: s.command, args: s.args, envNames: Object.keys(s.env) } : { name: s.name, url: s.url },
        ),
      }),
      templateSha256: h.templateSha256,
      tools: this.hub.tools.map((t) => ({ name: t.name, source: t.source })),
      toolSpecs: this.hub.tools.map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema, source: t.source })),
      ...(h.parent ? { parent: h.parent } : {}),
    });
    this.events.emit({ type: "system", text: h.system });
  }

  /** Notes for the record at the start (or restart) of a session: what is not offered and why. */
  noteStart(turn: number): void {
    if (this.bashUnavailable) this.events.emit({ type: "note", turn, text: `bash not offered: ${this.bashUnavailable}` });
  }

  /** A graceful stop: unsaved training saved by the harness (through the guard), the training session finished. */
  wrapUp(result: LoopResult): Promise<void> {
    return wrapUp(result, { ...this.harnessDeps(), training: this.training });
  }

  /** After each call that ran: a rolling resume point when one is due (resume-points.ts). */
  afterCall(turn: number): Promise<void> {
    return this.resumePoints.afterCall(turn, this.harnessDeps());
  }

  private harnessDeps() {
    return { tools: this.tools, events: this.events, out: this.io.out, guard: { check: this.guard.check.bind(this.guard), model: this.cfg.model } };
  }

  /** Stops the heartbeat and the tool servers and closes the transcript. */
  async close(): Promise<void> {
    this.heartbeat.stop();
    await this.hub.close();
    this.writer.close();
  }

  /** After close(): summary.json, the summary lines and the report; the run's exit code. */
  conclude(result: LoopResult, plannerId: string): { exitCode: number; summary: RunSummary } {
    const layout = runLayout(this.cfg.runDir);
    const summary = summarize(this.cfg, plannerId, result, layout.transcript);
    replaceFile(layout.summary, `${this.redactor.text(JSON.stringify(summary, null, 2))}\n`);
    for (const line of formatSummary(summary)) this.io.out(this.redactor.text(line));
    this.io.out(this.redactor.text(reportLine(this.cfg.runDir)));
    return { exitCode: EXIT_FOR[result.reason], summary };
  }
}

/** Starts the tool servers (stderr to logs/, progress to `onProgress`) beside the in-process tools. */
async function startTools(
  cfg: RunConfig,
  env: Env,
  servers: ServerConfig[],
  local: LocalTools,
  redactor: Redactor,
  onProgress: (server: string, tool: string, message: string | undefined) => void,
): Promise<ToolHub> {
  try {
    return await ToolHub.start({
      servers,
      local: local.providers,
      env: { ...env, TINKERLOOP_RUN_DIR: cfg.runDir, TINKERLOOP_MODEL: cfg.model, [RUN_SEED_ENV]: cfg.seed === undefined ? undefined : String(cfg.seed) },
      defaultCallTimeoutMs: cfg.toolTimeoutSec * 1000,
      onStderr: (server, chunk) => appendRunFile(cfg.runDir, path.join(RUN_DIRS.logs, `${server}.stderr.log`), redactor.text(chunk)),
      onProgress,
    });
  } catch (err) {
    if (err instanceof ServerStartError)
      throw new UserError(redactor.text(err.message), "Run `tinkerloop doctor` to check every server in the MCP config.", EXIT.setup);
    throw err;
  }
}

/**
 * A new run needs an empty (or missing) folder: a run never writes over files it did not
 * make. A resumed run needs its own transcript there.
 */
function checkRunDir(dir: string, resuming: boolean): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir);
  } catch {
    st = undefined;
  }
  if (resuming) {
    if (!st?.isDirectory() || !fs.existsSync(runLayout(dir).transcript)) throw new UserError(`${dir} holds no run to resume (no ${RUN_FILES.transcript}).`);
    return;
  }
  if (!st) return;
  if (!st.isDirectory()) throw new UserError(`--run-dir ${dir} is a file, not a folder.`, "Name a new folder (or leave --run-dir out for runs/<run-id>).");
  const entries = fs.readdirSync(dir);
  if (entries.includes(RUN_FILES.transcript))
    throw new UserError(`${dir} already holds a run.`, "Choose another --run-dir (or leave it out for a new one), or continue it with tinkerloop resume.");
  if (entries.length > 0)
    throw new UserError(
      `--run-dir ${dir} is not empty (${entries.length} entr${entries.length === 1 ? "y" : "ies"}).`,
      "A run writes only into a new or empty folder; name another one.",
    );
}

/** Drops a partial last line (a crash mid-write) so appended events start on a line of their own. */
function truncateTornTail(file: string): void {
  const raw = fs.readFileSync(file, "utf8");
  if (raw.length === 0 || raw.endsWith("\n")) return;
  replaceFile(file, raw.slice(0, raw.lastIndexOf("\n") + 1));
}

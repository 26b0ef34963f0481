import fs from "node:fs";
import path from "node:path";
import type { Env, RunConfig } from "../config/run-config.ts";
import { loadServers } from "../config/run-config.ts";
import { UserError } from "../core/errors.ts";
import { EXIT, EXIT_FOR } from "../core/run-end.ts";
import { EventBus } from "../core/events.ts";
import type { EventListener } from "../core/events.ts";
import type { GuardPipeline } from "../guard/pipeline.ts";
import { Heartbeat } from "./heartbeat.ts";
import { localTools, pickEnv } from "../workspace/workspace-tools.ts";
import type { LocalTools } from "../workspace/workspace-tools.ts";
import type { LoopResult } from "../core/loop.ts";
import type { MetricsLedger } from "../metrics/ledger.ts";
import { MetricsFileWriter } from "../metrics/metrics-file.ts";
import { ProgressPrinter } from "./progress-printer.ts";
import { MIN_SECRET_LENGTH, Redactor } from "../secrets/redactor.ts";
import { reportLine } from "../report/report.ts";
import { RestartNoteExecutor } from "./server-restart-note.ts";
import { ResumePoints } from "./resume-points.ts";
import { formatSummary, summarize } from "../summary/summary.ts";
import type { RunSummary } from "../summary/summary.ts";
import { CallEstimator } from "../spend/estimate.ts";
import { costBudgetOf } from "../spend/ledger.ts";
import type { CostBudget } from "../spend/ledger.ts";
import type { SpendLedger } from "../spend/ledger.ts";
import { PricedExecutor } from "../spend/priced-executor.ts";
import type { RunPrices } from "../spend/setup.ts";
import type { TrainingState } from "../state/training-state.ts";
import { RunState } from "./run-state.ts";
import type { RunStateOptions } from "./run-state.ts";
import { wrapUp } from "./wrap-up.ts";
import { ExamSitter } from "../exam/sitter.ts";
import { discardExam, examHeader, prepareExam, reclaimExam, releaseExam } from "../exam/setup.ts";
import { hubExamLoader } from "../exam/hub-items.ts";
import { budgetBesideExam, checkReserveFits } from "../exam/reserve.ts";
import type { PreparedExam } from "../exam/setup.ts";
import { EXAM_DIR_ENV } from "../../lib/exam-files.ts";
import { TRANSCRIPT_SCHEMA_VERSION, TranscriptWriter } from "../transcript/transcript.ts";
import { ServerStartError, ToolHub } from "../tool-hub/hub.ts";
import type { ServerConfig } from "../tool-hub/mcp-config.ts";
import { RedactingExecutor } from "../tool-hub/redacting-executor.ts";
import type { ToolExecutor } from "../core/tools.ts";
import { appendRunFile, makePrivateRunDir, mkdirBeneath, openBeneath, replaceFile } from "../../lib/run-file-writes.ts";
import { RUN_DIRS, RUN_FILES, runLayout } from "../../lib/run-layout.ts";
import { RUN_SEED_ENV } from "../../tools/contracts/run-seed.ts";

export type RunIO = {
  out: (line: string) => void;
  signal: AbortSignal;
};

export type SessionOptions = {
  /** The prices the run counts its spend at (spend/setup.ts: runPrices), looked up before the session opens. */
  prices: RunPrices;
  /** A resumed run: its transcript is there already, and numbering continues after `resumeSeq`. */
  resumeSeq?: number;
  /** A resumed run: how long it ran before (the feedback and the summary give the whole run's time). */
  elapsedBeforeMs?: number;
  /** Told about every progress notification of a running tool call (besides the heartbeat). */
  onProgress?: (server: string, tool: string, message: string | undefined) => void;
};

/** What the run header says about the one who acts: the planner (or external agent) and the system prompt. */
export type SessionHeader = { planner: string; system: string; templateSha256: string; parent?: string };

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
    /** What the run knows, rebuilt from its events: training state, guard, metrics ledger, spend. */
    readonly state: RunState,
    readonly ledger: MetricsLedger,
    readonly events: EventBus,
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
    /** A graded run's exam, its items kept outside the run directory until the run has ended. */
    readonly exam: PreparedExam | undefined,
  ) {
    this.resumePoints = new ResumePoints(cfg.resumeEvery, state.training);
  }

  get training(): TrainingState {
    return this.state.training;
  }

  get guard(): GuardPipeline {
    return this.state.guard;
  }

  get spend(): SpendLedger {
    return this.state.spend;
  }

  private readonly resumePoints: ResumePoints;

  /** The listeners a continuation feeds the recorded events to: the run state's, and the exam sitter (which sittings were made). */
  get stateListeners(): EventListener[] {
    return this.tools instanceof ExamSitter ? [...this.state.listeners, this.tools] : this.state.listeners;
  }

  /** Checks the run directory, builds the guard, starts the tool servers and the listeners. Refusals throw UserError before anything is written. */
  static async open(cfg: RunConfig, env: Env, io: RunIO, o: SessionOptions): Promise<RunSession> {
    const servers: ServerConfig[] = cfg.mcpConfigPath ? loadServers(cfg.mcpConfigPath, env) : [];
    const layout = runLayout(cfg.runDir);
    const resuming = o.resumeSeq !== undefined;
    checkRunDir(cfg.runDir, resuming);
    const redactor = Redactor.fromEnv(env);
    const graceMinutes = Math.max(1, Math.min(10, cfg.maxMinutes * 0.2));
    const prices = o.prices;
    const costBudget = costBudgetOf(cfg);
    // The run's clock starts as its session opens (tool servers starting count toward --max-minutes).
    const started = Date.now();
    const spends = canSpend(prices, costBudget);
    const exam = cfg.exam ? await prepareExam(cfg.exam, { hub: hubExamLoader(env) }) : undefined;
    // A resumed run's earlier sittings were released into the run dir when it stopped: out of the planner's reach again.
    if (exam && resuming) reclaimExam(exam, cfg.runDir);
    if (exam) {
      try {
        checkReserveFits(cfg, exam, prices.training);
      } catch (err) {
        discardExam(exam);
        throw err;
      }
    }
    const state = await RunState.build({
      model: cfg.model,
      guard: guardOptions(cfg, prices, graceMinutes, exam),
      ledger: (spend) => ({
        model: cfg.model,
        now: Date.now,
        startedAt: started,
        ...(o.elapsedBeforeMs ? { elapsedBeforeMs: o.elapsedBeforeMs } : {}),
        maxMinutes: cfg.maxMinutes,
        ...(cfg.maxTrainCalls ? { maxTrainCalls: cfg.maxTrainCalls } : {}),
        thresholds: cfg.alertThresholds,
        ...(spends ? { spendLine: () => `spend ${spend.describe(costBudget)}` } : {}),
      }),
    });
    const { training, spend } = state;
    prepareRunDir(cfg.runDir);
    announce(cfg, env, io);

    const heartbeat = new Heartbeat(layout.progress);
    const local = localTools(cfg.runDir, () => [...training.sessionDirs], pickEnv(env, cfg.bashEnv), exam !== undefined);
    if (local.bashUnavailable) io.out(`bash: not offered — ${local.bashUnavailable}`);
    const hub = await startTools(cfg, env, servers, local, redactor, exam, (server, tool, message) => {
      heartbeat.progress(server, tool, message);
      o.onProgress?.(server, tool, message);
    });
    if (resuming) truncateTornTail(layout.transcript);
    const writer = new TranscriptWriter(layout.transcript, redactor, () => new Date(), o.resumeSeq ?? 0);
    // State listeners rebuild from recorded events on resume; file writers and printers only see what happens now.
    const events = new EventBus([
      writer,
      ...state.listeners,
      new MetricsFileWriter(layout.metrics, (t) => redactor.text(t)),
      new ProgressPrinter(io.out, redactor, started, Date.now, spends ? () => spend.short(costBudget) : undefined),
      heartbeat,
    ]);
    const served = new RestartNoteExecutor(new PricedExecutor(new RedactingExecutor(hub, redactor), prices.training), training);
    const tools = exam ? examSitter(cfg, exam, served, state, events, io) : served;
    heartbeat.start();
    return new RunSession(
      cfg,
      io,
      redactor,
      state,
      state.ledger!,
      events,
      tools,
      hub,
      servers,
      writer,
      heartbeat,
      started,
      graceMinutes,
      local.bashUnavailable,
      exam,
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
      ...(this.exam ? { exam: examHeader(this.exam) } : {}),
    });
    this.events.emit({ type: "system", text: h.system });
  }

  /** Notes for the record at the start (or restart) of a session: what is not offered and why. */
  noteStart(turn: number): void {
    if (this.bashUnavailable) this.events.emit({ type: "note", turn, text: `bash not offered: ${this.bashUnavailable}` });
  }

  /** A graceful stop: unsaved training saved by the harness (through the guard), the training session finished. */
  wrapUp(result: LoopResult, afterSave?: (saved: string | undefined) => void): Promise<void> {
    return wrapUp(result, { ...this.state.harness(this.tools, this.events), training: this.training, out: this.io.out, ...(afterSave ? { afterSave } : {}) });
  }

  /** After each call that ran: a rolling resume point when one is due (resume-points.ts). */
  afterCall(turn: number): Promise<void> {
    return this.resumePoints.afterCall(turn, { ...this.state.harness(this.tools, this.events), out: this.io.out });
  }

  /** Stops the heartbeat and the tool servers and closes the transcript. */
  async close(): Promise<void> {
    this.heartbeat.stop();
    await this.hub.close();
    this.writer.close();
    // The run has ended: only now do the exam's items and graded completions enter the run directory.
    if (this.exam) releaseExam(this.exam, this.cfg.runDir);
  }

  /** After close(): summary.json, the summary lines and the report; the run's exit code. */
  conclude(result: LoopResult, plannerId: string): { exitCode: number; summary: RunSummary } {
    const { summary, report } = this.writeRecord(result, plannerId);
    for (const line of formatSummary(summary)) this.io.out(this.redactor.text(line));
    this.io.out(this.redactor.text(report));
    return { exitCode: EXIT_FOR[result.reason], summary };
  }

  /** summary.json and report.html as the run stands (nothing printed); `report` is the report's line. */
  writeRecord(result: LoopResult, plannerId: string): { summary: RunSummary; report: string } {
    const layout = runLayout(this.cfg.runDir);
    const summary = summarize(this.cfg, plannerId, result, layout.transcript);
    replaceFile(layout.summary, `${this.redactor.text(JSON.stringify(summary, null, 2))}\n`);
    return { summary, report: reportLine(this.cfg.runDir) };
  }
}

/** The run's tools with the exam sat around them (exam/sitter.ts); it listens to the events for the turn and the sittings made. */
function examSitter(cfg: RunConfig, exam: PreparedExam, inner: ToolExecutor, state: RunState, events: EventBus, io: RunIO): ExamSitter {
  const sitter = new ExamSitter({
    spec: exam.spec,
    specHash: exam.hash,
    inner,
    training: state.training,
    every: cfg.examEvery ?? 0,
    events,
    guard: state.guard,
    model: cfg.model,
    out: io.out,
  });
  events.add(sitter);
  return sitter;
}

/** Whether a run can spend anything (offline planner, local model and no budget cannot): only then does it show spend as it goes. */
function canSpend(prices: RunPrices, costBudget: CostBudget): boolean {
  return (
    Object.keys(costBudget).length > 0 ||
    prices.planner === undefined ||
    prices.training === undefined ||
    prices.planner.input + prices.planner.output > 0 ||
    prices.training.prefill + prices.training.sample + prices.training.train > 0
  );
}

/** The guard's rules and budget for this run (its training state and spend come from the run state). */
function guardOptions(cfg: RunConfig, prices: RunPrices, graceMinutes: number, exam: PreparedExam | undefined): RunStateOptions["guard"] {
  return {
    ...(exam ? { exam: { items: exam.items, ...(exam.spec.source.kind === "generator" ? { generatorTask: exam.spec.source.task } : {}) } } : {}),
    onWrongModel: cfg.onWrongModel,
    dataDir: runLayout(cfg.runDir).data,
    inlineLimitBytes: cfg.inlineLimitKb * 1024,
    budget: {
      maxMinutes: cfg.maxMinutes,
      graceMinutes,
      ...(cfg.maxTrainCalls ? { maxTrainCalls: cfg.maxTrainCalls } : {}),
      // The final exam's cost is kept out of what the planner may spend (exam/reserve.ts).
      cost: budgetBesideExam(costBudgetOf(cfg), exam, prices.training),
      ...(prices.training ? { estimator: new CallEstimator({ model: cfg.model, price: prices.training, runDir: cfg.runDir }) } : {}),
    },
    disabled: cfg.guardOff,
    customRuleFiles: cfg.guardRules,
    ...(cfg.allowedCheckpoints ? { allowedCheckpoints: cfg.allowedCheckpoints } : {}),
  };
}

/** Every harness-owned name exists before the planner's shell could plant a link there. */
function prepareRunDir(runDir: string): void {
  makePrivateRunDir(runDir);
  for (const dir of [RUN_DIRS.logs, RUN_DIRS.checkpoints, RUN_DIRS.completions]) mkdirBeneath(runDir, dir);
  fs.closeSync(openBeneath(runDir, RUN_FILES.metrics, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_APPEND));
}

/** The lines a run starts with: secrets too short to redact, the run dir, the tool servers, resume points. */
function announce(cfg: RunConfig, env: Env, io: RunIO): void {
  for (const name of Redactor.tooShort(env))
    io.out(`warning: ${name} is shorter than ${MIN_SECRET_LENGTH} characters, too short to be redacted from what the run writes`);
  io.out(`run dir: ${cfg.runDir}`);
  io.out(`tool servers: ${cfg.mcpConfigPath ?? "(no MCP config: workspace tools only)"}`);
  io.out(
    cfg.resumeEvery > 0
      ? `resume points: every ${cfg.resumeEvery} training calls without a checkpoint, at most two kept (${cfg.model.startsWith("local/") ? `in ${runLayout(cfg.runDir).checkpoints}` : "on Tinker they count toward your checkpoint storage"})`
      : "resume points: off (--resume-every 0): a crash loses the training since the last save",
  );
}

/** Starts the tool servers (stderr to logs/, progress to `onProgress`) beside the in-process tools. */
async function startTools(
  cfg: RunConfig,
  env: Env,
  servers: ServerConfig[],
  local: LocalTools,
  redactor: Redactor,
  exam: PreparedExam | undefined,
  onProgress: (server: string, tool: string, message: string | undefined) => void,
): Promise<ToolHub> {
  try {
    return await ToolHub.start({
      servers,
      local: local.providers,
      env: {
        ...env,
        TINKERLOOP_RUN_DIR: cfg.runDir,
        TINKERLOOP_MODEL: cfg.model,
        [RUN_SEED_ENV]: cfg.seed === undefined ? undefined : String(cfg.seed),
        [EXAM_DIR_ENV]: exam?.dir,
      },
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

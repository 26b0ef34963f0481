import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Env, RunConfig } from "./config.ts";
import { loadServers } from "./config.ts";
import { bridge } from "./continuation.ts";
import type { Continuation } from "./continuation.ts";
import { EXIT, UserError } from "./errors.ts";
import { EventBus, observing } from "./events.ts";
import { buildGuard } from "./guard/index.ts";
import { wrapUp } from "./harness-calls.ts";
import { Heartbeat } from "./heartbeat.ts";
import { localTools, pickEnv } from "./local-tools.ts";
import type { LocalTools } from "./local-tools.ts";
import { runLoop } from "./loop.ts";
import type { LoopResult } from "./loop.ts";
import { MetricsLedger } from "./metrics/ledger.ts";
import { MetricsFileWriter } from "./metrics/metrics-file.ts";
import { plannerDepth, resolvePlanner } from "./planners/index.ts";
import type { PlannerChoice } from "./planners/index.ts";
import { PricedPlanner } from "./planners/priced.ts";
import { RedactingPlanner } from "./planners/redacting.ts";
import { DEFAULT_RETRY, RetryingPlanner } from "./planners/retrying.ts";
import { ProgressPrinter } from "./progress.ts";
import { buildSystemPrompt } from "./prompt.ts";
import { MIN_SECRET_LENGTH, Redactor } from "./redact.ts";
import { RestartNoteExecutor } from "./restart-note.ts";
import { formatSummary, summarize } from "./summary.ts";
import { reportLine } from "./report/report.ts";
import type { RunSummary } from "./summary.ts";
import { CallEstimator } from "./spend/estimate.ts";
import { SpendLedger } from "./spend/ledger.ts";
import { PricedExecutor } from "./spend/priced-executor.ts";
import { loadPrices } from "./spend/prices-file.ts";
import { runPrices } from "./spend/setup.ts";
import { TrainingState } from "./training-state.ts";
import { TRANSCRIPT_SCHEMA_VERSION, TranscriptWriter } from "./transcript.ts";
import { ServerStartError, ToolHub } from "../tools/client/hub.ts";
import type { ServerConfig } from "../tools/client/mcp-config.ts";
import { RedactingExecutor } from "../tools/client/redacting-executor.ts";
import { RUN_FILES, runLayout } from "../tools/run-layout.ts";
import { replaceFile } from "../tools/run-files.ts";

export const KICKOFF =
  "Begin the research run now. You act only through the tools; nobody will answer questions " +
  "while the run is going. Call finish() when you are done.";

export type RunIO = {
  out: (line: string) => void;
  signal: AbortSignal;
};

export type RunOptions = { planner?: PlannerChoice; continuation?: Continuation };

/**
 * Runs one research run end to end; returns the exit code. User errors are thrown as
 * UserError. This is the composition root: it builds the planner, the tools, the guard
 * and the listeners of the event stream, and hands them to the loop.
 */
export async function executeRun(cfg: RunConfig, env: Env, io: RunIO, opts: RunOptions = {}): Promise<{ exitCode: number; summary: RunSummary }> {
  // Everything that can be refused is checked before a process starts or a file is written.
  const cont = opts.continuation;
  const prompt = cont ? { system: cont.system, templateSha256: sha256(cont.system) } : buildSystemPrompt(cfg.templatePath, cfg.prompt, cfg.model);
  const { planner, why } = opts.planner ?? resolvePlanner(cfg.plannerSpec, env, { ...(cfg.hints ? { hints: cfg.hints } : {}), model: cfg.model, depth: plannerDepth(cfg) });
  const servers: ServerConfig[] = cfg.mcpConfigPath ? loadServers(cfg.mcpConfigPath, env) : [];
  const layout = runLayout(cfg.runDir);
  const resuming = cont !== undefined && !cont.copyPrefix;
  checkRunDir(cfg.runDir, resuming);
  const prices = runPrices(cfg, planner.id, loadPrices(cfg.pricesFile));
  // The model id against the provider's list (network): last of the checks, before anything starts.
  const modelLines = (await planner.check?.(io.signal)) ?? [];

  const redactor = Redactor.fromEnv(env);
  // Past --max-minutes training is refused (save and finish); past the grace period the run stops.
  const graceMinutes = Math.max(1, Math.min(10, cfg.maxMinutes * 0.2));
  const training = new TrainingState();
  const spend = new SpendLedger();
  const costBudget = { ...(cfg.maxCostUsd !== undefined ? { maxCostUsd: cfg.maxCostUsd } : {}), ...(cfg.maxPlannerCostUsd !== undefined ? { maxPlannerCostUsd: cfg.maxPlannerCostUsd } : {}), ...(cfg.maxTrainingCostUsd !== undefined ? { maxTrainingCostUsd: cfg.maxTrainingCostUsd } : {}) };
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
  for (const dir of [layout.logs, layout.checkpoints]) fs.mkdirSync(dir, { recursive: true });
  fs.closeSync(fs.openSync(layout.metrics, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_APPEND | fs.constants.O_NOFOLLOW, 0o644));
  for (const name of Redactor.tooShort(env)) io.out(`warning: ${name} is shorter than ${MIN_SECRET_LENGTH} characters, too short to be redacted from what the run writes`);
  io.out(`planner: ${planner.id} (${why})`);
  for (const line of [...modelLines, ...prices.lines]) io.out(line);
  io.out(`run dir: ${cfg.runDir}`);
  io.out(`tool servers: ${cfg.mcpConfigPath ?? "(no MCP config: workspace tools only)"}`);

  const heartbeat = new Heartbeat(layout.progress);
  const local = localTools(cfg.runDir, () => [...training.sessionDirs], pickEnv(env, cfg.bashEnv));
  if (local.bashUnavailable) io.out(`bash: not offered — ${local.bashUnavailable}`);
  const hub = await startTools(cfg, env, servers, local, redactor, heartbeat);
  const started = Date.now();
  // A run that can spend nothing (offline planner, local model, no budget) shows no spend as it goes.
  const spends = Object.keys(costBudget).length > 0 || prices.planner === undefined || prices.training === undefined || prices.planner.input + prices.planner.output > 0 || prices.training.prefill + prices.training.sample + prices.training.train > 0;
  const spendLine = spends ? () => `spend ${spend.describe(costBudget)}` : undefined;
  const ledger = new MetricsLedger({ model: cfg.model, now: Date.now, startedAt: started, maxMinutes: cfg.maxMinutes, ...(cfg.maxTrainCalls ? { maxTrainCalls: cfg.maxTrainCalls } : {}), thresholds: cfg.alertThresholds, ...(spendLine ? { spendLine } : {}) });
  if (resuming) truncateTornTail(layout.transcript);
  const writer = new TranscriptWriter(layout.transcript, redactor, () => new Date(), resuming ? Math.max(0, ...cont!.prefix.map((e) => e.seq)) : 0);
  // State listeners rebuild from recorded events on resume; file writers and printers only see what happens now.
  const state = [observing(training), observing(guard), ledger, spend];
  const events = new EventBus([writer, ...state, new MetricsFileWriter(layout.metrics, (t) => redactor.text(t)), new ProgressPrinter(io.out, redactor, started, Date.now, spends ? () => spend.short(costBudget) : undefined), heartbeat]);
  const tools = new RestartNoteExecutor(new PricedExecutor(new RedactingExecutor(hub, redactor), prices.training), training);
  heartbeat.start();
  let result: LoopResult;
  try {
    if (!resuming) {
      events.emit({
        type: "run",
        schema: TRANSCRIPT_SCHEMA_VERSION,
        runId: cfg.runId,
        startedAt: new Date(started).toISOString(),
        planner: planner.id,
        model: cfg.model,
        config: redactor.value({ ...cfg, mcpServers: servers.map((s) => (s.kind === "stdio" ? { name: s.name, command: s.command, args: s.args, envNames: Object.keys(s.env) } : { name: s.name, url: s.url })) }),
        templateSha256: prompt.templateSha256,
        tools: hub.tools.map((t) => ({ name: t.name, source: t.source })),
        toolSpecs: hub.tools.map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema, source: t.source })),
        ...(cont?.parent ? { parent: cont.parent } : {}),
      });
      events.emit({ type: "system", text: prompt.system });
    }
    if (local.bashUnavailable) events.emit({ type: "note", turn: cont?.startTurn ?? 0, text: `bash not offered: ${local.bashUnavailable}` });
    io.out(`tools: ${hub.tools.map((t) => t.name).join(", ")}`);
    const messages = cont ? await bridge(cont, { events, state, tools, guard, model: cfg.model, out: io.out }) : undefined;
    const retry = { ...DEFAULT_RETRY, retries: Number(env.TINKERLOOP_RETRIES ?? DEFAULT_RETRY.retries), baseDelayMs: Number(env.TINKERLOOP_RETRY_BASE_MS ?? DEFAULT_RETRY.baseDelayMs) };
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
        onStop: (r) => wrapUp(r, { tools, events, training, out: io.out, guard: { check: (c, x) => guard.check(c, x), model: cfg.model } }),
      },
      { planner: new RetryingPlanner(new RedactingPlanner(new PricedPlanner(planner, prices.planner), redactor), retry), tools, events, clock: { now: () => Date.now() }, signal: io.signal, guard, feedback: ledger },
    );
  } finally {
    heartbeat.stop();
    await hub.close();
    writer.close();
  }

  const summary = summarize(cfg, planner.id, result, layout.transcript);
  replaceFile(layout.summary, redactor.text(JSON.stringify(summary, null, 2)) + "\n");
  for (const line of formatSummary(summary)) io.out(redactor.text(line));
  io.out(redactor.text(reportLine(cfg.runDir)));
  return { exitCode: EXIT_FOR[result.reason], summary };
}

const EXIT_FOR: Record<LoopResult["reason"], number> = {
  finished: EXIT.finished,
  aborted: EXIT.interrupted,
  planner_error: EXIT.plannerFailed,
  max_turns: EXIT.unfinished,
  time_limit: EXIT.unfinished,
  planner_stopped: EXIT.unfinished,
  refusal: EXIT.unfinished,
  guard_stop: EXIT.unfinished,
};

/** Starts the tool servers (stderr to logs/, progress to the heartbeat) beside the in-process tools. */
async function startTools(cfg: RunConfig, env: Env, servers: ServerConfig[], local: LocalTools, redactor: Redactor, heartbeat: Heartbeat): Promise<ToolHub> {
  const layout = runLayout(cfg.runDir);
  try {
    return await ToolHub.start({
      servers,
      local: local.providers,
      env: { ...env, TINKERLOOP_RUN_DIR: cfg.runDir, TINKERLOOP_MODEL: cfg.model },
      defaultCallTimeoutMs: cfg.toolTimeoutSec * 1000,
      onStderr: (server, chunk) => fs.appendFileSync(path.join(layout.logs, `${server}.stderr.log`), redactor.text(chunk)),
      onProgress: (server, tool, message) => heartbeat.progress(server, tool, message),
    });
  } catch (err) {
    if (err instanceof ServerStartError) throw new UserError(redactor.text(err.message), "Run `tinkerloop doctor` to check every server in the MCP config.", EXIT.setup);
    throw err;
  }
}

const sha256 = (text: string) => crypto.createHash("sha256").update(text).digest("hex");

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
  if (entries.includes(RUN_FILES.transcript)) throw new UserError(`${dir} already holds a run.`, "Choose another --run-dir (or leave it out for a new one), or continue it with tinkerloop resume.");
  if (entries.length > 0) throw new UserError(`--run-dir ${dir} is not empty (${entries.length} entr${entries.length === 1 ? "y" : "ies"}).`, "A run writes only into a new or empty folder; name another one.");
}

/** The variables the user allowed into `bash` (--bash-env), with their values from the environment. */
/** Drops a partial last line (a crash mid-write) so appended events start on a line of their own. */
function truncateTornTail(file: string): void {
  const raw = fs.readFileSync(file, "utf8");
  if (raw.length === 0 || raw.endsWith("\n")) return;
  fs.writeFileSync(file, raw.slice(0, raw.lastIndexOf("\n") + 1));
}


import { sdkRetriesFor } from "../config/run-config.ts";
import crypto from "node:crypto";
import type { Env, RunConfig } from "../config/run-config.ts";
import { bridge } from "./continue-from-events.ts";
import type { Continuation } from "./continue-from-events.ts";
import { runLoop } from "../core/loop.ts";
import type { LoopResult } from "../core/loop.ts";
import { plannerDepth, resolvePlanner } from "../planners/index.ts";
import type { PlannerChoice } from "../planners/index.ts";
import { BudgetedPlanner } from "../planners/budgeted.ts";
import { PricedPlanner } from "../planners/priced.ts";
import { RedactingPlanner } from "../planners/redacting.ts";
import { DEFAULT_RETRY, RetryingPlanner } from "../planners/retrying.ts";
import { buildSystemPrompt } from "../config/system-prompt.ts";
import { RunSession } from "./run-session.ts";
import { budgetBesideExam, examReserveNote } from "../exam/reserve.ts";
import { examBrief } from "../exam/setup.ts";
import type { RunIO } from "./run-session.ts";
import type { RunSummary } from "../summary/summary.ts";
import { loadPrices } from "../spend/prices-file.ts";
import { runPrices } from "../spend/setup.ts";
import { costBudgetOf } from "../spend/ledger.ts";

export type { RunIO };

export const KICKOFF =
  "Begin the research run now. You act only through the tools; nobody will answer questions " + "while the run is going. Call finish() when you are done.";

export type RunOptions = { planner?: PlannerChoice; continuation?: Continuation };

/**
 * Runs one research run end to end; returns the exit code. User errors are thrown as
 * UserError. It builds the planner and hands it, with the run session (tools, guard,
 * the event stream's listeners: run-session.ts, shared with the MCP gateway), to the loop.
 */
export async function executeRun(cfg: RunConfig, env: Env, io: RunIO, opts: RunOptions = {}): Promise<{ exitCode: number; summary: RunSummary }> {
  // Everything that can be refused is checked before a process starts or a file is written.
  const cont = opts.continuation;
  const prompt = cont ? { system: cont.system, templateSha256: sha256(cont.system) } : buildSystemPrompt(cfg.templatePath, cfg.prompt, cfg.model);
  const { planner, why } =
    opts.planner ??
    resolvePlanner(cfg.plannerSpec, env, { ...(cfg.hints ? { hints: cfg.hints } : {}), model: cfg.model, depth: plannerDepth(cfg), ...sdkRetriesFor(cfg) });
  const resuming = cont !== undefined && !cont.copyPrefix;
  const prices = runPrices(cfg, planner.id, loadPrices(cfg.pricesFile));
  // The model id against the provider's list (network): last of the checks, before anything starts.
  const modelLines = (await planner.check?.(io.signal)) ?? [];
  io.out(`planner: ${planner.id} (${why})`);
  for (const line of [...modelLines, ...prices.lines]) io.out(line);
  // A resume continues the run's clock: its summary and feedback give the whole run's time.
  const elapsedBeforeMs = resuming ? (cont!.elapsedBeforeMs ?? 0) : 0;
  const session = await RunSession.open(cfg, env, io, {
    prices,
    ...(resuming ? { resumeSeq: Math.max(0, ...cont!.prefix.map((e) => e.seq)), elapsedBeforeMs } : {}),
  });
  let result: LoopResult;
  try {
    if (!resuming)
      session.begin({ planner: planner.id, system: prompt.system, templateSha256: prompt.templateSha256, ...(cont?.parent ? { parent: cont.parent } : {}) });
    session.noteStart(cont?.startTurn ?? 0);
    io.out(`tools: ${session.tools.tools.map((t) => t.name).join(", ")}`);
    const messages = cont
      ? await bridge(cont, { ...session.state.harness(session.tools, session.events), stateListeners: session.stateListeners, out: io.out })
      : undefined;
    const retry = {
      ...DEFAULT_RETRY,
      retries: Number(env.TINKERLOOP_RETRIES ?? DEFAULT_RETRY.retries),
      baseDelayMs: Number(env.TINKERLOOP_RETRY_BASE_MS ?? DEFAULT_RETRY.baseDelayMs),
    };
    // Innermost the price, then the budget (each attempt, retries too, sized and checked before it is sent).
    const priced = new PricedPlanner(planner, prices.planner);
    const budgeted = prices.planner
      ? new BudgetedPlanner(priced, {
          price: prices.planner,
          // Less the final exam's reserve, like the guard's: the planner may not spend what grading the run needs.
          budget: budgetBesideExam(costBudgetOf(cfg), session.exam, prices.training),
          spend: session.spend,
          ...(planner.size ? { size: (req) => planner.size!(req) } : {}),
        })
      : priced;
    result = await runLoop(
      {
        system: prompt.system,
        model: cfg.model,
        kickoff: KICKOFF + examBrief(session.exam) + examReserveNote(cfg, session.exam, prices.training),
        maxTurns: cfg.maxTurns,
        maxMs: (cfg.maxMinutes + session.graceMinutes) * 60_000,
        maxNudges: cfg.maxNudges,
        ...(messages ? { messages, startTurn: cont!.startTurn } : {}),
        context: { maxContextTokens: cfg.maxContextTokens, keepRecentMessages: 8 },
        onStop: (r) => session.wrapUp(r),
        afterCall: (turn) => session.afterCall(turn),
      },
      {
        planner: new RetryingPlanner(new RedactingPlanner(budgeted, session.redactor), retry),
        tools: session.tools,
        events: session.events,
        clock: { now: () => Date.now() },
        signal: io.signal,
        guard: session.guard,
        feedback: session.ledger,
      },
    );
  } finally {
    await session.close();
  }
  return session.conclude({ ...result, elapsedMs: result.elapsedMs + elapsedBeforeMs }, planner.id);
}

const sha256 = (text: string) => crypto.createHash("sha256").update(text).digest("hex");

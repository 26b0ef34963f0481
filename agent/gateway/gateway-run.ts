import { ZERO_USAGE } from "../core/conversation.ts";
import type { Block } from "../core/conversation.ts";
import { runCall, SYSTEM_CLOCK } from "../core/call.ts";
import type { LoopResult } from "../core/loop.ts";
import type { EndReason } from "../core/run-end.ts";
import type { FilledPrompt } from "../config/system-prompt.ts";
import type { RunSession } from "../session/run-session.ts";
import type { RunSummary } from "../summary/summary.ts";
import { baseToolName } from "../core/tool-names.ts";
import type { ToolSpec } from "../core/tools.ts";
import { GATEWAY_PLANNER_PREFIX } from "../core/planner.ts";
import { SEED_PROMPT_NAME } from "./defaults.ts";
import { gatewayInstructions, writeSeedPromptFile } from "./instructions.ts";
import { fitResult, keepWholeResult, RESULT_LIMIT_BYTES } from "./result-size.ts";

/**
 * What an external agent gets back for one call: text only. Claude Code and Codex hand the model
 * only the structured result when a result has one, which would drop the guard's notes, the
 * feedback block and the end-of-run text; the structured result stays in the transcript (and
 * beside a cut result, in its .json).
 */
export type GatewayResult = { text: string; isError: boolean };

/** Where a progress notification of the running call goes (the agent's progress token, when it sent one). */
export type ProgressSink = (message: string | undefined) => void;

/**
 * One run driven by an external agent's tool calls instead of a planner and the turn
 * loop. Each call is a turn: the guard decides, the tool runs, every step is an event
 * on the session's stream (transcript, training state, metrics, progress, heartbeat),
 * and a training call's result carries the feedback block (an external agent has no
 * harness message to carry it). Calls run one at a time, in the order they arrive.
 * The run ends on a successful finish(), a guard stop, the time limit, or when the
 * agent goes away or the gateway is stopped (then unsaved training is saved first).
 */
export class GatewayRun {
  private turn = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private agent: string | undefined;
  private ended: { reason: EndReason; exitCode: number; summary: RunSummary } | undefined;
  private progress: ProgressSink | undefined;
  private stoppingRecorded = false;
  private endRequested = false;
  private readonly stopping = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly maxMs: number;
  private readonly onEnd = new Set<(code: number) => void>();
  /** The MCP server's instructions: the essentials, then the seed prompt as far as the clients keep it. */
  readonly instructions: string;

  constructor(
    private readonly session: RunSession,
    readonly prompt: FilledPrompt,
    private readonly out: (line: string) => void,
  ) {
    this.maxMs = (session.cfg.maxMinutes + session.graceMinutes) * 60_000;
    writeSeedPromptFile(session.cfg.runDir, prompt.system);
    this.instructions = gatewayInstructions({ system: prompt.system, model: session.cfg.model, prompt: session.cfg.prompt, promptName: SEED_PROMPT_NAME });
    // An agent that goes quiet past the time limit still gets its run closed and saved.
    this.timer = setTimeout(() => void this.end("time_limit", `reached the ${Math.round(this.maxMs / 60000)} minute limit`), this.maxMs);
    this.timer.unref();
  }

  get tools(): ToolSpec[] {
    return this.session.tools.tools;
  }

  get runDir(): string {
    return this.session.cfg.runDir;
  }

  /** The agent holding the run (its MCP client name), once one has connected. */
  get holder(): string | undefined {
    return this.agent;
  }

  get endReason(): EndReason | undefined {
    return this.ended?.reason;
  }

  /** Ended, or ending (the wrap-up under way): a new agent session is not given this run. */
  get closing(): boolean {
    return this.endRequested || this.ended !== undefined;
  }

  /** Told once, with the exit code, when the run has ended and its record is complete. */
  whenEnded(listener: (code: number) => void): void {
    if (this.ended) listener(this.ended.exitCode);
    else this.onEnd.add(listener);
  }

  /** A progress notification from a tool server, passed to the agent of the call that is running. */
  forwardProgress(message: string | undefined): void {
    this.progress?.(message);
  }

  /** The agent introduced itself: the run header names it as the planner. */
  attach(clientName: string): void {
    if (this.agent !== undefined) return;
    this.agent = `${GATEWAY_PLANNER_PREFIX}${clientName.replace(/[^\w.@/-]/g, "_").slice(0, 60) || "agent"}`;
    this.session.begin({ planner: this.agent, system: this.prompt.system, templateSha256: this.prompt.templateSha256 });
    this.session.noteStart(0);
    this.out(`agent: ${this.agent} holds the run`);
  }

  /** One tool call from the agent, queued behind any call still running. */
  call(name: string, input: unknown, o: { signal?: AbortSignal; progress?: ProgressSink } = {}): Promise<GatewayResult> {
    return this.enqueue(() => this.callNow(name, input, o));
  }

  /** Ends the run (once): a graceful stop saves unsaved training and finishes the training session first. */
  end(reason: EndReason, detail?: string): Promise<void> {
    this.endRequested = true;
    if (reason === "aborted") {
      this.stopping.abort();
      this.recordStopping(reason, detail);
    }
    return this.enqueue(() => this.endNow(reason, detail));
  }

  /**
   * The run's record as it stands, written at once when the run is stopped from outside (the
   * agent left, a signal): the clients kill a server within half a second, and a save may take
   * longer. The summary says what the wrap-up still has to save and, should it be cut short,
   * which checkpoint holds the rest; the finished wrap-up writes the summary again.
   */
  private recordStopping(reason: EndReason, detail: string | undefined): void {
    if (this.ended || this.stoppingRecorded) return;
    this.stoppingRecorded = true;
    if (this.agent === undefined) this.attach("none");
    const t = this.session.training;
    const pending =
      t.sessionOpen && t.unsavedTrainingCalls > 0
        ? `${this.unsavedText()} not saved yet: the wrap-up is saving them; if this summary still says so, the wrap-up was cut short, and ${this.holdsText()}`
        : this.nothingUnsavedText();
    const stopping = `${detail ?? "stopped"}; wrap-up under way: ${pending}`;
    this.session.events.emit({ type: "note", turn: this.turn, text: `stopping (${reason}): ${stopping}` });
    this.out("the run's record as it stands (rewritten when the wrap-up ends):");
    this.session.conclude(this.resultNow(reason, stopping), this.agent!);
  }

  /**
   * After every call: summary.json and report.html as if the gateway were killed now (a client
   * may kill it with no signal it can act on, or its tool servers with it), so a run directory
   * always says what was done and what would be lost; the run's end writes them again.
   */
  private recordInProgress(): void {
    const t = this.session.training;
    const lost = t.sessionOpen && t.unsavedTrainingCalls > 0 ? `${this.unsavedText()} not saved yet, and ${this.holdsText()}` : this.nothingUnsavedText();
    this.session.writeRecord(this.resultNow("aborted", `the run was in progress, or its gateway was killed before any wrap-up: ${lost}`), this.agent!);
  }

  private resultNow(reason: EndReason, detail: string): LoopResult {
    return { reason, detail, turns: this.turn, usage: ZERO_USAGE, messages: [], elapsedMs: Date.now() - this.session.startedAt };
  }

  private unsavedText(): string {
    const n = this.session.training.unsavedTrainingCalls;
    return `${n} training call${n === 1 ? "" : "s"}`;
  }

  /** Which checkpoint (a resume point too) holds the training that is not lost. */
  private holdsText(): string {
    const t = this.session.training;
    if (!t.lastCheckpoint) return "no checkpoint holds any of the training";
    if (t.sinceCheckpoint === 0) return `${t.lastCheckpoint} (a resume point) holds all of it`;
    return `${t.lastCheckpoint} holds the training up to ${t.sinceCheckpoint} call${t.sinceCheckpoint === 1 ? "" : "s"} before the end`;
  }

  private nothingUnsavedText(): string {
    const t = this.session.training;
    return t.sessionOpen
      ? `nothing unsaved (newest checkpoint: ${t.lastCheckpoint ?? "none"}); the wrap-up finishes the training session`
      : "no training session open";
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task, task);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async callNow(name: string, input: unknown, o: { signal?: AbortSignal; progress?: ProgressSink }): Promise<GatewayResult> {
    if (this.ended) return { text: this.endedText(), isError: true };
    if (this.agent === undefined) this.attach("agent");
    const events = this.session.events;
    const elapsedMs = Date.now() - this.session.startedAt;
    if (elapsedMs >= this.maxMs) {
      await this.endNow("time_limit", `reached the ${Math.round(this.maxMs / 60000)} minute limit`);
      return { text: `Not run: ${this.endedText()}`, isError: true };
    }
    if (o.signal?.aborted) {
      events.emit({ type: "note", turn: this.turn, text: `the agent cancelled a call to ${name} before it ran` });
      return { text: `Not run: you cancelled this call to ${name}.`, isError: true };
    }
    const turn = ++this.turn;
    events.emit({ type: "turn", turn });
    const signal = o.signal ? AbortSignal.any([o.signal, this.stopping.signal]) : this.stopping.signal;
    this.progress = o.progress;
    let outcome: Awaited<ReturnType<typeof runCall>>;
    try {
      outcome = await runCall({ id: `mcp-${turn}`, name, input }, turn, {
        tools: this.session.tools,
        events,
        clock: SYSTEM_CLOCK,
        signal,
        guard: this.session.guard,
        model: this.session.cfg.model,
        elapsedMs,
        usage: ZERO_USAGE,
      });
    } finally {
      this.progress = undefined;
    }
    if (o.signal?.aborted && !this.stopping.signal.aborted)
      events.emit({ type: "note", turn, text: `the agent cancelled ${name}: the call was stopped (a bash command and every process it started are killed)` });
    if (outcome.ran && !signal.aborted) await this.session.afterCall(turn);
    const feedback = this.session.ledger.block(turn);
    if (feedback) events.emit({ type: "feedback", turn, text: feedback });
    // What the agent receives, recorded as the message the harness sent.
    events.emit({
      type: "user",
      turn,
      message: { role: "user", content: [outcome.block, ...(feedback ? [{ type: "text", text: feedback } satisfies Block] : [])] },
    });
    const tail = feedback ? [feedback] : [];
    if (outcome.stop) {
      await this.endNow("guard_stop", outcome.stop);
      tail.push(this.endedText());
    } else if (outcome.ran && !outcome.block.isError && baseToolName(name) === "finish") {
      await this.endNow("finished");
      tail.push(this.endedText());
    }
    // Text only, and within what a client passes whole: the clients hand the model only the structured result when there is one.
    const fitted = fitResult(
      { body: outcome.block.content, tail },
      {
        tool: name,
        keep: () =>
          baseToolName(name) === "read_file"
            ? undefined
            : keepWholeResult(this.runDir, turn, baseToolName(name), outcome.block.content, outcome.block.structured),
      },
    );
    if (fitted.cut) events.emit({ type: "note", turn, text: `gateway: the result of ${name} was cut to ${RESULT_LIMIT_BYTES} bytes for the agent` });
    if (!this.ended && !this.endRequested) {
      try {
        this.recordInProgress();
      } catch (err) {
        // The record is rewritten after the next call and at the end; a call's result never fails for it.
        this.out(`warning: the run's record could not be written now (${(err as Error).message.split("\n")[0]})`);
      }
    }
    return { text: fitted.text, isError: outcome.block.isError === true };
  }

  private async endNow(reason: EndReason, detail?: string): Promise<void> {
    if (this.ended) return;
    clearTimeout(this.timer);
    if (this.agent === undefined) this.attach("none");
    const result: LoopResult = {
      reason,
      ...(detail ? { detail } : {}),
      turns: this.turn,
      usage: ZERO_USAGE,
      messages: [],
      elapsedMs: Date.now() - this.session.startedAt,
    };
    try {
      // The clients' SIGKILL may come before the session is finished: the record says the save is done as soon as it is.
      const afterSave = (saved: string | undefined) =>
        this.session.writeRecord(
          this.resultNow(
            reason,
            `${detail ?? reason}; wrap-up under way: ${saved ? `the unsaved training was saved as ${saved}; the training session is being finished` : `the emergency save failed: ${this.unsavedText()} not saved, and ${this.holdsText()}`}`,
          ),
          this.agent!,
        );
      if (reason !== "finished") await this.session.wrapUp(result, afterSave);
      this.session.events.emit({ type: "end", reason, ...(detail ? { detail } : {}), turns: this.turn, elapsedMs: result.elapsedMs });
    } finally {
      await this.session.close();
    }
    const { exitCode, summary } = this.session.conclude(result, this.agent!);
    this.ended = { reason, exitCode, summary };
    for (const l of this.onEnd) l(exitCode);
    this.onEnd.clear();
  }

  private endedText(): string {
    const why = this.ended ? `${this.ended.reason}${this.ended.summary.detail ? `: ${this.ended.summary.detail}` : ""}` : "ending";
    return `[gateway] This run has ended (${why}). Its record (transcript, metrics, summary, report) is in ${this.runDir}. This session takes no more calls: over stdio, start tinkerloop mcp again for another run; over HTTP, a new session gets a new run once this one is closed.`;
  }
}

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

/** What an external agent gets back for one call: text for the agent, and the tool's structured result. */
export type GatewayResult = { text: string; isError: boolean; structured?: unknown };

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
  private readonly stopping = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly maxMs: number;
  private readonly onEnd = new Set<(code: number) => void>();

  constructor(
    private readonly session: RunSession,
    readonly prompt: FilledPrompt,
    private readonly out: (line: string) => void,
  ) {
    this.maxMs = (session.cfg.maxMinutes + session.graceMinutes) * 60_000;
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
    if (reason === "aborted") this.stopping.abort();
    return this.enqueue(() => this.endNow(reason, detail));
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
    if (outcome.ran && !signal.aborted) await this.session.afterCall(turn);
    const feedback = this.session.ledger.block(turn);
    if (feedback) events.emit({ type: "feedback", turn, text: feedback });
    // What the agent receives, recorded as the message the harness sent.
    events.emit({
      type: "user",
      turn,
      message: { role: "user", content: [outcome.block, ...(feedback ? [{ type: "text", text: feedback } satisfies Block] : [])] },
    });
    let text = feedback ? `${outcome.block.content}\n\n${feedback}` : outcome.block.content;
    if (outcome.stop) {
      await this.endNow("guard_stop", outcome.stop);
      text += `\n\n${this.endedText()}`;
    } else if (outcome.ran && !outcome.block.isError && baseToolName(name) === "finish") {
      await this.endNow("finished");
      text += `\n\n${this.endedText()}`;
    }
    return {
      text,
      isError: outcome.block.isError === true,
      ...(outcome.block.structured !== undefined && !outcome.block.isError ? { structured: outcome.block.structured } : {}),
    };
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
      if (reason !== "finished") await this.session.wrapUp(result);
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
    return `[gateway] This run has ended (${why}). Its record (transcript, metrics, summary, report) is in ${this.runDir}. This gateway takes no more calls; start tinkerloop mcp again for another run.`;
  }
}

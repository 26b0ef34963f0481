import { compactToFit, DEFAULT_CONTEXT, estimateTokens, type ContextPolicy } from "./compaction.ts";
import { addUsage, toolUses, ZERO_USAGE } from "./conversation.ts";
import type { AssistantTurn, Block, Message, ToolResultBlock, Usage } from "./conversation.ts";
import type { EventSink } from "./events.ts";
import type { Guard } from "./guard.ts";
import { ALLOW_ALL, runCall } from "./call.ts";
import type { Clock } from "./call.ts";
import type { EndReason } from "./run-end.ts";
import type { Planner } from "./planner.ts";
import { baseToolName } from "./tool-names.ts";
import type { ToolExecutor } from "./tools.ts";

/**
 * The turn loop: ask the planner, check each call with the guard, run it, answer with
 * the results and the feedback block, until the run ends. It does no I/O of its own:
 * planner, tools, clock and abort signal are passed in, and everything it does is an
 * event on `events`. Retries, redaction, persistence, metrics and progress wrap the
 * planner or listen to the events.
 */

/** The per-turn feedback block (training metrics and alerts): text for the end of the next user message, or none. */
export type FeedbackSource = { block(turn: number): string | undefined };

export type LoopOptions = {
  system: string;
  /** The run's MODEL, handed to guard rules. */
  model: string;
  /** The first user message's text (ignored when `messages` resumes a conversation). */
  kickoff: string;
  /** A conversation to continue (resume, fork); starts fresh when absent. */
  messages?: Message[];
  maxTurns: number;
  /** Wall-time budget in milliseconds from the loop's start. */
  maxMs: number;
  /** How many times the planner may end a turn without tool calls before the run stops. */
  maxNudges: number;
  /** Turns already taken (resume, fork): numbering continues from here and counts toward maxTurns. */
  startTurn?: number;
  /** Which tool names end the run when they succeed. */
  isFinishTool?: (name: string) => boolean;
  context?: ContextPolicy;
  /** Called when the run stops without finishing, before the end event: the caller's chance to save and close the session. */
  onStop?: (result: LoopResult) => Promise<void>;
  /** Called after each call that ran (its tool event already emitted), unless the run is stopping: the harness's chance to keep a resume point. */
  afterCall?: (turn: number) => Promise<void>;
};

export type LoopDeps = {
  planner: Planner;
  tools: ToolExecutor;
  events: EventSink;
  clock: Clock;
  signal: AbortSignal;
  /** Checks every call; without one every call is allowed (the loop's own tests). */
  guard?: Guard;
  feedback?: FeedbackSource;
};

export type LoopResult = { reason: EndReason; detail?: string; turns: number; usage: Usage; messages: Message[]; elapsedMs: number };

export const NUDGE_TEXT =
  "You ended your turn without calling a tool. This run is unattended and nobody will reply. " +
  "Continue the experiment with the tools, or call finish() if you are done.";
const CUT_OFF_TEXT = "Your reply was cut off at the output token limit. Continue.";
const TRUNCATED_CALL_TEXT = "Not run: your reply hit the output token limit, so this call may be incomplete. Send it again with less text before it.";

export async function runLoop(opts: LoopOptions, deps: LoopDeps): Promise<LoopResult> {
  const start = deps.clock.now();
  const result = await turns(opts, deps, start);
  if (result.reason !== "finished") await opts.onStop?.(result);
  result.elapsedMs = deps.clock.now() - start;
  deps.events.emit({
    type: "end",
    reason: result.reason,
    ...(result.detail ? { detail: result.detail } : {}),
    turns: result.turns,
    elapsedMs: result.elapsedMs,
  });
  return result;
}

async function turns(opts: LoopOptions, deps: LoopDeps, start: number): Promise<LoopResult> {
  const { planner, tools, events, clock, signal, feedback } = deps;
  const isFinish = opts.isFinishTool ?? ((name: string) => baseToolName(name) === "finish");
  const context = opts.context ?? DEFAULT_CONTEXT;
  const messages: Message[] = opts.messages ? [...opts.messages] : [];
  let usage = ZERO_USAGE;
  let turn = opts.startTurn ?? 0;
  let nudges = 0;
  const end = (reason: EndReason, detail?: string): LoopResult => ({ reason, ...(detail ? { detail } : {}), turns: turn, usage, messages, elapsedMs: 0 });
  const pushUser = (content: Block[]) => {
    const message: Message = { role: "user", content };
    messages.push(message);
    events.emit({ type: "user", turn, message });
  };
  /** One planner attempt: the retries the SDK made inside it, then the reply itself. */
  const recordReply = (reply: AssistantTurn, latencyMs: number) => {
    for (const [i, r] of (reply.sdkRetries ?? []).entries()) {
      events.emit({
        type: "retry",
        turn,
        attempt: i + 1,
        delayMs: r.retryAfterMs ?? 0,
        error: `${r.status ? `HTTP ${r.status}` : `connection failed (${r.error ?? "?"})`}, retried by the SDK`,
      });
    }
    usage = addUsage(usage, reply.usage);
    events.emit({ type: "assistant", turn, latencyMs, ...reply });
  };
  const compact = (trigger: "threshold" | "overflow", keep: number): boolean => {
    const r = compactToFit(opts.system, messages, context, trigger, keep);
    if (!r) return false;
    messages.splice(0, messages.length, ...r.messages);
    events.emit({ type: "compaction", turn, ...r.compaction });
    return true;
  };
  /** One planner turn: compaction before it, one more try after an overflow; failures come back as an error turn. */
  const ask = async (): Promise<AssistantTurn> => {
    if (estimateTokens(opts.system, messages) > context.maxContextTokens) compact("threshold", context.keepRecentMessages);
    for (let overflowRetried = false; ; overflowRetried = true) {
      const asked = clock.now();
      const reply = await planner.next({
        system: opts.system,
        messages,
        tools: tools.tools,
        signal,
        turn,
        onRetry: (r) => {
          recordReply(r.failed, r.latencyMs);
          events.emit({ type: "retry", turn, attempt: r.attempt, delayMs: r.delayMs, error: r.failed.error ?? String(r.failed.errorKind) });
        },
      });
      recordReply(reply, clock.now() - asked);
      if (reply.errorKind === "context_overflow" && !overflowRetried && !signal.aborted && compact("overflow", 2)) continue;
      return reply;
    }
  };

  if (messages.length === 0) pushUser([{ type: "text", text: opts.kickoff }]);
  for (;;) {
    if (signal.aborted) return end("aborted", "stop requested");
    if (turn >= opts.maxTurns) return end("max_turns", `reached --max-turns ${opts.maxTurns}`);
    if (clock.now() - start >= opts.maxMs) return end("time_limit", `reached the ${Math.round(opts.maxMs / 60000)} minute limit`);
    turn++;
    events.emit({ type: "turn", turn });

    const reply = await ask();
    if (reply.stopReason === "error" && reply.errorKind === "budget" && !signal.aborted) return end("budget", reply.error);
    if (reply.stopReason === "error")
      return signal.aborted || reply.errorKind === "aborted" ? end("aborted", "stop requested") : end("planner_error", reply.error);
    messages.push({ role: "assistant", content: reply.content });
    if (reply.stopReason === "refusal") return end("refusal", "the planner refused to continue");

    const calls = toolUses(reply.content);
    if (calls.length === 0) {
      // A paused turn continues from the assistant message itself, with no user reply.
      if (reply.stopReason === "pause_turn") continue;
      if (reply.stopReason === "max_tokens") {
        pushUser([{ type: "text", text: CUT_OFF_TEXT }]);
        continue;
      }
      if (++nudges > opts.maxNudges) return end("planner_stopped", `no tool call after ${opts.maxNudges} nudges`);
      pushUser([{ type: "text", text: NUDGE_TEXT }]);
      continue;
    }
    nudges = 0;

    const results: ToolResultBlock[] = [];
    let finished = false;
    let stopReason: string | undefined;
    for (const [i, use] of calls.entries()) {
      const truncated = reply.stopReason === "max_tokens" && i === calls.length - 1;
      if (truncated || signal.aborted || stopReason) {
        results.push({ type: "tool_result", toolUseId: use.id, content: truncated ? TRUNCATED_CALL_TEXT : "Not run: the run is stopping.", isError: true });
        continue;
      }
      const outcome = await runCall({ id: use.id, name: use.name, input: use.input }, turn, {
        tools,
        events,
        clock,
        signal,
        guard: deps.guard ?? ALLOW_ALL,
        model: opts.model,
        elapsedMs: clock.now() - start,
        usage,
      });
      results.push(outcome.block);
      if (outcome.ran && !signal.aborted) await opts.afterCall?.(turn);
      if (outcome.stop) stopReason = outcome.stop;
      if (outcome.ran && !outcome.block.isError && isFinish(use.name)) finished = true;
    }
    const fb = feedback?.block(turn);
    if (fb) events.emit({ type: "feedback", turn, text: fb });
    pushUser([...results, ...(fb ? [{ type: "text" as const, text: fb }] : [])]);

    if (finished) return end("finished");
    if (stopReason) return end("guard_stop", stopReason);
    if (signal.aborted) return end("aborted", "stop requested");
  }
}

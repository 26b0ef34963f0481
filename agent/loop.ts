import { compactMessages, estimateTokens } from "./compaction.ts";
import { addUsage, toolUses, ZERO_USAGE } from "./conversation.ts";
import type { AssistantTurn, Block, Message, PlannerErrorKind, ToolResultBlock, ToolUseBlock, Usage } from "./conversation.ts";
import type { Guard, GuardVerdict, ToolCall } from "./guard/types.ts";
import type { Planner } from "./planners/planner.ts";
import { baseToolName } from "./tool-names.ts";
import type { TranscriptSink } from "./transcript.ts";
import type { ToolExecutor, ToolResult } from "../tools/client/types.ts";

/** Wall-clock source and sleeper; injected so tests control time. */
export interface Clock {
  now(): number;
  /** Waits `ms` (or until `signal` aborts); the loop's only wait, used between planner retries. */
  sleep?(ms: number, signal: AbortSignal): Promise<void>;
}

/** Loop-level retry of planner failures the SDKs do not retry themselves (errors inside a stream, dropped connections). */
export type RetryPolicy = {
  /** Attempts after the first. */
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Random 0..1 for jitter; injected for tests. */
  random?: () => number;
};

export const DEFAULT_RETRY: RetryPolicy = { retries: 4, baseDelayMs: 2000, maxDelayMs: 60_000 };
const RETRYABLE: PlannerErrorKind[] = ["overloaded", "rate_limit", "server", "connection", "timeout"];

export type ContextPolicy = {
  /** Above this estimated size, older tool results and texts are elided. */
  maxContextTokens: number;
  /** Messages at the end that are never elided. */
  keepRecentMessages: number;
};

export const DEFAULT_CONTEXT: ContextPolicy = { maxContextTokens: 150_000, keepRecentMessages: 8 };

/**
 * Source of the per-turn feedback block (training metrics and alerts). It sees every
 * executed call and is asked once per turn for text to append after the tool results.
 */
export interface FeedbackSource {
  observe(call: ToolCall, result: ToolResult): void;
  /** Text for the end of the next user message, or undefined for none this turn. */
  block(turn: number): string | undefined;
}

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
  retry?: RetryPolicy;
  context?: ContextPolicy;
  /**
   * Called when the run stops without finishing, before the end event is written:
   * the caller's chance to save and close the session (events it writes land before
   * the end event, so the transcript ends with it).
   */
  onStop?: (result: LoopResult) => Promise<void>;
};

export type LoopDeps = {
  planner: Planner;
  tools: ToolExecutor;
  transcript: TranscriptSink;
  clock: Clock;
  signal: AbortSignal;
  guard?: Guard;
  feedback?: FeedbackSource;
  /** Further listeners told about every executed call and its outcome (the harness's training state). */
  observers?: Array<{ observe(call: ToolCall, result: ToolResult): void }>;
};

export type EndReason =
  | "finished"
  | "max_turns"
  | "time_limit"
  | "planner_stopped"
  | "planner_error"
  | "refusal"
  | "guard_stop"
  | "aborted";

export type LoopResult = {
  reason: EndReason;
  detail?: string;
  turns: number;
  usage: Usage;
  messages: Message[];
  elapsedMs: number;
};

export const NUDGE_TEXT =
  "You ended your turn without calling a tool. This run is unattended and nobody will reply. " +
  "Continue the experiment with the tools, or call finish() if you are done.";

const TRUNCATED_CALL_TEXT =
  "Not run: your reply hit the output token limit, so this call may be incomplete. " +
  "Send it again with less text before it.";

const defaultIsFinish = (name: string) => baseToolName(name) === "finish";

/**
 * The turn loop. It performs no I/O of its own: planner, tools, transcript, clock and
 * abort signal are passed in, and everything it does is written to the transcript.
 */
export async function runLoop(opts: LoopOptions, deps: LoopDeps): Promise<LoopResult> {
  const start = deps.clock.now();
  const result = await turns(opts, deps);
  if (result.reason !== "finished") await opts.onStop?.(result);
  result.elapsedMs = deps.clock.now() - start;
  deps.transcript.append({ type: "end", reason: result.reason, ...(result.detail ? { detail: result.detail } : {}), turns: result.turns, elapsedMs: result.elapsedMs });
  return result;
}

async function turns(opts: LoopOptions, deps: LoopDeps): Promise<LoopResult> {
  const { planner, tools, transcript, clock, signal, feedback } = deps;
  const isFinish = opts.isFinishTool ?? defaultIsFinish;
  const start = clock.now();
  const messages: Message[] = opts.messages ? [...opts.messages] : [];
  let usage = ZERO_USAGE;
  let turn = opts.startTurn ?? 0;
  let nudges = 0;

  const end = (reason: EndReason, detail?: string): LoopResult => ({ reason, ...(detail ? { detail } : {}), turns: turn, usage, messages, elapsedMs: 0 });
  const pushUser = (content: Block[]) => {
    const message: Message = { role: "user", content };
    messages.push(message);
    transcript.append({ type: "user", turn, message });
  };

  if (messages.length === 0) pushUser([{ type: "text", text: opts.kickoff }]);

  const retry = opts.retry ?? DEFAULT_RETRY;
  const context = opts.context ?? DEFAULT_CONTEXT;
  const sleep = clock.sleep ?? ((ms: number, s: AbortSignal) => new Promise<void>((r) => {
    const t = setTimeout(r, ms);
    s.addEventListener("abort", () => { clearTimeout(t); r(); }, { once: true });
  }));

  /**
   * Elides older content so the request stays under the context budget, down to half
   * of it so compactions stay rare; when stubs alone are too many, the oldest whole
   * exchanges go too. Recorded so the transcript rebuilds the exact conversation.
   */
  const compact = (trigger: "threshold" | "overflow", keep: number) => {
    const before = estimateTokens(opts.system, messages);
    const target = Math.min(before, context.maxContextTokens) / 2;
    const boundary = Math.max(0, messages.length - keep);
    let r = compactMessages(messages, boundary);
    let dropped = 0;
    const maxDrop = Math.floor(Math.max(0, boundary - 1) / 2);
    while (estimateTokens(opts.system, r.messages) > target && dropped < maxDrop) {
      dropped = Math.min(maxDrop, dropped + Math.max(1, Math.ceil(maxDrop / 8)));
      r = compactMessages(messages, boundary, dropped);
    }
    if (r.elided === 0 && dropped === 0) return false;
    messages.splice(0, messages.length, ...r.messages);
    transcript.append({ type: "compaction", turn, boundary, ...(dropped ? { dropped } : {}), elided: r.elided, tokensBefore: before, tokensAfter: estimateTokens(opts.system, messages), trigger });
    return true;
  };

  /** One planner turn, with compaction and loop-level retries; failures come back as an error turn. */
  const askPlanner = async (): Promise<AssistantTurn> => {
    if (estimateTokens(opts.system, messages) > context.maxContextTokens) compact("threshold", context.keepRecentMessages);
    let compactedForOverflow = false;
    for (let attempt = 0; ; attempt++) {
      const asked = clock.now();
      const reply = await planner.next({ system: opts.system, messages, tools: tools.tools, signal });
      for (const [i, r] of (reply.sdkRetries ?? []).entries()) {
        transcript.append({ type: "retry", turn, attempt: i + 1, delayMs: r.retryAfterMs ?? 0, error: `${r.status ? `HTTP ${r.status}` : `connection failed (${r.error ?? "?"})`}, retried by the SDK` });
      }
      usage = addUsage(usage, reply.usage);
      transcript.append({ type: "assistant", turn, latencyMs: clock.now() - asked, ...reply });
      if (reply.stopReason !== "error" || signal.aborted || reply.errorKind === "aborted") return reply;
      if (reply.errorKind === "context_overflow" && !compactedForOverflow) {
        compactedForOverflow = true;
        if (compact("overflow", 2)) continue;
      }
      if (!RETRYABLE.includes(reply.errorKind ?? "other") || attempt >= retry.retries) {
        const spent = attempt > 0 ? ` (after ${attempt} retr${attempt === 1 ? "y" : "ies"})` : "";
        return { ...reply, error: `${reply.error ?? "planner error"}${spent}` };
      }
      const jitter = 0.75 + 0.5 * (retry.random ?? Math.random)();
      const delayMs = Math.round(Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** attempt) * jitter);
      transcript.append({ type: "retry", turn, attempt: attempt + 1, delayMs, error: reply.error ?? String(reply.errorKind) });
      await sleep(delayMs, signal);
      if (signal.aborted) return reply;
    }
  };

  for (;;) {
    if (signal.aborted) return end("aborted", "stop requested");
    if (turn >= opts.maxTurns) return end("max_turns", `reached --max-turns ${opts.maxTurns}`);
    if (clock.now() - start >= opts.maxMs) return end("time_limit", `reached the ${Math.round(opts.maxMs / 60000)} minute limit`);
    turn++;

    const reply = await askPlanner();
    if (reply.stopReason === "error") {
      if (reply.errorKind === "aborted" || signal.aborted) return end("aborted", "stop requested");
      return end("planner_error", reply.error);
    }
    messages.push({ role: "assistant", content: reply.content });
    if (reply.stopReason === "refusal") return end("refusal", "the planner refused to continue");

    const calls = toolUses(reply.content);
    if (calls.length === 0) {
      // A paused turn continues from the assistant message itself, with no user reply.
      if (reply.stopReason === "pause_turn") continue;
      if (reply.stopReason === "max_tokens") {
        pushUser([{ type: "text", text: "Your reply was cut off at the output token limit. Continue." }]);
        continue;
      }
      nudges++;
      if (nudges > opts.maxNudges) return end("planner_stopped", `no tool call after ${opts.maxNudges} nudges`);
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
        const text = truncated ? TRUNCATED_CALL_TEXT : "Not run: the run is stopping.";
        results.push({ type: "tool_result", toolUseId: use.id, content: text, isError: true });
        continue;
      }
      const outcome = await runOneCall(use, turn, { ...deps, model: opts.model, elapsedMs: clock.now() - start, usage });
      results.push(outcome.block);
      if (outcome.stop) stopReason = outcome.stop;
      if (outcome.ran && !outcome.block.isError && isFinish(use.name)) finished = true;
    }

    const tail: Block[] = [];
    const fb = feedback?.block(turn);
    if (fb) {
      transcript.append({ type: "feedback", turn, text: fb });
      tail.push({ type: "text", text: fb });
    }
    pushUser([...results, ...tail]);

    if (finished) return end("finished");
    if (stopReason) return end("guard_stop", stopReason);
    if (signal.aborted) return end("aborted", "stop requested");
  }
}

type CallOutcome = { block: ToolResultBlock; ran: boolean; stop?: string };

async function runOneCall(
  use: ToolUseBlock,
  turn: number,
  deps: LoopDeps & { model: string; elapsedMs: number; usage: Usage },
): Promise<CallOutcome> {
  const { tools, transcript, clock, signal, guard, feedback } = deps;
  const call: ToolCall = { id: use.id, name: use.name, input: use.input };
  const verdict: GuardVerdict = guard
    ? await guard.check(call, { tools: tools.tools, model: deps.model, turn, elapsedMs: deps.elapsedMs, usage: deps.usage })
    : { decision: { action: "allow" } };
  const decision = verdict.decision;
  const effective = decision.action === "rewrite" ? decision.input : use.input;
  transcript.append({
    type: "guard",
    turn,
    toolUseId: use.id,
    name: use.name,
    decision,
    ...(verdict.rule ? { rule: verdict.rule } : {}),
    original: use.input,
    effective: decision.action === "allow" || decision.action === "rewrite" ? effective : null,
  });

  if (decision.action === "reject" || decision.action === "stop") {
    const text = decision.action === "reject" ? decision.message : `Not run: ${decision.reason}`;
    return {
      block: { type: "tool_result", toolUseId: use.id, content: text, isError: true },
      ran: false,
      ...(decision.action === "stop" ? { stop: decision.reason } : {}),
    };
  }

  const started = clock.now();
  const result = await tools.call(use.name, effective, { signal, toolUseId: use.id });
  const ms = clock.now() - started;
  transcript.append({
    type: "tool",
    turn,
    toolUseId: use.id,
    name: use.name,
    input: effective,
    result: result.content,
    ...(result.structured !== undefined ? { structured: result.structured } : {}),
    ...(result.meta !== undefined ? { meta: result.meta } : {}),
    isError: result.isError,
    ms,
  });
  const executed: ToolCall = { ...call, input: effective };
  guard?.observe(executed, result);
  feedback?.observe(executed, result);
  for (const o of deps.observers ?? []) o.observe(executed, result);

  const content = decision.action === "rewrite" ? `[guard] ${decision.note}\n${result.content}` : result.content;
  return {
    block: {
      type: "tool_result",
      toolUseId: use.id,
      content,
      ...(result.isError ? { isError: true } : {}),
      ...(result.structured !== undefined ? { structured: result.structured } : {}),
    },
    ran: true,
  };
}

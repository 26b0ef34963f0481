import type { AssistantTurn, Message } from "./conversation.ts";
import type { GuardDecision, ToolCall } from "./guard.ts";
import type { CostEstimate } from "./cost.ts";
import type { ToolResult } from "./tools.ts";
import type { EndReason } from "./run-end.ts";

/**
 * The run as one typed event stream. The loop emits these and does nothing else with
 * them; the transcript writer, the training state, the guard's observers, the metrics
 * ledger and its file, the progress printer, the heartbeat and the summary listen.
 * The transcript is this stream, one event a line; resume, fork, cassette replay and
 * the summary replay recorded events into the same listeners.
 */

export type RunHeader = {
  type: "run";
  schema: number;
  runId: string;
  startedAt: string;
  planner: string;
  model: string;
  /** The run's configuration, secrets already redacted. */
  config: Record<string, unknown>;
  templateSha256: string;
  tools: Array<{ name: string; source: string }>;
  /** The tools' descriptions and input schemas, so a replay can check calls as the run did. */
  toolSpecs?: Array<{ name: string; description: string; inputSchema: Record<string, unknown>; source: string }>;
  /** Run this one was forked or resumed from, when any. */
  parent?: string;
  /** A graded run's exam: its spec (agent/config/exam-spec.ts), hash and size; never its items. */
  exam?: { spec: Record<string, unknown>; hash: string; items: number };
};

/** A tool call that ran: the effective input (after any guard rewrite) and its result. */
export type ToolEvent = {
  type: "tool";
  turn: number;
  toolUseId: string;
  name: string;
  input: unknown;
  result: string;
  structured?: unknown;
  meta?: Record<string, unknown>;
  isError: boolean;
  ms: number;
};

export type RunEvent =
  | RunHeader
  | { type: "system"; text: string }
  /** A planner turn begins (the planner is about to be asked). */
  | { type: "turn"; turn: number }
  /** `amends`: this message replaces the previous user message (a resume or fork note added to it). */
  | { type: "user"; turn: number; message: Message; amends?: boolean }
  | ({ type: "assistant"; turn: number; latencyMs: number } & AssistantTurn)
  | {
      type: "guard";
      turn: number;
      toolUseId: string;
      name: string;
      decision: GuardDecision;
      rule?: string;
      original: unknown;
      effective: unknown;
      /** What the call was expected to cost (training and sampling calls, when the model has a price). */
      estimate?: CostEstimate;
    }
  | ToolEvent
  | { type: "feedback"; turn: number; text: string }
  | { type: "retry"; turn: number; attempt: number; delayMs: number; error: string }
  | { type: "note"; turn: number; text: string }
  /** One sitting of the run's exam by the harness: per-item scores keyed by item hash (never the items), mean and its 95% interval. */
  | {
      type: "exam";
      turn: number;
      label: string;
      specHash: string;
      weights: string;
      scores: Array<{ item: string; score: number }>;
      mean: number;
      low: number;
      high: number;
      /** On a sitting after the baseline: its lift over the baseline, paired 95% interval over the items. */
      lift?: { mean: number; low: number; high: number; paired: boolean };
    }
  /** Older messages (before `boundary`) were shortened to stubs from here on. */
  | {
      type: "compaction";
      turn: number;
      boundary: number;
      dropped?: number;
      elided: number;
      tokensBefore: number;
      tokensAfter: number;
      trigger: "threshold" | "overflow";
    }
  | { type: "end"; reason: EndReason; detail?: string; turns: number; elapsedMs: number };

/** Where events go. Implementations persist or act before returning. */
export interface EventSink {
  emit(event: RunEvent): void;
}

/** One listener of the stream. */
export interface EventListener {
  on(event: RunEvent): void;
}

/** Fans each event out to its listeners, in order (the transcript writer first, so a listener's failure cannot lose the record). */
export class EventBus implements EventSink {
  private readonly listeners: EventListener[];

  constructor(listeners: EventListener[] = []) {
    this.listeners = [...listeners];
  }

  add(listener: EventListener): void {
    this.listeners.push(listener);
  }

  emit(event: RunEvent): void {
    for (const l of this.listeners) l.on(event);
  }
}

/** A tool event as the call and result that listeners of tool outcomes take. */
export function toolOutcome(e: ToolEvent): { call: ToolCall; result: ToolResult } {
  return {
    call: { id: e.toolUseId, name: e.name, input: e.input },
    result: {
      content: e.result,
      isError: e.isError,
      ...(e.structured !== undefined ? { structured: e.structured } : {}),
      ...(e.meta !== undefined ? { meta: e.meta } : {}),
    },
  };
}

/** Something that learns from every executed call (training state, guard rules, metrics). */
export interface CallObserver {
  observe(call: ToolCall, result: ToolResult): void;
}

/** Listens to tool events only, handing each to an observer as call and result. */
export function observing(observer: CallObserver): EventListener {
  return {
    on(e) {
      if (e.type !== "tool") return;
      const { call, result } = toolOutcome(e);
      observer.observe(call, result);
    },
  };
}

/** Feeds recorded events into listeners (file writers left out): the one way state is rebuilt from a transcript. */
export function rebuildState(events: Iterable<RunEvent>, listeners: EventListener[]): void {
  const bus = new EventBus(listeners);
  for (const e of events) bus.emit(e);
}

import fs from "node:fs";
import { z } from "zod";
import type { AssistantTurn, Block, Message } from "./conversation.ts";
import type { GuardDecision } from "./guard/types.ts";
import type { Redactor } from "./redact.ts";
import { compactMessages } from "./compaction.ts";

/** Bump when an event's shape changes; the reader upgrades older versions. */
export const TRANSCRIPT_SCHEMA_VERSION = 1;

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
};

export type TranscriptEvent =
  | RunHeader
  | { type: "system"; text: string }
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
    }
  | {
      type: "tool";
      turn: number;
      toolUseId: string;
      name: string;
      input: unknown;
      result: string;
      structured?: unknown;
      isError: boolean;
      ms: number;
    }
  | { type: "feedback"; turn: number; text: string }
  | { type: "retry"; turn: number; attempt: number; delayMs: number; error: string }
  | { type: "note"; turn: number; text: string }
  /** Older messages (before `boundary`) were shortened to stubs from here on. */
  | { type: "compaction"; turn: number; boundary: number; dropped?: number; elided: number; tokensBefore: number; tokensAfter: number; trigger: "threshold" | "overflow" }
  | { type: "end"; reason: string; detail?: string; turns: number; elapsedMs: number };

/** A recorded line: the event plus its sequence number and wall-clock time. */
export type RecordedEvent = TranscriptEvent & { seq: number; t: string };

/** Where the loop writes its events. Implementations must persist before returning. */
export interface TranscriptSink {
  append(event: TranscriptEvent): void;
}

/**
 * Append-only JSONL writer. Each event is redacted, serialized and written with a
 * synchronous write, so a crash loses at most the line being written.
 */
export class TranscriptWriter implements TranscriptSink {
  private fd: number | undefined;
  private seq: number;

  constructor(
    readonly path: string,
    private readonly redactor: Redactor,
    private readonly now: () => Date = () => new Date(),
    startSeq = 0,
  ) {
    this.fd = fs.openSync(path, "a", 0o600);
    this.seq = startSeq;
  }

  append(event: TranscriptEvent): void {
    if (this.fd === undefined) throw new Error(`transcript ${this.path} is closed`);
    const line = this.redactor.text(JSON.stringify({ seq: ++this.seq, t: this.now().toISOString(), ...event }));
    fs.writeSync(this.fd, line + "\n");
  }

  close(): void {
    if (this.fd === undefined) return;
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

const recordedShape = z.looseObject({ seq: z.number().int(), t: z.string(), type: z.string() });

export type TranscriptReadResult = {
  events: RecordedEvent[];
  /** Set when the file ends in a partial line (a crash mid-write); that line is dropped. */
  tornTail?: string;
  /** Set when a line before the end could not be read; events stop just before it. */
  damage?: { line: number; reason: string };
};

/**
 * Upgrades an event written under an older schema to the current one. Schema 0 is
 * the draft format of the first design (header `version` instead of `schema`, tool
 * results under `output`, user messages as bare `content` arrays); it is read so
 * transcripts from that stage still replay.
 */
export function upgradeEvent(e: Record<string, unknown>, schema: number): Record<string, unknown> {
  if (schema >= TRANSCRIPT_SCHEMA_VERSION) return e;
  const out = { ...e };
  if (out.type === "run" && out.schema === undefined) {
    out.schema = TRANSCRIPT_SCHEMA_VERSION;
    out.upgradedFrom = typeof out.version === "number" ? out.version : 0;
    delete out.version;
  }
  if (out.type === "tool" && out.result === undefined && typeof out.output === "string") {
    out.result = out.output;
    delete out.output;
  }
  if (out.type === "user" && out.message === undefined && Array.isArray(out.content)) {
    out.message = { role: "user", content: out.content };
    delete out.content;
  }
  return out;
}

export type ParsedLine = { event: RecordedEvent; schema: number } | { error: string; notJson: boolean };

/**
 * One complete transcript line: parsed, checked and upgraded. `schema` is the schema of
 * the header read so far; a header line returns its own.
 */
export function parseTranscriptLine(line: string, schema: number): ParsedLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (err) {
    return { error: `not JSON: ${(err as Error).message}`, notJson: true };
  }
  const checked = recordedShape.safeParse(parsed);
  if (!checked.success) return { error: "not a transcript event (needs seq, t and type)", notJson: false };
  if (checked.data.type === "run") {
    const v = (checked.data as Record<string, unknown>).schema ?? (checked.data as Record<string, unknown>).version;
    schema = typeof v === "number" ? v : 0;
    if (schema > TRANSCRIPT_SCHEMA_VERSION) {
      return { error: `written by a newer tinkerloop (schema ${schema}; this one reads up to ${TRANSCRIPT_SCHEMA_VERSION})`, notJson: false };
    }
  }
  return { event: upgradeEvent(checked.data, schema) as unknown as RecordedEvent, schema };
}

/** Reads a transcript, tolerating a torn last line and stopping at the first damaged one. */
export function readTranscript(path: string): TranscriptReadResult {
  const raw = fs.readFileSync(path, "utf8");
  const lines = raw.split("\n");
  const endsClean = raw.endsWith("\n") || raw.length === 0;
  if (endsClean) lines.pop();
  const events: RecordedEvent[] = [];
  let schema = TRANSCRIPT_SCHEMA_VERSION;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const isLast = i === lines.length - 1;
    if (line.trim() === "") continue;
    const r = parseTranscriptLine(line, schema);
    if ("error" in r) {
      if (r.notJson && isLast && !endsClean) return { events, tornTail: line };
      return { events, damage: { line: i + 1, reason: r.error } };
    }
    schema = r.schema;
    events.push(r.event);
  }
  return { events };
}

/** The message list as the planner last saw it, rebuilt from the recorded events. */
export function messagesFromEvents(events: RecordedEvent[]): Message[] {
  const messages: Message[] = [];
  for (const e of events) {
    if (e.type === "user" && e.amends && messages[messages.length - 1]?.role === "user") messages[messages.length - 1] = e.message;
    else if (e.type === "user") messages.push(e.message);
    else if (e.type === "compaction") messages.splice(0, messages.length, ...compactMessages(messages, e.boundary, e.dropped ?? 0).messages);
    else if (e.type === "assistant" && e.stopReason !== "error") {
      messages.push({ role: "assistant", content: e.content as Block[] });
    }
  }
  return messages;
}

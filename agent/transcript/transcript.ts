import fs from "node:fs";
import nodePath from "node:path";
import { openBeneath } from "../../lib/run-file-writes.ts";
import { z } from "zod";
import { blockShape, messageShape, usageShape } from "../core/conversation.ts";
import type { Block, Message } from "../core/conversation.ts";
import type { EventListener, RunEvent } from "../core/events.ts";
import type { Redactor } from "../secrets/redactor.ts";
import { compactMessages } from "../core/compaction.ts";

/** Bump when an event's shape changes; the reader upgrades older versions. */
export const TRANSCRIPT_SCHEMA_VERSION = 1;

/** A recorded line: the event plus its sequence number and wall-clock time. */
export type RecordedEvent = RunEvent & { seq: number; t: string };

/**
 * Append-only JSONL writer. Each event is redacted, serialized and written with a
 * synchronous write, so a crash loses at most the line being written.
 */
export class TranscriptWriter implements EventListener {
  private fd: number | undefined;
  private seq: number;

  constructor(
    readonly path: string,
    private readonly redactor: Redactor,
    private readonly now: () => Date = () => new Date(),
    startSeq = 0,
  ) {
    // Never through a link the planner's shell planted in the run directory.
    this.fd = openBeneath(nodePath.dirname(path), nodePath.basename(path), fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT);
    this.seq = startSeq;
  }

  on(event: RunEvent): void {
    if (this.fd === undefined) throw new Error(`transcript ${this.path} is closed`);
    const line = this.redactor.text(JSON.stringify({ seq: ++this.seq, t: this.now().toISOString(), ...event }));
    fs.writeSync(this.fd, `${line}\n`);
  }

  close(): void {
    if (this.fd === undefined) return;
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

const recordedShape = z.looseObject({ seq: z.number().int(), t: z.string(), type: z.string() });

const turn = z.number().int().min(0);
const decisionShape = z.discriminatedUnion("action", [
  z.looseObject({ action: z.literal("allow") }),
  z.looseObject({ action: z.literal("rewrite"), input: z.unknown(), note: z.string() }),
  z.looseObject({ action: z.literal("reject"), message: z.string() }),
  z.looseObject({ action: z.literal("stop"), reason: z.string() }),
]);

const tokenCount = z.number().int().min(0);
const estimateShape = z.looseObject({
  usd: z.number().min(0),
  basis: z.string(),
  tokens: z.looseObject({ prefill: tokenCount, cachedPrefill: tokenCount, sampled: tokenCount, trained: tokenCount }),
});

/**
 * What each event type must carry to be read back (extra fields are kept). A line that
 * fails its shape is damage, named by line and field, never a crash further on.
 */
const EVENT_SHAPES: Record<RunEvent["type"], z.ZodType> = {
  run: z.looseObject({
    schema: z.number().int(),
    runId: z.string(),
    planner: z.string(),
    model: z.string(),
    config: z.record(z.string(), z.unknown()),
    tools: z.array(z.looseObject({ name: z.string(), source: z.string() })),
    toolSpecs: z
      .array(z.looseObject({ name: z.string(), description: z.string(), inputSchema: z.record(z.string(), z.unknown()), source: z.string() }))
      .optional(),
    parent: z.string().optional(),
  }),
  system: z.looseObject({ text: z.string() }),
  turn: z.looseObject({ turn }),
  user: z.looseObject({ turn, message: messageShape, amends: z.boolean().optional() }),
  assistant: z.looseObject({
    turn,
    content: z.array(blockShape),
    stopReason: z.enum(["tool_use", "end_turn", "max_tokens", "pause_turn", "refusal", "error"]),
    usage: usageShape,
    error: z.string().optional(),
  }),
  guard: z.looseObject({
    turn,
    toolUseId: z.string(),
    name: z.string(),
    decision: decisionShape,
    rule: z.string().optional(),
    estimate: estimateShape.optional(),
  }),
  tool: z.looseObject({ turn, toolUseId: z.string(), name: z.string(), result: z.string(), isError: z.boolean(), ms: z.number() }),
  feedback: z.looseObject({ turn, text: z.string() }),
  retry: z.looseObject({ turn, attempt: z.number(), delayMs: z.number(), error: z.string() }),
  note: z.looseObject({ turn, text: z.string() }),
  exam: z.looseObject({
    turn,
    label: z.string(),
    specHash: z.string(),
    weights: z.string(),
    scores: z.array(z.looseObject({ item: z.string(), score: z.number() })),
    mean: z.number(),
    low: z.number(),
    high: z.number(),
    lift: z.looseObject({ mean: z.number(), low: z.number(), high: z.number(), paired: z.boolean() }).optional(),
  }),
  compaction: z.looseObject({
    turn,
    boundary: z.number().int().min(0),
    dropped: z.number().int().min(0).optional(),
    elided: z.number(),
    tokensBefore: z.number(),
    tokensAfter: z.number(),
  }),
  end: z.looseObject({ reason: z.string(), turns: z.number(), elapsedMs: z.number() }),
};

/** Why an (upgraded) event does not have its type's shape, or undefined when it does. */
export function eventProblem(e: Record<string, unknown>): string | undefined {
  const shape = EVENT_SHAPES[e.type as RunEvent["type"]];
  if (!shape) return `unknown event type ${JSON.stringify(String(e.type).slice(0, 40))}`;
  const r = shape.safeParse(e);
  if (r.success) return undefined;
  const issue = r.error.issues[0]!;
  return `${e.type} event, field ${issue.path.join(".") || "(event)"}: ${issue.message}`;
}

/** Lines longer than this are damage: no event is that large, and V8 strings have a ceiling. */
const MAX_LINE_BYTES = 128 * 1024 * 1024;
const READ_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Calls `onLine` for every line of a file, read in chunks (a transcript may be larger
 * than the largest string V8 can hold). `last` marks the final line, `complete` whether
 * it ended with a newline. Returning false stops the walk.
 */
function forEachLine(file: string, onLine: (line: string | undefined, n: number, last: boolean, complete: boolean) => boolean): void {
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.alloc(READ_CHUNK_BYTES);
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let n = 0;
    let tooLong = false;
    for (;;) {
      const got = fs.readSync(fd, buf, 0, buf.length, null);
      if (got === 0) break;
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(10, start);
        if (nl === -1 || nl >= got) break;
        n++;
        const piece = buf.subarray(start, nl);
        const line = tooLong || pendingBytes + piece.length > MAX_LINE_BYTES ? undefined : Buffer.concat([...pending, piece]).toString("utf8");
        pending = [];
        pendingBytes = 0;
        tooLong = false;
        start = nl + 1;
        if (!onLine(line, n, false, true)) return;
      }
      if (start < got) {
        const rest = Buffer.from(buf.subarray(start, got));
        if (pendingBytes + rest.length > MAX_LINE_BYTES) {
          tooLong = true;
          pending = [];
        } else pending.push(rest);
        pendingBytes += rest.length;
      }
    }
    if (pendingBytes > 0) onLine(tooLong ? undefined : Buffer.concat(pending).toString("utf8"), n + 1, true, false);
  } finally {
    fs.closeSync(fd);
  }
}

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
 * One complete transcript line: parsed, checked against its event type's shape, and
 * upgraded. `schema` is the schema of the header read so far; a header line returns its own.
 */
export function parseTranscriptLine(line: string, schema: number): ParsedLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (err) {
    return { error: `not JSON: ${(err as Error).message.slice(0, 120)}`, notJson: true };
  }
  const checked = recordedShape.safeParse(parsed);
  if (!checked.success) return { error: "not a transcript event (needs seq, t and type)", notJson: false };
  if (checked.data.type === "run") {
    const v = (checked.data as Record<string, unknown>).schema ?? (checked.data as Record<string, unknown>).version;
    schema = typeof v === "number" ? v : 0;
    if (schema > TRANSCRIPT_SCHEMA_VERSION) {
      return {
        error: `written by a newer tinkerloop (transcript schema ${schema}; this one reads up to ${TRANSCRIPT_SCHEMA_VERSION}): upgrade tinkerloop to read it`,
        notJson: false,
      };
    }
  }
  const event = upgradeEvent(checked.data, schema);
  const problem = eventProblem(event);
  if (problem) return { error: problem, notJson: false };
  return { event: event as unknown as RecordedEvent, schema };
}

/**
 * Reads a transcript, tolerating a torn last line and stopping at the first damaged
 * one (not JSON, not an event, an event without its type's fields, a newer schema).
 */
export function readTranscript(path: string): TranscriptReadResult {
  const events: RecordedEvent[] = [];
  let schema = TRANSCRIPT_SCHEMA_VERSION;
  let result: TranscriptReadResult = { events };
  forEachLine(path, (line, n, last, complete) => {
    if (line === undefined) {
      result = { events, damage: { line: n, reason: `longer than ${MAX_LINE_BYTES / 1024 / 1024} MB` } };
      return false;
    }
    if (line.trim() === "") return true;
    const r = parseTranscriptLine(line, schema);
    if ("error" in r) {
      result = r.notJson && last && !complete ? { events, tornTail: line } : { events, damage: { line: n, reason: r.error } };
      return false;
    }
    schema = r.schema;
    events.push(r.event);
    return true;
  });
  return result;
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

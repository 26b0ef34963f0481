/**
 * Follows a transcript as the run appends to it: each poll reads the bytes added since
 * the last one and returns the complete lines as events. A partial last line waits
 * for its newline; a file that shrank (a resume dropped a torn line) is read again
 * from the start, and events already seen are skipped by sequence number.
 */
import fs from "node:fs";
import { parseTranscriptLine, TRANSCRIPT_SCHEMA_VERSION } from "../transcript/transcript.ts";
import type { RecordedEvent } from "../transcript/transcript.ts";

export class TranscriptTail {
  private offset = 0;
  private schema = TRANSCRIPT_SCHEMA_VERSION;
  private lastSeq = 0;
  /** Set when a line could not be read; the tail stops there, as the reader does. */
  damage: string | undefined;

  constructor(readonly file: string) {}

  /** New complete events since the last call (none while the file does not exist yet). */
  poll(): RecordedEvent[] {
    if (this.damage) return [];
    let size: number;
    try {
      size = fs.statSync(this.file).size;
    } catch {
      return [];
    }
    if (size < this.offset) {
      this.offset = 0;
    }
    if (size === this.offset) return [];
    const fd = fs.openSync(this.file, "r");
    const chunk = Buffer.alloc(size - this.offset);
    try {
      fs.readSync(fd, chunk, 0, chunk.length, this.offset);
    } finally {
      fs.closeSync(fd);
    }
    // Only whole lines are taken (a partial line, or a character split across reads, waits for the next poll).
    const end = chunk.lastIndexOf(0x0a);
    if (end < 0) return [];
    this.offset += end + 1;
    const lines = chunk.subarray(0, end).toString("utf8").split("\n");
    const out: RecordedEvent[] = [];
    for (const line of lines) {
      if (!line.trim()) continue;
      const r = parseTranscriptLine(line, this.schema);
      if ("error" in r) {
        this.damage = r.error;
        break;
      }
      this.schema = r.schema;
      if (r.event.seq <= this.lastSeq) continue;
      this.lastSeq = r.event.seq;
      out.push(r.event);
    }
    return out;
  }
}

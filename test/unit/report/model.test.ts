import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { foldEvents } from "../../../agent/report/model.ts";
import { TranscriptTail } from "../../../agent/report/tail.ts";
import { readTranscript } from "../../../agent/transcript/transcript.ts";
import type { RecordedEvent } from "../../../agent/transcript/transcript.ts";
import { REPO, tempDir } from "../../helpers.ts";

const FIXTURE = path.join(REPO, "test", "fixtures", "transcripts", "v1-guarded-run.jsonl");
const fixture = () => readTranscript(FIXTURE).events;

describe("the report model", () => {
  it("shows thinking, recorded spend and truncation when a run recorded them, and leaves them out when it did not", () => {
    const plain = foldEvents(fixture());
    expect(plain.costUsd).toBeNull();
    expect(plain.timeline.every((t) => t.thinking === "")).toBe(true);

    const richer = fixture().map((e) => {
      if (e.type === "assistant")
        return {
          ...e,
          content: [{ type: "thinking", thinking: `pondering turn ${e.turn}` }, ...e.content],
          usage: { ...e.usage, costUsd: 0.01 },
        } as unknown as RecordedEvent;
      return e;
    });
    const m = foldEvents(richer);
    expect(m.costUsd).toBeCloseTo(0.07, 10);
    expect(m.timeline.find((t) => t.turn === 3)?.thinking).toBe("pondering turn 3");
  });

  it("puts retries, compactions and notes on their turn; a run resumed after its end is running again", () => {
    const events = fixture();
    const end = events.at(-1)!;
    const t = end.t;
    const extra = [
      { seq: end.seq + 1, t, type: "user", turn: 7, message: { role: "user", content: [{ type: "text", text: "[harness] resumed" }] }, amends: true },
      { seq: end.seq + 2, t, type: "retry", turn: 8, attempt: 1, delayMs: 500, error: "HTTP 529" },
      { seq: end.seq + 3, t, type: "compaction", turn: 8, boundary: 4, elided: 3, tokensBefore: 9000, tokensAfter: 4000, trigger: "threshold" },
      { seq: end.seq + 4, t, type: "note", turn: 8, text: "restore from best: ok" },
    ] as unknown as RecordedEvent[];
    const m = foldEvents([...events, ...extra]);
    expect(m.state).toBe("running");
    expect(m.endReason).toBeNull();
    const t8 = m.timeline.find((x) => x.turn === 8)!;
    expect(t8.retries).toEqual([{ attempt: 1, delayMs: 500, error: "HTTP 529" }]);
    expect(t8.compactions).toHaveLength(1);
    expect(t8.notes).toEqual(["restore from best: ok"]);
    expect(m.timeline.map((x) => x.turn)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe("following a transcript as it grows", () => {
  it("returns whole lines only, keeps a character split across writes intact, and skips what it has seen after the file shrinks", () => {
    const dir = tempDir("tl-tail-");
    const file = path.join(dir, "transcript.jsonl");
    const tail = new TranscriptTail(file);
    expect(tail.poll()).toEqual([]); // no file yet
    const lines = fs.readFileSync(FIXTURE, "utf8").split("\n").filter(Boolean);
    fs.writeFileSync(file, `${lines[0]}\n${lines[1]}\n`);
    expect(tail.poll().map((e) => e.seq)).toEqual([1, 2]);
    // A line with a multi-byte character, written in two pieces that split the character.
    const note = Buffer.from(`${JSON.stringify({ seq: 3, t: "2026-11-26T00:29:04.000Z", type: "note", turn: 1, text: "naïve ✓" })}\n`);
    const cut = note.indexOf(Buffer.from("✓")) + 1;
    fs.appendFileSync(file, note.subarray(0, cut));
    expect(tail.poll()).toEqual([]);
    fs.appendFileSync(file, note.subarray(cut));
    expect(tail.poll()).toMatchObject([{ seq: 3, text: "naïve ✓" }]);
    // A torn last line (a crash mid-write) waits; a resume cuts it off and appends after the last whole line.
    fs.appendFileSync(file, '{"seq":4,"t":"2026-11-26T00:29:05.000Z","type":"no');
    expect(tail.poll()).toEqual([]);
    fs.truncateSync(file, fs.statSync(file).size - 50);
    fs.appendFileSync(file, `${JSON.stringify({ seq: 4, t: "2026-11-26T00:29:06.000Z", type: "note", turn: 2, text: "resumed" })}\n`);
    expect(tail.poll()).toMatchObject([{ seq: 4, text: "resumed" }]);
    // A file rewritten shorter is read again from the start, and nothing is reported twice.
    fs.writeFileSync(file, `${lines[0]}\n${lines[1]}\n`);
    expect(tail.poll()).toEqual([]);
    fs.appendFileSync(file, `${JSON.stringify({ seq: 5, t: "2026-11-26T00:29:07.000Z", type: "note", turn: 2, text: "later" })}\n`);
    expect(tail.poll().map((e) => e.seq)).toEqual([5]);
  });
});

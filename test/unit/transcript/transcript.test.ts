import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Redactor } from "../../../agent/secrets/redactor.ts";
import { messagesFromEvents, readTranscript, TranscriptWriter } from "../../../agent/transcript/transcript.ts";
import { tempDir } from "../../helpers.ts";

describe("transcript", () => {
  it("writes one event a line with sequence numbers and reads them back", () => {
    const file = path.join(tempDir(), "t.jsonl");
    const w = new TranscriptWriter(file, new Redactor({}));
    w.on({ type: "system", text: "sys" });
    w.on({ type: "user", turn: 0, message: { role: "user", content: [{ type: "text", text: "go" }] } });
    w.close();
    const r = readTranscript(file);
    expect(r.events.map((e) => [e.seq, e.type])).toEqual([
      [1, "system"],
      [2, "user"],
    ]);
    expect(r.tornTail).toBeUndefined();
    expect(messagesFromEvents(r.events)).toEqual([{ role: "user", content: [{ type: "text", text: "go" }] }]);
  });

  it("tolerates a torn last line and reports damage in the middle without throwing", () => {
    const dir = tempDir();
    const good = '{"seq":1,"t":"x","type":"system","text":"s"}\n';
    fs.writeFileSync(path.join(dir, "torn.jsonl"), `${good}{"seq":2,"t":"x","type":"us`);
    const torn = readTranscript(path.join(dir, "torn.jsonl"));
    expect(torn.events).toHaveLength(1);
    expect(torn.tornTail).toContain('"seq":2');

    fs.writeFileSync(path.join(dir, "bad.jsonl"), `${good}garbage\n${good}`);
    const bad = readTranscript(path.join(dir, "bad.jsonl"));
    expect(bad.events).toHaveLength(1);
    expect(bad.damage?.line).toBe(2);
  });

  it("redacts secret values wherever they appear, including JSON-escaped", () => {
    const file = path.join(tempDir(), "t.jsonl");
    const secret = 'sk-ant-"quoted"-0123456789';
    const w = new TranscriptWriter(file, Redactor.fromEnv({ ANTHROPIC_API_KEY: secret, HF_TOKEN: "hf_abcdefghijkl", SHORT_TOKEN: "1" }));
    w.on({ type: "system", text: `key=${secret} hf=hf_abcdefghijkl one=1` });
    w.close();
    const raw = fs.readFileSync(file, "utf8");
    expect(raw).not.toContain("0123456789");
    expect(raw).not.toContain("hf_abcdefghijkl");
    expect(raw).toContain("[REDACTED:ANTHROPIC_API_KEY]");
    expect(raw).toContain("[REDACTED:HF_TOKEN]");
    expect(raw).toContain("one=1");
  });
});

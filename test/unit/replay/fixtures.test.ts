import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cassetteReplay } from "../../../agent/replay/cassette.ts";
import { renderTranscript } from "../../../agent/replay/view.ts";
import { readTranscript } from "../../../agent/transcript/transcript.ts";
import { REPO, tempDir } from "../../helpers.ts";

const FIXTURES = path.join(REPO, "test", "fixtures", "transcripts");

describe("replay of the fixture corpus (in process)", () => {
  it("cassette replay reproduces the recorded tool calls exactly, and a changed guard rule names the turns it affects", async () => {
    const same = await cassetteReplay(path.join(FIXTURES, "v1-guarded-run.jsonl"));
    expect(same.differences).toEqual([]);
    const recorded = readTranscript(path.join(FIXTURES, "v1-guarded-run.jsonl")).events;
    const calls = (evs: any[]) => evs.filter((e) => e.type === "tool").map((e) => [e.turn, e.name, JSON.stringify(e.input), e.result]);
    expect(calls(same.events)).toEqual(calls(recorded));
    const changed = await cassetteReplay(path.join(FIXTURES, "v1-guarded-run.jsonl"), { onWrongModel: "reject" });
    expect(changed.differences[0]).toMatch(/^turn 2: init_grpo — guard decision was rewrite \(base-model\), now reject \(base-model\)/);
    expect(changed.differences.some((d) => d.startsWith("turn 3: train_grpo_step"))).toBe(true);
    expect(changed.differences.some((d) => /turn 3: feedback alert no longer fires: Mostly ALL-0/.test(d))).toBe(true);
    // A changed alert threshold names the turn whose feedback it would have changed.
    const lower = await cassetteReplay(path.join(FIXTURES, "v1-guarded-run.jsonl"), { alertThresholds: { uniformShare: 0.25 } });
    expect(lower.differences).toEqual([expect.stringMatching(/^turn 4: feedback alert now fires: Mostly ALL-0 \(30% of groups\)/)]);
  });

  it("views the fixture corpus: current schema, a torn last line, and the older draft schema", async () => {
    const full = renderTranscript(readTranscript(path.join(FIXTURES, "v1-guarded-run.jsonl"))).join("\n");
    expect(full).toMatch(/── turn 2 ──[\s\S]*guard base-model rewrite: base_model corrected/);
    expect(full).toMatch(/│ ── training feedback after turn 3 ──/);
    expect(full).toMatch(/── end: finished after 7 turns/);
    // Recorded before costs were, by a planner with no listed price: said, not guessed.
    expect(full).toMatch(/spend: not recorded, and no price is listed for anthropic:claude-fixture/);
    const torn = readTranscript(path.join(FIXTURES, "v1-torn-tail.jsonl"));
    // The torn tail is the fixture's unterminated last line, kept as it was cut.
    const cut = fs.readFileSync(path.join(FIXTURES, "v1-torn-tail.jsonl"), "utf8").split("\n").at(-1);
    expect(cut).toMatch(/^\{"seq":\d+.*"role":"use$/);
    expect(torn.tornTail).toBe(cut);
    expect(renderTranscript(torn).join("\n")).toMatch(/last line was cut off mid-write/);
    const old = readTranscript(path.join(FIXTURES, "v0-draft-format.jsonl"));
    expect(old.events[0]).toMatchObject({ type: "run", schema: 1, upgradedFrom: 0 });
    expect(old.events.find((e) => e.type === "tool")).toMatchObject({ result: "GRPO session ready for local/tiny-arith" });
  });

  it("reads a damaged transcript up to the damage and reports the rest", () => {
    const dir = tempDir();
    const lines = fs.readFileSync(path.join(FIXTURES, "v1-guarded-run.jsonl"), "utf8").split("\n");
    lines[10] = "{ this is not json";
    fs.writeFileSync(path.join(dir, "t.jsonl"), lines.join("\n"));
    const r = readTranscript(path.join(dir, "t.jsonl"));
    expect(r.events).toHaveLength(10);
    expect(r.damage?.line).toBe(11);
    expect(renderTranscript(r).join("\n")).toMatch(/line 11 is damaged/);
  });
});

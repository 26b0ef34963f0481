import path from "node:path";
import { describe, expect, it } from "vitest";
import { cassetteReplay } from "../../../agent/replay/cassette.ts";
import { readTranscript } from "../../../agent/transcript/transcript.ts";
import { REPO } from "../../helpers.ts";

const FIXTURE = path.join(REPO, "test", "fixtures", "transcripts", "v1-bash-run.jsonl");

describe("a recorded run of a planner using bash, the completions file and the truncation alert", () => {
  it("holds what the planner did: shell commands with their output, the completions file, the truncation alert", () => {
    const events = readTranscript(FIXTURE).events as any[];
    const bash = events.filter((e) => e.type === "tool" && e.name === "bash");
    expect(bash).toHaveLength(2);
    expect(bash[0].input.command).toMatch(/collections\.Counter/);
    expect(bash[0].result).toMatch(/40 rows/);
    expect(bash[1].result).toMatch(/8 of 8 cut at max_tokens/);
    const sample = events.find((e) => e.type === "tool" && e.name === "sample");
    expect(sample.structured.completions_file).toBe("completions/sample-1.jsonl");
    expect(sample.result).toMatch(/8 of 8 completions \(100%\) hit max_tokens 1/);
    expect(events.find((e) => e.type === "feedback")?.text).toMatch(/! Truncation: 100% of completions hit max_tokens/);
    // The planner sent group_size as a string; the guard read it as a number and said so.
    expect(events.find((e) => e.type === "guard" && e.name === "init_grpo").decision.note).toMatch(/group_size "4" was read as the number 4/);
  });

  it("replays as a cassette without differences; a changed truncation threshold names the turn it changes", async () => {
    expect((await cassetteReplay(FIXTURE)).differences).toEqual([]);
    const changed = await cassetteReplay(FIXTURE, { alertThresholds: { truncationShare: 1.01 } });
    expect(changed.differences).toEqual([expect.stringMatching(/^turn 4: feedback alert no longer fires: Truncation/)]);
  });
});

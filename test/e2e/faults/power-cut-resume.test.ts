import fs from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ORPHAN_ANSWER } from "../../../agent/state/restore-note.ts";
import { readTranscript } from "../../../agent/transcript/transcript.ts";
import { runCli, shortRecipe, tempDir } from "../../helpers.ts";
import {
  claimedStep,
  killPoints,
  powerCutWhen,
  restoreOf,
  slowMcpConfig,
  startInGroup,
  summaryOf,
  trainingSinceCheckpoint,
  untruthfulNames,
} from "../../faults/power-cut.ts";
import type { Ev } from "../../faults/power-cut.ts";

/** Resume points every K training calls; a short offline recipe (8 GRPO steps, the holdout every 4), the same seeds every run. */
const K = 3;
const STEPS = 8;
const SAMPLE_EVERY = 4;

function runArgs(dir: string, runDir: string, ...more: string[]): string[] {
  return [
    "run",
    "--prompt-file",
    shortRecipe(dir, STEPS, { sampleEvery: SAMPLE_EVERY }),
    "--planner",
    "scripted",
    "--run-dir",
    runDir,
    "--resume-every",
    String(K),
    ...more,
  ];
}

const events = (runDir: string) => readTranscript(path.join(runDir, "transcript.jsonl")).events as Ev[];

/** The checkpoints the summary names hold the weights their names claim (the save's counters are the server's). */
function summaryClaims(runDir: string, all: Ev[]): string[] {
  const s = summaryOf(runDir);
  const wrong: string[] = [];
  for (const p of [s.bestCheckpoint, s.lastCheckpoint].filter((x): x is string => typeof x === "string")) {
    const saved = all.filter((e) => e.type === "tool" && !e.isError && e.name === "save" && e.structured?.path === p).at(-1);
    const step = claimedStep(p.slice(p.lastIndexOf("/") + 1));
    if (saved && step !== undefined && step !== saved.structured.counters.grpo_iterations)
      wrong.push(`${p}: weights at ${saved.structured.counters.grpo_iterations}`);
  }
  return wrong;
}

describe("power cuts: SIGKILL of the whole process group, then `tinkerloop resume`", () => {
  let reference: number;

  beforeAll(async () => {
    const dir = tempDir("tl-cut-ref-");
    const runDir = path.join(dir, "run");
    const res = await runCli(runArgs(dir, runDir), { env: { HF_HUB_OFFLINE: "1" }, timeoutMs: 300_000 });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    reference = summaryOf(runDir).holdout.final;
    // The uninterrupted run kept resume points: replaced as it went, never more than two.
    const saves = events(runDir).filter((e) => e.type === "tool" && e.toolUseId === "harness-resume-point" && !e.isError);
    expect(saves.length).toBeGreaterThanOrEqual(2);
    expect(saves.slice(1).some((e) => e.structured.replaced.length > 0)).toBe(true);
    expect(fs.readdirSync(path.join(runDir, "checkpoints")).filter((n) => n.startsWith("resume-")).length).toBeLessThanOrEqual(2);
    expect(untruthfulNames(events(runDir))).toEqual([]);
  }, 300_000);

  for (const [point, at] of Object.entries(killPoints(K))) {
    it(`${point}: the resumed run finishes by itself, loses at most ${K} training calls, ends within 10 points of the uninterrupted run, and no name claims a step its weights did not reach`, async () => {
      const dir = tempDir("tl-cut-");
      const runDir = path.join(dir, "run");
      const run = startInGroup(runArgs(dir, runDir, "--mcp-config", slowMcpConfig(dir)));
      const file = path.join(runDir, "transcript.jsonl");
      const before = await powerCutWhen(run, file, at);
      expect(before.at(-1)!.type).not.toBe("end");
      // A crash in the middle of a write leaves half a line: resume drops it.
      if (point === "mid-training") fs.appendFileSync(file, '{"seq":99999,"t":"2026-11-26T00:00:00Z","type":"tool","turn":7,"na');

      const res = await runCli(["resume", runDir], { env: { HF_HUB_OFFLINE: "1" }, timeoutMs: 300_000 });
      expect(res.code, res.stdout + res.stderr).toBe(0);
      const read = readTranscript(file);
      expect(read.tornTail).toBeUndefined();
      expect(read.damage).toBeUndefined();
      const all = read.events as Ev[];
      expect(all.at(-1)).toMatchObject({ type: "end", reason: "finished" });
      // Nothing recorded before the cut was lost, and the planner was told once what happened.
      expect(all.slice(0, before.length).map((e) => e.seq)).toEqual(before.map((e) => e.seq));
      expect(all.slice(before.length).filter((e) => e.type === "user" && JSON.stringify(e).includes("was resumed"))).toHaveLength(1);
      // A run resumed to its end ends with its report, written over the whole run.
      expect(res.stdout.trimEnd().split("\n").at(-1)).toBe(`report: ${path.join(runDir, "report.html")}`);
      expect(fs.readFileSync(path.join(runDir, "report.html"), "utf8")).toContain(`"seq":${all.at(-1)!.seq},`);

      // What was lost, counted from the transcript independently of the harness: training recorded after the restored checkpoint.
      const { restore, facts, text } = restoreOf(all, before.length);
      const lost = trainingSinceCheckpoint(before);
      expect(lost).toBeLessThanOrEqual(K);
      if (restore) {
        expect(restore.isError, restore.result).toBe(false);
        expect(res.stdout).toContain(`restore: loaded ${path.join(fs.realpathSync(runDir), "checkpoints")}`);
        const made = before.filter(
          (e) =>
            e.type === "tool" &&
            !e.isError &&
            (e.structured?.path === restore.structured.path || e.structured?.auto_checkpoints?.some((a: Ev) => a.path === restore.structured.path)),
        );
        expect(made.length, `restored ${restore.structured.path}, which the run never made`).toBeGreaterThan(0);
        expect(facts, text).toMatchObject({ checkpoint: restore.structured.path, counters: restore.structured.counters, lost });
      } else {
        // Nothing to restore only before any checkpoint: then no training had happened.
        expect(point).toBe("before the first save");
        expect(facts, text).toMatchObject({ checkpoint: null, lost: 0 });
      }

      // Calls of the stopped turn are answered with what the transcript recorded; only those that never returned get the orphan answer.
      const answer = all
        .slice(before.length)
        .find((e) => e.type === "user")!
        .message.content.filter((b: Ev) => b.type === "tool_result");
      for (const b of answer) {
        const recorded = before.find((e) => e.type === "tool" && e.toolUseId === b.toolUseId);
        expect(b.content).toBe(recorded ? recorded.result : ORPHAN_ANSWER);
      }

      // It went on with the research (no second data build), and finished without repeating the baseline's init unless it had to.
      const names = all.filter((e) => e.type === "tool").map((e) => e.name);
      expect(names.filter((n) => n === "generate_synthetic")).toHaveLength(2);
      expect(names.filter((n) => n === "init_grpo")).toHaveLength(restore ? 1 : 2);
      const s = summaryOf(runDir);
      console.log(
        `${point}: restored ${restore?.structured.path ?? "nothing"}, ${lost} training call(s) lost; final holdout ${(s.holdout.final * 100).toFixed(1)}% vs ${(reference * 100).toFixed(1)}% uninterrupted`,
      );
      expect(Math.abs(s.holdout.final - reference), `final ${s.holdout.final} vs uninterrupted ${reference}`).toBeLessThanOrEqual(0.1);
      expect(untruthfulNames(all)).toEqual([]);
      expect(summaryClaims(runDir, all)).toEqual([]);
      // Replaced resume points are gone: never more than two on disk.
      expect(fs.readdirSync(path.join(runDir, "checkpoints")).filter((n) => n.startsWith("resume-") && !n.includes(".")).length).toBeLessThanOrEqual(2);
    }, 400_000);
  }
});

/**
 * What `bench:chaos` checks after the sweep is done, from the files alone: every cell's
 * transcript reads, with a torn line only where a crash cut it; the training calls a run
 * crash lost; and the leaderboard the sweep wrote against one recomputed here from the
 * cells' transcripts and summary.json files.
 */
import fs from "node:fs";
import path from "node:path";
import { readSummaryNumbers } from "../../agent/sweep/cell-status.ts";
import { leaderboard } from "../../agent/sweep/leaderboard.ts";
import type { ScoredCell } from "../../agent/sweep/leaderboard.ts";
import { manifestFiles, readManifest, SWEEP_FILES } from "../../agent/sweep/manifest.ts";
import type { CellRecord } from "../../agent/sweep/manifest.ts";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { runLayout } from "../../lib/run-layout.ts";

/** End reasons a sweep counts as an end of the run's own (finished, or stopped by a limit). */
const STOPPED = new Set(["max_turns", "time_limit", "planner_stopped", "refusal", "guard_stop"]);

export function cellsOfSweep(sweepDir: string): CellRecord[] {
  const seen = new Map<string, CellRecord>();
  for (const f of manifestFiles(sweepDir)) for (const c of readManifest(f).cells) if (!seen.has(c.id)) seen.set(c.id, c);
  return [...seen.values()];
}

/**
 * A transcript's problems — unreadable, damaged, or a line that does not parse and spans no
 * crash point (byte offsets where a kill cut the file) — and how many torn lines it has at crash points.
 */
export function transcriptProblems(file: string, crashOffsets: readonly number[]): { problems: string[]; tornAtCrash: number } {
  if (!fs.existsSync(file)) return { problems: [`${file}: missing`], tornAtCrash: 0 };
  const tornAtCrash = 0;
  const problems: string[] = [];
  const r = readTranscript(file);
  if (r.damage) problems.push(`${file}: damaged at line ${r.damage.line} (${r.damage.reason})`);
  const bytes = fs.readFileSync(file);
  let start = 0;
  let n = 0;
  while (start < bytes.length) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl < 0 ? bytes.length : nl;
    n++;
    const line = bytes.subarray(start, end).toString("utf8");
    if (line.trim()) {
      let ok = true;
      try {
        JSON.parse(line);
      } catch {
        ok = false;
      }
      if (!ok && !crashOffsets.some((c) => start < c && c <= end + 1)) problems.push(`${file}: line ${n} (bytes ${start}-${end}) is torn where no crash was`);
    }
    start = end + 1;
  }
  return { problems, tornAtCrash };
}

/** The cell's state as its transcript's end event says. */
function stateOf(runDir: string): ScoredCell["state"] {
  const t = runLayout(runDir).transcript;
  if (!fs.existsSync(t)) return "pending";
  const end = [...readTranscript(t).events].reverse().find((e) => e.type === "end") as { reason?: string } | undefined;
  if (!end) return "interrupted";
  if (end.reason === "finished") return "finished";
  if (STOPPED.has(end.reason ?? "")) return "stopped";
  return end.reason === "aborted" ? "interrupted" : "failed";
}

/** Whether leaderboard.json's groups equal a recomputation from the cells' own files. */
export function leaderboardMatches(sweepDir: string): { equal: boolean; detail: string } {
  const file = path.join(sweepDir, SWEEP_FILES.leaderboard);
  if (!fs.existsSync(file)) return { equal: false, detail: "no leaderboard.json" };
  const written = (JSON.parse(fs.readFileSync(file, "utf8")) as { groups: unknown }).groups;
  const scored: ScoredCell[] = cellsOfSweep(sweepDir).map((c) => {
    const dir = path.join(sweepDir, c.runDir);
    const summary = readSummaryNumbers(dir);
    return { id: c.id, planner: c.planner.label, prompt: c.prompt.label, model: c.model, seed: c.seed, state: stateOf(dir), ...(summary ? { summary } : {}) };
  });
  const clean = JSON.parse(JSON.stringify(leaderboard(scored)));
  const equal = JSON.stringify(clean) === JSON.stringify(written);
  return { equal, detail: equal ? "" : `written ${JSON.stringify(written).slice(0, 400)} vs clean ${JSON.stringify(clean).slice(0, 400)}` };
}

/** Cells whose run did not end on its own. */
export function lostCells(sweepDir: string): string[] {
  return cellsOfSweep(sweepDir)
    .filter((c) => !["finished", "stopped"].includes(stateOf(path.join(sweepDir, c.runDir))))
    .map((c) => `${c.id} (${stateOf(path.join(sweepDir, c.runDir))})`);
}

import fs from "node:fs";
import path from "node:path";

/**
 * The files of a run directory. The harness writes the ones it owns; the planner's
 * tools may read them but never write, replace or delete them (they are what replay,
 * resume and the summary trust).
 */
export const RUN_FILES = {
  transcript: "transcript.jsonl",
  metrics: "metrics.jsonl",
  summary: "summary.json",
  progress: "progress.txt",
  report: "report.html",
} as const;

/** The run's record: a graded run keeps these from its planner's tools while it runs (they hold the exam's scores). */
export const RECORD_FILES: readonly string[] = [RUN_FILES.transcript, RUN_FILES.summary, RUN_FILES.report];

export const RUN_DIRS = {
  /** Tool servers' stderr. */
  logs: "logs",
  /** Saved training states (local backend). */
  checkpoints: "checkpoints",
  /** Every completion of the sampling calls (harness-generated, so harness-owned). */
  completions: "completions",
  /** Exported and planner-written data files. */
  data: "data",
} as const;

/** Top-level names in a run directory that only the harness (and its servers) write. */
export const HARNESS_OWNED: readonly string[] = [...Object.values(RUN_FILES), RUN_DIRS.logs, RUN_DIRS.checkpoints, RUN_DIRS.completions];

/** Absolute paths of a run directory's files. */
export function runLayout(runDir: string) {
  const at = (name: string) => path.join(runDir, name);
  return {
    dir: runDir,
    transcript: at(RUN_FILES.transcript),
    metrics: at(RUN_FILES.metrics),
    summary: at(RUN_FILES.summary),
    progress: at(RUN_FILES.progress),
    report: at(RUN_FILES.report),
    logs: at(RUN_DIRS.logs),
    checkpoints: at(RUN_DIRS.checkpoints),
    data: at(RUN_DIRS.data),
  };
}

/** True when `rel` (relative to the run directory) is, or lies under, a harness-owned name. */
export function isHarnessOwned(rel: string): boolean {
  const first = path
    .normalize(rel)
    .split(path.sep)
    .filter((p) => p && p !== ".")[0];
  // Compared without case: on a case-insensitive file system "Transcript.jsonl" is the transcript.
  return first !== undefined && HARNESS_OWNED.some((n) => n.toLowerCase() === first.toLowerCase());
}

/**
 * The run directory `dir` is, or lies in (the nearest folder upwards holding a
 * transcript), if any. A run directory is the planner's workspace, so nothing in it is
 * ever configuration: commands started there load no `.env` and no `.mcp.json`.
 */
export function enclosingRunDir(dir: string): string | undefined {
  let cur = path.resolve(dir);
  for (;;) {
    try {
      fs.lstatSync(path.join(cur, RUN_FILES.transcript));
      return cur;
    } catch {
      // not this one
    }
    const up = path.dirname(cur);
    if (up === cur) return undefined;
    cur = up;
  }
}

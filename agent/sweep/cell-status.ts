/**
 * What a cell's run directory says about it: not started, running (here or on another
 * machine), finished, stopped without finishing, interrupted (Ctrl-C, or the process
 * died), or failed. The run directory is the truth; the manifest only adds who ran it
 * (pid, host) and how often.
 */
import fs from "node:fs";
import os from "node:os";
import { z } from "zod";
import type { LoopResult } from "../core/loop.ts";
import { parseTranscriptLine, TRANSCRIPT_SCHEMA_VERSION } from "../transcript/transcript.ts";
import type { RecordedEvent } from "../transcript/transcript.ts";
import { isCellProcess } from "./cell-process.ts";
import { runLayout } from "../../lib/run-layout.ts";
import type { CellRecord, CellState } from "./manifest.ts";

/** A heartbeat (progress.txt) older than this means the run's process is gone; it is rewritten at least every 30 s while a run lives. */
export const HEARTBEAT_STALE_MS = 120_000;

/** End reasons that are results (the run ended on its own terms) but not a finish. */
const STOPPED: ReadonlySet<LoopResult["reason"]> = new Set(["max_turns", "time_limit", "planner_stopped", "refusal", "guard_stop", "budget"]);

/** The fields of summary.json the leaderboard reads; anything else in the file is left alone. */
export const summaryShape = z.looseObject({
  runId: z.string().optional(),
  planner: z.string().optional(),
  model: z.string().optional(),
  reason: z.string(),
  detail: z.string().optional(),
  turns: z.number(),
  guardInterventions: z.number(),
  holdout: z.object({ baseline: z.number(), best: z.number(), final: z.number() }).loose().nullable(),
  usage: z.looseObject({ inputTokens: z.number(), outputTokens: z.number(), cacheReadTokens: z.number().default(0), cacheWriteTokens: z.number().default(0) }),
  elapsedMs: z.number(),
  spend: z.looseObject({ totalUsd: z.number(), plannerUnpriced: z.boolean(), trainingUnpriced: z.boolean() }).optional(),
  /** The harness's grade (null or absent: ungraded); rankings read only this. */
  exam: z
    .looseObject({
      specHash: z.string(),
      items: z.number().optional(),
      baseline: z.number().nullable().optional(),
      final: z.number().nullable().optional(),
      lift: z.number().nullable(),
      interval: z.object({ low: z.number(), high: z.number(), paired: z.boolean() }).loose().nullable().optional(),
      refusals: z.number(),
    })
    .nullable()
    .optional(),
  /** Guard interventions by rule (runs before the bench counted them have none: read as unknown). */
  interventionsByRule: z.record(z.string(), z.number()).optional(),
  selfReportedGap: z.number().nullable().optional(),
});
export type SummaryNumbers = z.infer<typeof summaryShape>;

export type Observation = { state: CellState; note?: string; summary?: SummaryNumbers };

/** summary.json of a run directory, when it is there and readable. */
export function readSummaryNumbers(runDir: string): SummaryNumbers | undefined {
  try {
    const r = summaryShape.safeParse(JSON.parse(fs.readFileSync(runLayout(runDir).summary, "utf8")));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** The cell's state from its run directory (and, for a run without an end, whether its process still lives). */
export function observeCell(runDir: string, rec: Pick<CellRecord, "pid" | "pidStart" | "host" | "state">): Observation {
  const layout = runLayout(runDir);
  if (!fs.existsSync(layout.transcript)) {
    if (rec.state === "running" && isAlive(runDir, rec)) return { state: "running", note: "starting" };
    if (rec.state === "running" || rec.state === "failed") return { state: "failed", note: "the run never started (see the cell's log)" };
    return { state: "pending" };
  }
  const last = lastEvent(layout.transcript);
  if (last?.type === "end") {
    const reason = last.reason as LoopResult["reason"];
    const summary = readSummaryNumbers(runDir);
    const note = `${reason}${last.detail ? `: ${last.detail}` : ""}`;
    if (reason === "finished") return { state: "finished", note, ...(summary ? { summary } : {}) };
    if (STOPPED.has(reason)) return { state: "stopped", note, ...(summary ? { summary } : {}) };
    if (reason === "aborted") return { state: "interrupted", note };
    // A failed run that sat its final exam has a grade: it is kept with it (agent/sweep/runner.ts actionFor).
    return { state: "failed", note, ...(summary ? { summary } : {}) };
  }
  if (isAlive(runDir, rec)) return { state: "running" };
  return { state: "interrupted", note: "the run's process died before the run ended" };
}

/**
 * Whether the run's process lives. On the machine that started it: its pid, while it is
 * this cell's tinkerloop run (a reused or edited pid is not taken for it). Elsewhere (a
 * shard on another node of a shared filesystem): a fresh heartbeat.
 */
export function isAlive(runDir: string, rec: Pick<CellRecord, "pid" | "pidStart" | "host">): boolean {
  // The pid is the manifest's word: only this cell's own run of this user counts (isCellProcess).
  // On this machine it is the only word: no pid means the sweep saw the process end, however
  // fresh its heartbeat (a run killed a minute ago is not running).
  if (rec.host === os.hostname()) return rec.pid !== undefined && isCellProcess(rec.pid, runDir, rec.pidStart);
  try {
    return Date.now() - fs.statSync(runLayout(runDir).progress).mtimeMs < HEARTBEAT_STALE_MS;
  } catch {
    return false;
  }
}

const TAIL_CHUNK = 64 * 1024;

/** The last readable event of a transcript, reading only its tail (a torn last line is skipped). */
export function lastEvent(file: string): RecordedEvent | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch {
    return undefined;
  }
  try {
    const size = fs.fstatSync(fd).size;
    for (let want = TAIL_CHUNK; ; want *= 4) {
      const start = Math.max(0, size - want);
      const buf = Buffer.alloc(size - start);
      fs.readSync(fd, buf, 0, buf.length, start);
      const lines = buf.toString("utf8").split("\n");
      if (start > 0) lines.shift(); // the first piece may be the middle of a line
      for (let i = lines.length - 1; i >= 0; i--) {
        const line = lines[i]!;
        if (!line.trim()) continue;
        const r = parseTranscriptLine(line, TRANSCRIPT_SCHEMA_VERSION);
        if ("event" in r) return r.event;
      }
      if (start === 0) return undefined;
    }
  } finally {
    fs.closeSync(fd);
  }
}

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describeExam, examSpecHash } from "../config/exam-spec.ts";
import type { ExamSpec } from "../config/exam-spec.ts";
import { itemsDigest, loadExamItems } from "./items.ts";
import type { ExamLoaders } from "./items.ts";
import { EXAM_FILES, EXAM_RUN_DIR, examFile, examItemHash } from "../../lib/exam-files.ts";
import type { ExamItem } from "../../lib/exam-files.ts";
import { maskInSandbox } from "../../lib/sandbox/masked-paths.ts";
import { mkdirBeneath, writeBeneath } from "../../lib/run-file-writes.ts";

/** A graded run's exam while the run goes on: its spec and hash, its items, and the folder outside the run directory that holds them. */
export type PreparedExam = { spec: ExamSpec; hash: string; items: ExamItem[]; dir: string };

/**
 * Loads the exam's items and writes them to a private folder outside the run directory
 * (mode 0700, under the system's temp directory, masked in every sandbox this process starts).
 * Called before anything of the run is written: a bad exam is refused like a bad flag.
 */
export async function prepareExam(spec: ExamSpec, loaders: ExamLoaders = {}): Promise<PreparedExam> {
  const items = await loadExamItems(spec, loaders);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tinkerloop-exam-"));
  fs.chmodSync(dir, 0o700);
  maskInSandbox(dir);
  fs.writeFileSync(examFile(dir, EXAM_FILES.items), `${items.map((i) => JSON.stringify(i)).join("\n")}\n`, { mode: 0o600 });
  return { spec, hash: examSpecHash(spec, itemsDigest(items)), items, dir };
}

/** The exam as the run's header records it: spec and hash (the items stay out of the transcript). */
export const examHeader = (e: PreparedExam) => ({ spec: e.spec as Record<string, unknown>, hash: e.hash, items: e.items.length });

/** What the planner is told at the start: the exam's name, scorer, size and decoding; never an item. */
export function examBrief(e: PreparedExam | undefined): string {
  if (!e) return "";
  return (
    `\n\nThe harness grades this run with a hidden exam — ${describeExam(e.spec)}. ` +
    "It sits the exam itself before your first training call (baseline) and on the weights the run ends with (final); " +
    "you never see its items or scores. Your own evaluations are reported apart, as self-reported. " +
    (e.spec.source.kind === "generator"
      ? `The exam's items are drawn from the ${e.spec.source.task} generator's eval split: evaluate on that split freely (generate_synthetic leaves the exam's items out), but never train on it.`
      : "Build a dev set of your own from other data.")
  );
}

/**
 * After the run: the exam's items with the final sitting's graded completions go to `exam/` in
 * the run directory (one JSON line per item: prompt, ground_truth, completion, score), every
 * sitting's file beside them; the private folder is removed.
 */
export function releaseExam(e: PreparedExam, runDir: string): void {
  // Into the run directory only through the one writer: the planner's shell may have planted a link there.
  mkdirBeneath(runDir, EXAM_RUN_DIR);
  for (const f of fs.readdirSync(e.dir))
    if (f !== EXAM_FILES.items) writeBeneath(runDir, path.join(EXAM_RUN_DIR, f), fs.readFileSync(path.join(e.dir, f)), { how: "replace" });
  const final = readSitting(path.join(e.dir, EXAM_FILES.sitting("final")));
  const rows = e.items.map((it) => {
    const graded = final.get(examItemHash(it));
    return JSON.stringify({ ...it, completion: graded?.completion ?? null, score: graded?.score ?? null });
  });
  writeBeneath(runDir, path.join(EXAM_RUN_DIR, EXAM_FILES.items), `${rows.join("\n")}\n`, { how: "replace" });
  discardExam(e);
}

/** Removes the exam's private folder (outside the run directory). */
export function discardExam(e: PreparedExam): void {
  fs.rmSync(e.dir, { recursive: true, force: true });
}

/** A resumed run: the sittings released when it stopped go back to the private folder, and the run dir's exam folder is removed. */
export function reclaimExam(e: PreparedExam, runDir: string): void {
  const released = path.join(runDir, EXAM_RUN_DIR);
  if (!fs.existsSync(released)) return;
  for (const f of fs.readdirSync(released)) if (f !== EXAM_FILES.items) fs.copyFileSync(path.join(released, f), path.join(e.dir, f));
  fs.rmSync(released, { recursive: true, force: true });
}

function readSitting(file: string): Map<string, { completion: string; score: number }> {
  const m = new Map<string, { completion: string; score: number }>();
  if (!fs.existsSync(file)) return m;
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as { item: string; completion: string; score: number };
    // The first sample of an item stands for it; every sample is in the sitting's own file.
    if (!m.has(r.item)) m.set(r.item, { completion: r.completion, score: r.score });
  }
  return m;
}

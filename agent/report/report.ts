/**
 * `tinkerloop report`: a run directory in, `report.html` out. The model is folded from
 * the transcript; metrics.jsonl and summary.json add what only they hold.
 */
import { RUN_FILES, runLayout } from "../../lib/run-layout.ts";
import { runTarget } from "../transcript/recording.ts";
import fs from "node:fs";
import { replaceFile } from "../../lib/run-file-writes.ts";
import path from "node:path";
import { z } from "zod";
import { UserError } from "../core/errors.ts";
import { readTranscript } from "../transcript/transcript.ts";
import type { TranscriptReadResult } from "../transcript/transcript.ts";
import { costOf, foldEvents } from "./model.ts";
import type { ReportModel } from "./model-shape.ts";
import { renderPage } from "./page.ts";

/** Reads a run's transcript or says plainly why it cannot. */
export function readRunTranscript(runDir: string): TranscriptReadResult {
  const file = runLayout(runDir).transcript;
  if (!fs.existsSync(file)) throw new UserError(`No transcript at ${file}.`, "Pass a run directory (runs/<id>) that holds a transcript.jsonl.");
  const read = readTranscript(file);
  if (!read.events.some((e) => e.type === "run"))
    throw new UserError(`${file} has no run header: it is not a tinkerloop transcript (or its first line is damaged).`);
  return read;
}

const metricsLine = z.looseObject({ turn: z.number().optional() });
const summaryShape = z.looseObject({});

/** Lines of metrics.jsonl that parse; a torn or foreign line is skipped. */
function readMetrics(runDir: string): Array<z.infer<typeof metricsLine>> {
  const file = runLayout(runDir).metrics;
  if (!fs.existsSync(file)) return [];
  const out: Array<z.infer<typeof metricsLine>> = [];
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      const r = metricsLine.safeParse(JSON.parse(line));
      if (r.success) out.push(r.data);
    } catch {
      // a partial last line while the run writes it
    }
  }
  return out;
}

export function readSummary(runDir: string): Record<string, unknown> | undefined {
  const file = runLayout(runDir).summary;
  if (!fs.existsSync(file)) return undefined;
  try {
    const r = summaryShape.safeParse(JSON.parse(fs.readFileSync(file, "utf8")));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

const TRUNCATION_KEYS = ["truncation", "truncationShare", "truncatedShare", "truncation_share"];

/** Fields only metrics.jsonl or summary.json hold (added by newer harness versions), folded into the model. */
export function enrich(m: ReportModel, metrics: ReadonlyArray<Record<string, unknown>>, summary: Record<string, unknown> | undefined): ReportModel {
  for (const r of metrics) {
    const share = TRUNCATION_KEYS.map((k) => r[k]).find((v): v is number => typeof v === "number" && Number.isFinite(v));
    if (share === undefined || typeof r.turn !== "number") continue;
    const p = [...m.grpo].reverse().find((x) => x.turn === r.turn);
    if (p && p.truncation === null) p.truncation = share;
  }
  if (summary && m.costUsd === null) m.costUsd = costOf(summary) ?? costOf(summary.usage);
  return m;
}

/** The report model of one run directory. */
export function loadRunModel(runDir: string): ReportModel {
  const read = readRunTranscript(runDir);
  return enrich(foldEvents(read.events), readMetrics(runDir), readSummary(runDir));
}

/** Writes runs/<id>/report.html; returns its path. */
export function writeReport(target: string): string {
  const { runDir } = runTarget(target);
  const model = loadRunModel(runDir);
  const file = path.join(runDir, RUN_FILES.report);
  replaceFile(file, renderPage({ kind: "run", model }, `tinkerloop report · ${model.runId}`));
  return file;
}

/** The run's closing line about its report: written (with the path), or why not. A report never fails a run. */
export function reportLine(runDir: string): string {
  try {
    return `report: ${writeReport(runDir)}`;
  } catch (err) {
    return `report: not written (${(err as Error).message.split("\n")[0]}); try tinkerloop report ${runDir}`;
  }
}

import fs from "node:fs";
import path from "node:path";
import { EXAM_FILES, EXAM_RUN_DIR, examFile } from "../../lib/exam-files.ts";
import { readAllowedFile } from "../../lib/run-files.ts";
import { runLayout } from "../../lib/run-layout.ts";
import { baseToolName } from "../core/tool-names.ts";
import { TRAINING_DATA_TOOLS, trainingRowsOf } from "../guard/training-rows.ts";
import { readTranscript } from "../transcript/transcript.ts";

/** A distinct row the run trained on, numbered from 1 in the order it was first trained on. */
export type JudgedRow = { row: number; prompt: string; answer: string; at: string };
/** An exam item, numbered from 1 by its line in the released items file. */
export type JudgedItem = { item: number; prompt: string; answer: string };

/** What a finished graded run trained on and was graded by, or why it cannot be judged. */
export type RunEvidence =
  | {
      rows: JudgedRow[];
      items: JudgedItem[];
      notes: string[];
      /** Training calls whose rows cannot be read now (a file changed or removed after the call): the judge cannot vouch for them. */
      unreadableCalls: number;
    }
  | { problem: string };

/** The largest exam items file read. */
const MAX_ITEMS_BYTES = 64 * 1024 * 1024;

/**
 * Reads a finished run directory: the rows of every training call that ran (the effective
 * input of each train_sft_step / train_grpo_step tool event that did not fail, read as the
 * contamination rule reads them; a row trained on twice is one row), and the exam items
 * released to the run directory when the run ended. The files a call named are read as
 * they are now, after the run.
 */
export function readRunEvidence(runDir: string): RunEvidence {
  const layout = runLayout(runDir);
  if (!fs.existsSync(layout.transcript)) return { problem: `no transcript in ${runDir}` };
  const t = readTranscript(layout.transcript);
  if (!t.events.some((e) => e.type === "end")) return { problem: "the run has not finished (its transcript has no end event)" };
  const notes: string[] = [];
  if (t.damage) notes.push(`the transcript is damaged at line ${t.damage.line} (${t.damage.reason}); calls after it are not judged`);

  const items = readItems(runDir);
  if ("problem" in items) return items;

  const rows: JudgedRow[] = [];
  const seen = new Set<string>();
  let unreadableCalls = 0;
  for (const e of t.events) {
    if (e.type !== "tool" || e.isError) continue;
    const tool = baseToolName(e.name);
    if (!TRAINING_DATA_TOOLS.has(tool) || !e.input || typeof e.input !== "object") continue;
    const data = trainingRowsOf(tool, e.input as Record<string, unknown>, runDir);
    if ("unreadable" in data) {
      notes.push(`the rows of ${tool} at turn ${e.turn} cannot be read now (${data.unreadable}); they are not judged`);
      unreadableCalls++;
      continue;
    }
    for (const r of data.rows) {
      const key = JSON.stringify([r.prompt, r.answer]);
      if (seen.has(key)) continue;
      seen.add(key);
      rows.push({ row: rows.length + 1, prompt: r.prompt, answer: r.answer, at: `${data.source} row ${r.row} (${tool}, turn ${e.turn})` });
    }
  }
  return { rows, items: items.items, notes, unreadableCalls };
}

function readItems(runDir: string): { items: JudgedItem[] } | { problem: string } {
  const rel = path.join(EXAM_RUN_DIR, EXAM_FILES.items);
  if (!fs.existsSync(examFile(path.join(runDir, EXAM_RUN_DIR), EXAM_FILES.items)))
    return { problem: `no exam items (${rel}): an ungraded run has nothing to be judged against` };
  let text: string;
  try {
    text = readAllowedFile(rel, { root: runDir, maxBytes: MAX_ITEMS_BYTES, what: "exam items" }).bytes.toString("utf8");
  } catch (err) {
    return { problem: `cannot read ${rel}: ${(err as Error).message}` };
  }
  const items: JudgedItem[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const o = JSON.parse(line) as { prompt?: unknown; ground_truth?: unknown };
      if (typeof o.prompt !== "string") throw new Error("no prompt");
      items.push({
        item: items.length + 1,
        prompt: o.prompt,
        answer: typeof o.ground_truth === "string" ? o.ground_truth : JSON.stringify(o.ground_truth ?? ""),
      });
    } catch {
      return { problem: `${rel} line ${items.length + 1} is not an exam item` };
    }
  }
  if (items.length === 0) return { problem: `${rel} holds no items` };
  return { items };
}

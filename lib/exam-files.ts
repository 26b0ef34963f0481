import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

/**
 * Where a graded run keeps its exam while the run goes on: a folder outside the run
 * directory, named to the tinker server by this variable (and to nobody the planner
 * reaches), masked in every OS sandbox. After the run its contents move to `exam/`.
 */
export const EXAM_DIR_ENV = "TINKERLOOP_EXAM_DIR";

/** The files of an exam folder. */
export const EXAM_FILES = {
  /** One `{prompt, ground_truth}` a line, already in the exam's prompt template. */
  items: "items.jsonl",
  /** One sitting's graded completions: `<label>.jsonl`. */
  sitting: (label: string) => `${label}.jsonl`,
} as const;

/** The run directory's folder that holds the exam after the run has ended. */
export const EXAM_RUN_DIR = "exam";

export type ExamItem = { prompt: string; ground_truth: string };

/** An item's key in records and events: a hash, so a score never carries the item's text. */
export function examItemHash(item: ExamItem): string {
  return crypto.createHash("sha256").update(`${item.prompt}\u0000${item.ground_truth}`).digest("hex").slice(0, 16);
}

export function examFile(dir: string, name: string): string {
  return path.join(dir, name);
}

/**
 * The exam's prompts, for a server that must leave them out of what it gives the planner
 * (generate_synthetic: a dev set is the eval split minus the exam); empty without an exam.
 */
export function examPrompts(env: Record<string, string | undefined>): Set<string> {
  const dir = env[EXAM_DIR_ENV];
  if (!dir) return new Set();
  let text = "";
  try {
    text = fs.readFileSync(examFile(dir, EXAM_FILES.items), "utf8");
  } catch {
    return new Set();
  }
  return new Set(
    text
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => (JSON.parse(l) as ExamItem).prompt),
  );
}

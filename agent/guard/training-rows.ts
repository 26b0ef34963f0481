import { isPathLike, readAllowedFile } from "../../lib/run-files.ts";
import { windowOf } from "../../tools/contracts/sft-split.ts";

/**
 * The rows a training call would train on, read from its arguments as the tinker server
 * reads them (tools/tinker/data-input.ts, written once more here: the harness imports no
 * server code; the start/limit window is the shared one of tools/contracts/sft-split.ts): an inline array, JSON or JSONL text, or a
 * .json/.jsonl file through the one path rule, relative to the run directory.
 */

/** One row: where it is (1-based, in the array or file) and the text trained on. */
export type TrainingRow = { row: number; prompt: string; answer: string };
export type TrainingRows = { source: string; rows: TrainingRow[] };

/** The largest data file read (the tinker server's cap). */
const MAX_DATA_FILE_BYTES = 256 * 1024 * 1024;

/** Which argument holds each training tool's rows, and how a record becomes prompt and answer. */
const READERS: Record<string, { arg: string; row: (o: Record<string, unknown>) => { prompt: string; answer: string } | undefined }> = {
  train_sft_step: {
    arg: "examples",
    // The server skips examples with an empty prompt or response: they are not trained on.
    row: (o) => {
      const prompt = o.prompt ?? o.input;
      const answer = o.response ?? o.output;
      return typeof prompt === "string" && typeof answer === "string" && prompt && answer ? { prompt, answer } : undefined;
    },
  },
  train_grpo_step: {
    arg: "prompts",
    row: (o) => {
      const gt = o.ground_truth;
      const answer = typeof gt === "string" ? gt : typeof gt === "number" || typeof gt === "boolean" ? String(gt) : "";
      return typeof o.prompt === "string" && o.prompt ? { prompt: o.prompt, answer } : undefined;
    },
  },
};

export const TRAINING_DATA_TOOLS = new Set(Object.keys(READERS));

/**
 * The rows `tool` would train on given `args`, or why they cannot be read here (the tool
 * then fails on the same data and says so itself).
 */
export function trainingRowsOf(tool: string, args: Record<string, unknown>, runDir: string): TrainingRows | { unreadable: string } {
  const reader = READERS[tool];
  if (!reader) return { source: "", rows: [] };
  const input = args[reader.arg];
  let records: unknown[];
  let source: string;
  try {
    if (Array.isArray(input)) {
      records = input;
      source = `inline ${reader.arg}`;
    } else if (typeof input === "string" && isPathLike(input)) {
      const { path: file, bytes } = readAllowedFile(input, { root: runDir, maxBytes: MAX_DATA_FILE_BYTES, what: reader.arg });
      records = parse(bytes.toString("utf8"), file.endsWith(".jsonl"));
      source = input.trim();
    } else if (typeof input === "string") {
      records = parse(input, false);
      source = `inline ${reader.arg}`;
    } else {
      return { unreadable: `no ${reader.arg} given` };
    }
  } catch (err) {
    return { unreadable: (err as Error).message };
  }
  const rows: TrainingRow[] = [];
  records.forEach((r, i) => {
    if (!r || typeof r !== "object" || Array.isArray(r)) return;
    const text = reader.row(r as Record<string, unknown>);
    if (text) rows.push({ row: i + 1, ...text });
  });
  return { source, rows: windowOf(rows, args.start, args.limit) };
}

/** JSON array text, or JSONL (a .jsonl file is always JSONL), as the server parses it. */
function parse(text: string, jsonl: boolean): unknown[] {
  if (!jsonl) {
    try {
      const v: unknown = JSON.parse(text);
      if (Array.isArray(v)) return v;
    } catch {
      // Not one JSON value: JSONL, like the server tries next.
    }
  }
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as unknown);
}

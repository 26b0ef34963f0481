import { isPathLike, readAllowedFile } from "../../lib/run-files.ts";

/** A user-facing input problem; its message says what to pass instead. */
export class InputError extends Error {}

/** Where relative data paths are resolved: the run directory when the harness set one. */
export function dataRoot(): string {
  return process.env.TINKERLOOP_RUN_DIR ?? process.cwd();
}

/** The largest data file read (prompts, examples). */
const MAX_DATA_FILE_BYTES = 256 * 1024 * 1024;

/**
 * Reads a list of objects given as a JSON array string, JSONL text, or a path to a
 * .json / .jsonl file. `entity` names the thing in messages ("examples", "prompts").
 */
export function loadRecords(input: string | unknown[], entity: string): { records: unknown[]; source: string } {
  if (Array.isArray(input)) return { records: input, source: "inline array" };
  if (typeof input !== "string" || input.trim() === "") throw new InputError(`No ${entity} given: pass a JSON array or a path to a .jsonl file.`);
  if (isPathLike(input)) {
    const { path: file, bytes } = readAllowedFile(input, { root: dataRoot(), maxBytes: MAX_DATA_FILE_BYTES, what: entity });
    const text = bytes.toString("utf8");
    if (text.trim() === "") throw new InputError(`The ${entity} file ${input.trim()} is empty.`);
    return { records: parseText(text, entity, file.endsWith(".jsonl"), input.trim()), source: file };
  }
  return { records: parseText(input, entity, false, undefined), source: "inline JSON" };
}

function parseText(text: string, entity: string, jsonl: boolean, file: string | undefined): unknown[] {
  const where = file ? ` in ${file}` : "";
  if (!jsonl) {
    try {
      const v = JSON.parse(text);
      if (Array.isArray(v)) return v;
      throw new InputError(`The ${entity}${where} must be a JSON array of objects, not a ${typeof v === "object" ? "single object" : typeof v}.`);
    } catch (err) {
      if (err instanceof InputError) throw err;
      if (!text.trimStart().startsWith("{")) {
        const pathHint =
          !file && !text.includes("\n") && !/\s/.test(text.trim())
            ? ` If ${JSON.stringify(text.trim().slice(0, 80))} was meant as a file, its name must end in .json or .jsonl.`
            : "";
        throw new InputError(
          `Could not parse the ${entity}${where} as JSON (${(err as Error).message}). Pass a JSON array, JSONL, or a .json/.jsonl file path relative to the run directory.${pathHint}`,
        );
      }
    }
  }
  const out: unknown[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (err) {
      throw new InputError(`Line ${i + 1} of the ${entity}${where} is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new InputError(`Line ${i + 1} of the ${entity}${where} must be a JSON object.`);
    out.push(v);
  });
  return out;
}

export type SftRecord = { prompt: string; response: string };
export type GrpoRecord = { prompt: string; ground_truth: string };

/** SFT examples: `{prompt, response}` or `{input, output}`; both strings, non-empty. */
export function toSftExamples(records: unknown[]): { examples: SftRecord[]; skipped: number } {
  const examples: SftRecord[] = [];
  let skipped = 0;
  records.forEach((r, i) => {
    if (typeof r !== "object" || r === null || Array.isArray(r))
      throw new InputError(`Example ${i} must be an object like {"prompt": "...", "response": "..."}.`);
    const o = r as Record<string, unknown>;
    const prompt = o.prompt ?? o.input;
    const response = o.response ?? o.output;
    if (prompt !== undefined && typeof prompt !== "string") throw new InputError(`Example ${i}: prompt must be a string, got ${typeof prompt}.`);
    if (response !== undefined && typeof response !== "string") throw new InputError(`Example ${i}: response must be a string, got ${typeof response}.`);
    if (!prompt || !response) {
      skipped++;
      return;
    }
    examples.push({ prompt, response });
  });
  return { examples, skipped };
}

/** GRPO prompts: `{prompt, ground_truth}`; a number ground truth is accepted and turned into text. */
export function toGrpoPrompts(records: unknown[]): GrpoRecord[] {
  return records.map((r, i) => {
    if (typeof r !== "object" || r === null || Array.isArray(r))
      throw new InputError(`Prompt ${i} must be an object like {"prompt": "...", "ground_truth": "..."}.`);
    const o = r as Record<string, unknown>;
    if (typeof o.prompt !== "string" || o.prompt === "") throw new InputError(`Prompt ${i} needs a non-empty string "prompt".`);
    const gt = o.ground_truth ?? "";
    if (typeof gt === "number" || typeof gt === "boolean") return { prompt: o.prompt, ground_truth: String(gt) };
    if (typeof gt !== "string")
      throw new InputError(`Prompt ${i}: ground_truth must be a string (or a number), got ${Array.isArray(gt) ? "a list" : typeof gt}.`);
    return { prompt: o.prompt, ground_truth: gt };
  });
}

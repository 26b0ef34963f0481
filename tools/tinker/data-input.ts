import fs from "node:fs";
import path from "node:path";

/** A user-facing input problem; its message says what to pass instead. */
export class InputError extends Error {}

/** Where relative data paths are resolved: the run directory when the harness set one. */
export function dataRoot(): string {
  return process.env.TINKERLOOP_RUN_DIR ?? process.cwd();
}

function looksLikePath(s: string): boolean {
  const t = s.trim();
  return !t.startsWith("[") && !t.startsWith("{") && (t.startsWith("/") || t.endsWith(".json") || t.endsWith(".jsonl"));
}

/**
 * Reads a list of objects given as a JSON array string, JSONL text, or a path to a
 * .json / .jsonl file. `entity` names the thing in messages ("examples", "prompts").
 */
export function loadRecords(input: string | unknown[], entity: string): { records: unknown[]; source: string } {
  if (Array.isArray(input)) return { records: input, source: "inline array" };
  if (typeof input !== "string" || input.trim() === "") throw new InputError(`No ${entity} given: pass a JSON array or a path to a .jsonl file.`);
  if (looksLikePath(input)) {
    const file = path.resolve(dataRoot(), input.trim());
    if (!fs.existsSync(file)) throw new InputError(`The ${entity} file ${file} does not exist. Pass an existing .json/.jsonl path or a JSON array.`);
    const stat = fs.statSync(file);
    if (!stat.isFile()) throw new InputError(`${file} is not a file.`);
    const text = fs.readFileSync(file, "utf8");
    if (text.trim() === "") throw new InputError(`The ${entity} file ${file} is empty.`);
    return { records: parseText(text, entity, file.endsWith(".jsonl"), file), source: file };
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
        throw new InputError(`Could not parse the ${entity}${where} as JSON (${(err as Error).message}). Pass a JSON array, JSONL, or a file path.`);
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
    if (typeof r !== "object" || r === null || Array.isArray(r)) throw new InputError(`Example ${i} must be an object like {"prompt": "...", "response": "..."}.`);
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
    if (typeof r !== "object" || r === null || Array.isArray(r)) throw new InputError(`Prompt ${i} must be an object like {"prompt": "...", "ground_truth": "..."}.`);
    const o = r as Record<string, unknown>;
    if (typeof o.prompt !== "string" || o.prompt === "") throw new InputError(`Prompt ${i} needs a non-empty string "prompt".`);
    const gt = o.ground_truth ?? "";
    if (typeof gt === "number" || typeof gt === "boolean") return { prompt: o.prompt, ground_truth: String(gt) };
    if (typeof gt !== "string") throw new InputError(`Prompt ${i}: ground_truth must be a string (or a number), got ${Array.isArray(gt) ? "a list" : typeof gt}.`);
    return { prompt: o.prompt, ground_truth: gt };
  });
}

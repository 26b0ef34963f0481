import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { UserError } from "../core/errors.ts";
import type { ExamSource, ExamSpec } from "../config/exam-spec.ts";
import { generate } from "../../lib/generators/generate.ts";
import type { ExamItem } from "../../lib/exam-files.ts";

/** The loaders of the sources that are not built in (the Hub's needs the network): injected so the exam code stays offline. */
export type ExamLoaders = { hub?: (source: Extract<ExamSource, { kind: "hub" }>, n: number) => Promise<ExamItem[]> };

/** The exam's items, in its prompt template: loaded once at the start of the run, by the harness only. */
export async function loadExamItems(spec: ExamSpec, loaders: ExamLoaders = {}): Promise<ExamItem[]> {
  const raw = await rawItems(spec, loaders);
  if (raw.length === 0) throw new UserError(`The exam ${spec.name} has no items.`);
  return raw.map((it) => ({ prompt: spec.template.replaceAll("{prompt}", it.prompt), ground_truth: it.ground_truth }));
}

async function rawItems(spec: ExamSpec, loaders: ExamLoaders): Promise<ExamItem[]> {
  const s = spec.source;
  switch (s.kind) {
    case "generator": {
      // At most half of the eval split: the rest stays the planner's for a dev set (some splits are small).
      const r = generate(s.task, { n: spec.items * 2, seed: spec.seed, split: "eval", ...(s.difficulty !== undefined ? { difficulty: s.difficulty } : {}) });
      const n = Math.min(spec.items, Math.floor(r.items.length / 2));
      return r.items.slice(0, n).map((i) => ({ prompt: i.prompt, ground_truth: i.ground_truth }));
    }
    case "jsonl":
      return jsonlItems(s.file, spec.items);
    case "hub":
      if (!loaders.hub) throw new UserError(`The exam ${spec.name} needs the Hugging Face Hub, which this run cannot reach.`);
      return loaders.hub(s, spec.items);
  }
}

function jsonlItems(file: string, n: number): ExamItem[] {
  let text: string;
  try {
    text = fs.readFileSync(path.resolve(file), "utf8");
  } catch (err) {
    throw new UserError(`Cannot read the exam file ${file}: ${(err as Error).message}`);
  }
  const out: ExamItem[] = [];
  for (const [i, line] of text.split("\n").entries()) {
    if (!line.trim()) continue;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new UserError(`${file} line ${i + 1} is not JSON.`, "An exam file holds one {prompt, ground_truth} object a line.");
    }
    const prompt = row.prompt;
    const truth = row.ground_truth ?? row.answer;
    if (typeof prompt !== "string" || truth === undefined)
      throw new UserError(`${file} line ${i + 1} has no prompt and ground_truth.`, "An exam file holds one {prompt, ground_truth} object a line.");
    out.push({ prompt, ground_truth: typeof truth === "string" ? truth : JSON.stringify(truth) });
    if (out.length >= n) break;
  }
  return out;
}

/** A digest of the items (hashed with the spec): a JSONL file or a Hub split that changed makes another exam. */
export function itemsDigest(items: ExamItem[]): string {
  const h = crypto.createHash("sha256");
  for (const it of items) h.update(`${it.prompt}\u0000${it.ground_truth}\u0001`);
  return h.digest("hex");
}

import crypto from "node:crypto";
import { z } from "zod";
import { UserError } from "../core/errors.ts";
import { TASKS } from "../../lib/generators/generate.ts";

/** The reward library's scorers an exam may name (agent/planners/reward-library.ts: rewardSpecs). */
export const EXAM_SCORERS = ["exact", "numeric", "last_number", "json", "json_format", "countdown", "code_tests"] as const;

const sourceShape = z.discriminatedUnion("kind", [
  /** A built-in generator task's eval split (offline). */
  z.object({
    kind: z.literal("generator"),
    task: z.enum(TASKS),
    difficulty: z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4), z.literal("mixed")]).optional(),
  }),
  /** A Hugging Face dataset's split, rows mapped to {prompt, ground_truth} by their columns. */
  z.object({
    kind: z.literal("hub"),
    dataset: z.string().min(1),
    config: z.string().optional(),
    split: z.string().min(1),
    prompt_column: z.string().optional(),
    answer_column: z.string().optional(),
  }),
  /** A JSONL file of {prompt, ground_truth} the user names. */
  z.object({ kind: z.literal("jsonl"), file: z.string().min(1) }),
]);
export type ExamSource = z.infer<typeof sourceShape>;

/**
 * An exam: part of the run's definition (recipe, prompt file, sweep file or --exam), never the
 * planner's. `max_tokens` absent means the server's default for the model's kind.
 */
export const examSpecShape = z.object({
  name: z.string().min(1),
  source: sourceShape,
  scorer: z.enum(EXAM_SCORERS),
  /** The prompt as the model sees it; `{prompt}` stands for the item's prompt. */
  template: z.string().includes("{prompt}").default("{prompt}"),
  items: z.number().int().min(1).max(10_000),
  temperature: z.number().min(0).max(2).default(0),
  max_tokens: z.number().int().min(1).max(32_768).optional(),
  samples: z.number().int().min(1).max(64).default(1),
  /** The seed that picks a generator's items (the exam stays the same across runs). */
  seed: z.number().int().min(0).default(1),
});
export type ExamSpec = z.infer<typeof examSpecShape>;

/** The flat front-matter keys of an exam (recipes and prompt files: `exam: generator:addition`, `exam_scorer: numeric`, …). */
export type ExamFields = {
  exam?: string;
  exam_scorer?: string;
  exam_items?: number;
  exam_template?: string;
  exam_temperature?: number;
  exam_max_tokens?: number;
  exam_samples?: number;
  exam_seed?: number;
  exam_difficulty?: number | "mixed";
};

/** "none" (or "off"): the run is ungraded on purpose. */
export const NO_EXAM = new Set(["none", "off"]);

/**
 * A source written as one string: `generator:<task>`, `hub:<dataset>[@<config>]:<split>`,
 * `jsonl:<file>`. The rest of the spec as `key=value` after commas (the `--exam` flag's form):
 * `generator:addition,scorer=numeric,items=500`.
 */
export function parseExamText(text: string, where: string): ExamFields {
  const [head, ...pairs] = text.split(",").map((p) => p.trim());
  const fields: ExamFields = { exam: head! };
  for (const p of pairs) {
    const m = /^([a-z_]+)=(.*)$/.exec(p);
    if (!m) throw new UserError(`${where}: '${p}' is not key=value.`, "Form: generator:addition,scorer=numeric,items=500");
    const key = `exam_${m[1]}` as keyof ExamFields;
    const value = /^-?\d+(\.\d+)?$/.test(m[2]!) ? Number(m[2]) : m[2]!;
    (fields as Record<string, unknown>)[key] = value;
  }
  return fields;
}

function parseSource(text: string, difficulty: ExamFields["exam_difficulty"]): unknown {
  const i = text.indexOf(":");
  const kind = i < 0 ? text : text.slice(0, i);
  const rest = i < 0 ? "" : text.slice(i + 1);
  if (kind === "generator") return { kind, task: rest, ...(difficulty !== undefined ? { difficulty } : {}) };
  if (kind === "jsonl") return { kind, file: rest };
  if (kind === "hub") {
    const j = rest.lastIndexOf(":");
    const [dataset, config] = (j < 0 ? rest : rest.slice(0, j)).split("@");
    return { kind, dataset, ...(config ? { config } : {}), split: j < 0 ? "" : rest.slice(j + 1) };
  }
  return { kind };
}

/** The exam a run's definition declares, validated; undefined when it declares none. Bad specs are a UserError. */
export function examSpecOf(f: ExamFields, where: string, fallbackDifficulty?: number | "mixed"): ExamSpec | undefined {
  if (!f.exam || NO_EXAM.has(f.exam)) return undefined;
  const raw = {
    name: f.exam,
    source: parseSource(f.exam, f.exam_difficulty ?? fallbackDifficulty),
    scorer: f.exam_scorer,
    ...(f.exam_template !== undefined ? { template: f.exam_template.replaceAll("\\n", "\n") } : {}),
    items: f.exam_items,
    ...(f.exam_temperature !== undefined ? { temperature: f.exam_temperature } : {}),
    ...(f.exam_max_tokens !== undefined ? { max_tokens: f.exam_max_tokens } : {}),
    ...(f.exam_samples !== undefined ? { samples: f.exam_samples } : {}),
    ...(f.exam_seed !== undefined ? { seed: f.exam_seed } : {}),
  };
  const parsed = examSpecShape.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UserError(
      `${where}: the exam's ${issue.path.join(".") || "spec"}: ${issue.message}`,
      `An exam names a source (generator:<task>, hub:<dataset>[@<config>]:<split>, jsonl:<file>), a scorer (${EXAM_SCORERS.join(", ")}) and a number of items.`,
    );
  }
  return parsed.data;
}

/** The spec's hash with its items' digest: two runs share an exam exactly when these agree. */
export function examSpecHash(spec: ExamSpec, itemsDigest: string): string {
  return crypto.createHash("sha256").update(JSON.stringify({ spec, itemsDigest })).digest("hex").slice(0, 16);
}

/** What the planner is told of its exam: name, scorer, size and decoding, never an item. */
export function describeExam(spec: ExamSpec): string {
  return (
    `${spec.name}: ${spec.items} item(s), scored by '${spec.scorer}', ${spec.samples} sample(s) each at temperature ${spec.temperature}` +
    `, max_tokens ${spec.max_tokens ?? "the model kind's default"}`
  );
}

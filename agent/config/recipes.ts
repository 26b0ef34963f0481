import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { UserError } from "../core/errors.ts";
import { RECIPES_DIR } from "../../lib/package-paths.ts";

/** Structured hints a recipe (or a prompt file's front matter) gives the scripted planner. */
export const hintsShape = z.object({
  recipe: z.string().optional(),
  model: z.string().optional(),
  method: z.enum(["grpo", "sft"]).optional(),
  task: z.string().optional(),
  dataset: z.string().optional(),
  preset: z.string().optional(),
  difficulty: z.union([z.number().int().min(1).max(4), z.literal("mixed")]).optional(),
  pool_size: z.number().int().positive().optional(),
  holdout_size: z.number().int().positive().optional(),
  reward: z.string().optional(),
  batch_size: z.number().int().positive().optional(),
  group_size: z.number().int().min(2).optional(),
  lora_rank: z.number().int().positive().optional(),
  learning_rate: z.number().positive().optional(),
  temperature: z.number().min(0).optional(),
  max_tokens: z.number().int().positive().optional(),
  /** Ceilings for the ALL-0 reactions (raising temperature, lengthening completions); a tiny model sampled hotter only produces garbage. */
  max_temperature: z.number().min(0).optional(),
  max_tokens_cap: z.number().int().positive().optional(),
  max_steps: z.number().int().positive().optional(),
  sample_every: z.number().int().positive().optional(),
  patience: z.number().int().positive().optional(),
  target: z.number().min(0).max(1).optional(),
  /** How the holdout is scored: sampling temperature and samples per prompt. */
  eval_temperature: z.number().min(0).optional(),
  eval_samples: z.number().int().min(1).max(64).optional(),
  /** The run's exam (agent/config/exam-spec.ts): its source, and the rest of its spec as exam_* keys. */
  exam: z.string().optional(),
  exam_scorer: z.string().optional(),
  exam_items: z.number().int().positive().optional(),
  exam_template: z.string().optional(),
  exam_temperature: z.number().min(0).optional(),
  exam_max_tokens: z.number().int().positive().optional(),
  exam_samples: z.number().int().min(1).optional(),
  exam_seed: z.number().int().min(0).optional(),
  exam_difficulty: z.union([z.number().int().min(1).max(4), z.literal("mixed")]).optional(),
  /** What running the recipe needs beyond this machine ("nothing", or keys and Hub access); shown by --help. */
  needs: z.string().optional(),
  /** One line for --help: what the recipe teaches and how it is judged. */
  summary: z.string().optional(),
});
export type Hints = z.infer<typeof hintsShape>;

export type ParsedPrompt = { body: string; hints: Hints | undefined };

function scalar(v: string): unknown {
  const t = v.trim();
  if (/^-?\d+(\.\d+)?(e-?\d+)?$/i.test(t)) return Number(t);
  if (t === "true" || t === "false") return t === "true";
  if ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'"))) return t.slice(1, -1);
  return t;
}

/** Splits a `---` front-matter block (simple `key: value` lines) from the prompt text. */
export function parseFrontMatter(text: string, where: string): ParsedPrompt {
  const m = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?/.exec(text);
  if (!m) return { body: text, hints: undefined };
  const raw: Record<string, unknown> = {};
  for (const [i, line] of m[1]!.split(/\r?\n/).entries()) {
    if (!line.trim() || line.trim().startsWith("#")) continue;
    const kv = /^([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*)$/.exec(line);
    if (!kv) throw new UserError(`${where}: front matter line ${i + 2} is not "key: value": ${line}`);
    raw[kv[1]!] = scalar(kv[2]!);
  }
  const parsed = hintsShape.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UserError(`${where}: front matter field ${issue.path.join(".")}: ${issue.message}`);
  }
  return { body: text.slice(m[0].length).trim(), hints: parsed.data };
}

export function listRecipes(): string[] {
  if (!fs.existsSync(RECIPES_DIR)) return [];
  return fs
    .readdirSync(RECIPES_DIR)
    .filter((f) => f.endsWith(".md"))
    .map((f) => f.slice(0, -3))
    .sort();
}

/** One line per recipe for `run --help`: name, method, model, what it needs, what it teaches. */
export function recipeHelp(): string {
  const rows = listRecipes().map((name) => {
    const h = loadRecipe(name).hints ?? {};
    return `  ${name.padEnd(15)} ${(h.method ?? "").toUpperCase().padEnd(5)} ${(h.model ?? "").padEnd(20)} needs: ${h.needs ?? "nothing"}
  ${"".padEnd(15)} ${h.summary ?? ""}`;
  });
  return rows.join("\n");
}

export function loadRecipe(name: string): ParsedPrompt {
  const file = path.join(RECIPES_DIR, `${name}.md`);
  if (!/^[a-z0-9_-]+$/i.test(name) || !fs.existsSync(file)) {
    throw new UserError(`There is no recipe '${name}'.`, `Recipes: ${listRecipes().join(", ")}.`);
  }
  return parseFrontMatter(fs.readFileSync(file, "utf8"), file);
}

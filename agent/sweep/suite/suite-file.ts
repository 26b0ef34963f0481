/**
 * A suite (the research bench): a fixed list of graded post-training tasks, each with its
 * base models, exam, budget, seeds, a reference score that normalises it and a weight.
 * User input, validated here like a sweep file; turned into a sweep whose prompts carry
 * their task's settings, so it runs on the sweep machinery (shards, resume, collect).
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { UserError } from "../../core/errors.ts";
import { RECIPES_DIR, SUITES_DIR } from "../../../lib/package-paths.ts";
import { checkSpec, readDataFile, SWEEP_ID, withAbsolutePaths } from "../spec.ts";
import type { CellRunOption, PlannerEntry, PromptEntry, SweepSpec } from "../spec.ts";

/** What a cell of a task may use: each limit becomes the run flag beside it. */
const budgetShape = z.strictObject({
  turns: z.number().int().min(1).max(10_000),
  minutes: z
    .number()
    .min(0.1)
    .max(7 * 24 * 60),
  /** Dollars, planner and training together; needs a price for every model (the built-in table or `run: { prices }`). */
  usd: z.number().min(0).optional(),
  /** Training calls: a compute budget that needs no price. */
  trainCalls: z.number().int().min(1).max(100_000).optional(),
});
export type TaskBudget = z.infer<typeof budgetShape>;

/** The score a task's gain is measured against: the reference row of the leaderboard (gain 1). */
const referenceShape = z.strictObject({
  /** Above 0: a reference of 0 is reached by every baseline, and no cell could be normalised. */
  score: z.number().gt(0, "above 0 (every baseline reaches 0)").max(1),
  /** Where the number comes from, in words a reader can check (shown beside it). */
  source: z.string().min(10, "reference.source: say where the number comes from"),
});

const taskShape = z
  .strictObject({
    name: z.string().regex(SWEEP_ID, "name: letters, digits, . _ - (up to 64)"),
    /** One line: what the task measures (README, --dry-run). */
    measures: z.string().min(1).optional(),
    recipe: z.string().min(1).optional(),
    promptFile: z.string().min(1).optional(),
    /** Base models; absent: the recipe's (or prompt file's) own. */
    models: z.array(z.string().min(1)).min(1).optional(),
    /** The exam in `--exam` form; absent: the recipe's (or prompt file's) own. A suite task is always graded. */
    exam: z.string().min(1).optional(),
    budget: budgetShape,
    seeds: z.union([z.number().int().min(1).max(100), z.array(z.number().int().min(0).max(1_000_000)).min(1)]).default(1),
    reference: referenceShape,
    weight: z.number().positive().max(1000).default(1),
  })
  .refine((t) => (t.recipe === undefined) !== (t.promptFile === undefined), { message: "give exactly one of recipe or promptFile" });

const suiteFileShape = z.strictObject({
  name: z.string().regex(SWEEP_ID, "name: letters, digits, . _ - (up to 64)"),
  description: z.string().optional(),
  /** Planners to compare; `--planner` flags replace them. */
  planners: z.array(z.union([z.string().min(1), z.strictObject({ spec: z.string().min(1), label: z.string().min(1).max(60).optional() })])).optional(),
  concurrency: z.number().int().min(1).max(256).optional(),
  /** Run options every cell shares (as in a sweep file's `run:`), besides each task's budget and exam. */
  run: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
  tasks: z.array(taskShape).min(1, "tasks: name at least one"),
});

export type SuiteTask = {
  name: string;
  measures?: string;
  weight: number;
  reference: { score: number; source: string };
  budget: TaskBudget;
  seeds: number[];
};

/** A loaded suite: what scoring needs of it, and the sweep it runs as. */
export type Suite = {
  name: string;
  description?: string;
  /** The suite file, absolute. */
  file: string;
  /** sha256 (16 hex) of the suite file's bytes and of every recipe, prompt file or jsonl exam file its tasks name. */
  hash: string;
  tasks: SuiteTask[];
  planners: Array<string | { spec: string; label?: string | undefined }>;
  concurrency?: number;
  /** The tasks as sweep prompts, each with its models, seeds, budget and exam. */
  prompts: PromptEntry[];
  run: Partial<Record<CellRunOption, string>>;
};

/** Run options a suite's tasks set themselves; the shared `run:` may not (one place per setting). */
const TASK_OWNED: readonly CellRunOption[] = ["maxTurns", "maxMinutes", "maxCost", "maxTrainCalls", "exam"];
/**
 * Run options no suite may set, in its file or on the command line: they change what a score
 * means (the guard's rules are what make a cell's grade trustworthy) and the suite hash does not
 * cover a flag, so results made with them would merge and rank with results made without.
 */
export const SUITE_REFUSED: readonly CellRunOption[] = ["guardOff"];

/** `--suite NAME` (a shipped suite) or `--suite FILE`. */
export function suiteFileOf(arg: string, cwd: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(arg)) {
    const shipped = path.join(SUITES_DIR, `${arg}.yaml`);
    if (fs.existsSync(shipped)) return shipped;
    if (!fs.existsSync(path.resolve(cwd, arg)))
      throw new UserError(`There is no suite '${arg}'.`, `Shipped suites: ${listSuites().join(", ")}; or name a suite file (YAML or JSON).`);
  }
  return path.resolve(cwd, arg);
}

/** The shipped suites' names. */
export function listSuites(): string[] {
  try {
    return fs
      .readdirSync(SUITES_DIR)
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => f.slice(0, -5))
      .sort();
  } catch {
    return [];
  }
}

/** Reads and validates a suite file; every error is one line naming the file and the key. */
export function loadSuite(file: string): Suite {
  const f = readDataFile(file, suiteFileShape, {
    what: "suite file",
    unreadable: "Name a shipped suite (offline, tinker) or a .yaml/.json suite file.",
    keys: "A suite: name, tasks (each: name, recipe or promptFile, models, exam, budget {turns, minutes, usd, trainCalls}, seeds, reference {score, source}, weight), planners, concurrency, run.",
    yaml: !/\.json$/i.test(file),
  });
  const base = path.dirname(file);
  const run: Partial<Record<CellRunOption, string>> = {};
  for (const [k, v] of Object.entries(f.run ?? {})) {
    if (SUITE_REFUSED.includes(k as CellRunOption))
      throw new UserError(`${file}: run.${k}: a suite runs with every guard rule on.`, "Remove it; to study a rule switched off, use a plain sweep.");
    if (TASK_OWNED.includes(k as CellRunOption))
      throw new UserError(`${file}: run.${k}: each task sets it (budget: turns, minutes, usd, trainCalls; exam:).`, "Move it into the tasks.");
    run[k as CellRunOption] = String(v);
  }
  const dupTask = f.tasks.map((t) => t.name).find((n, i, all) => all.indexOf(n) !== i);
  if (dupTask) throw new UserError(`${file}: the task '${dupTask}' is named twice.`, "Name each task once.");
  for (const t of f.tasks) {
    const dupModel = t.models?.find((m, i, all) => all.indexOf(m) !== i);
    if (dupModel) throw new UserError(`${file}: tasks.${t.name}.models: '${dupModel}' is named twice.`, "Name each model once (two cells would share one id).");
  }
  const named: string[] = [];
  const prompts: PromptEntry[] = f.tasks.map((t) => {
    const value = t.recipe ?? path.resolve(base, t.promptFile!);
    named.push(t.recipe ? path.join(RECIPES_DIR, `${t.recipe}.md`) : value);
    // A jsonl exam's items are the task's grade: editing them is another suite.
    const examFile = t.exam ? /^jsonl:([^,]+)/.exec(examAgainst(t.exam, base))?.[1] : undefined;
    if (examFile) named.push(examFile);
    const taskRun: Partial<Record<CellRunOption, string>> = {
      maxTurns: String(t.budget.turns),
      maxMinutes: String(t.budget.minutes),
      ...(t.budget.usd !== undefined ? { maxCost: String(t.budget.usd) } : {}),
      ...(t.budget.trainCalls !== undefined ? { maxTrainCalls: String(t.budget.trainCalls) } : {}),
      ...(t.exam ? { exam: examAgainst(t.exam, base) } : {}),
    };
    return {
      kind: t.recipe ? ("recipe" as const) : ("file" as const),
      value,
      label: t.name,
      task: { ...(t.models ? { models: t.models } : {}), seeds: seedList(t.seeds), run: taskRun },
    };
  });
  return {
    name: f.name,
    ...(f.description ? { description: f.description.trim() } : {}),
    file,
    hash: suiteHash(file, named),
    tasks: f.tasks.map((t) => ({
      name: t.name,
      ...(t.measures ? { measures: t.measures } : {}),
      weight: t.weight,
      reference: t.reference,
      budget: t.budget,
      seeds: seedList(t.seeds),
    })),
    planners: f.planners ?? [],
    ...(f.concurrency !== undefined ? { concurrency: f.concurrency } : {}),
    prompts,
    run: withAbsolutePaths(run, base),
  };
}

/** A task's `jsonl:<file>` exam names its file relative to the suite file, as promptFile does. */
function examAgainst(exam: string, base: string): string {
  const m = /^jsonl:([^,]+)(.*)$/s.exec(exam);
  return m ? `jsonl:${path.resolve(base, m[1]!)}${m[2]}` : exam;
}

const seedList = (s: number | number[]) => (typeof s === "number" ? Array.from({ length: s }, (_, i) => i + 1) : [...new Set(s)]);

/** The suite file's bytes and those of every recipe, prompt or jsonl exam file it names (a missing one hashes as absent: the run reports it). */
function suiteHash(file: string, named: string[]): string {
  const h = crypto.createHash("sha256").update(fs.readFileSync(file));
  for (const f of named) {
    h.update(`\0${path.basename(f)}\0`);
    try {
      h.update(fs.readFileSync(f));
    } catch {
      h.update("(absent)");
    }
  }
  return h.digest("hex").slice(0, 16);
}

/**
 * The sweep a suite runs as, for these planners (`--planner` flags, else the suite's own):
 * each task a prompt with its own models, seeds, budget and exam.
 */
export function suiteSweepSpec(suite: Suite, planners: PlannerEntry[], name: string | undefined): SweepSpec {
  if (!planners.length)
    throw new UserError(
      `The suite ${suite.name} names no planner.`,
      "Give one or more --planner (e.g. --planner scripted), or list planners: in the suite file.",
    );
  const spec: SweepSpec = { ...(name ? { name } : {}), planners, prompts: suite.prompts, models: [null], seeds: [1], run: suite.run };
  checkSpec(spec, suite.file);
  return spec;
}

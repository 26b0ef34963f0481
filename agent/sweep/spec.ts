/**
 * What a sweep is: planners × prompts (recipes or prompt files) × models × seeds, with
 * the `tinkerloop run` options every cell shares. From flags or a sweep file (JSON or
 * YAML, user input: validated here); expanded into cells in one fixed order, so a shard
 * (`--shard i/n`) is the same slice on every machine.
 */
import crypto from "node:crypto";
import path from "node:path";
import YAML from "yaml";
import { z } from "zod";
import { UserError } from "../core/errors.ts";
import { readConfigFile, whyUnreadable } from "../../lib/run-files.ts";
import { flagOf } from "../config/flag-rules.ts";

/** Options of `tinkerloop run` a sweep passes to every cell (camelCase here, kebab-case as flags). */
export const CELL_RUN_OPTIONS = [
  "maxTurns",
  "maxMinutes",
  "maxNudges",
  "toolTimeout",
  "onWrongModel",
  "maxTrainCalls",
  "maxCost",
  "maxPlannerCost",
  "maxTrainingCost",
  "prices",
  "thinking",
  "reasoningEffort",
  "guardOff",
  "maxContextTokens",
  "inlineLimitKb",
  "alertThresholds",
  "mcpConfig",
  "template",
  "bashEnv",
  "exam",
] as const;
export type CellRunOption = (typeof CELL_RUN_OPTIONS)[number];
/** Options naming files: resolved against the sweep file's folder (or the working directory). */
export const PATH_OPTIONS: ReadonlySet<CellRunOption> = new Set(["mcpConfig", "template", "prices"]);
/**
 * Options `tinkerloop resume` takes again: a transcript never sets what a run may spend or
 * how deeply its planner thinks, so an interrupted cell is resumed with them named again.
 */
const RESUME_OPTIONS: readonly CellRunOption[] = ["mcpConfig", "maxCost", "maxPlannerCost", "maxTrainingCost", "prices", "thinking", "reasoningEffort"];

export type PlannerEntry = { label: string; spec: string };
/**
 * A suite task's own settings (agent/suite/): its models, seeds and run options (budget,
 * exam) in place of the sweep's. Absent for a plain sweep's prompts.
 */
export type TaskSettings = { models?: string[]; seeds?: number[]; run?: Partial<Record<CellRunOption, string>> };
export type PromptEntry = { kind: "recipe" | "file"; value: string; label: string; task?: TaskSettings };
export type SweepSpec = {
  /** The sweep id, when the user named it. */
  name?: string;
  planners: PlannerEntry[];
  prompts: PromptEntry[];
  /** null: the prompt's own model (a recipe's, or the prompt file's front matter). */
  models: Array<string | null>;
  seeds: number[];
  run: Partial<Record<CellRunOption, string>>;
};

/** One run of the matrix. */
export type Cell = { id: string; planner: PlannerEntry; prompt: PromptEntry; model: string | null; seed: number };

export const SWEEP_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_CELLS = 10_000;

const runValue = z.union([z.string(), z.number(), z.record(z.string(), z.number())]);
const plannerEntryShape = z.union([
  z.string().min(1, "a planner spec is empty"),
  z.strictObject({ spec: z.string().min(1), label: z.string().min(1).max(60).optional() }),
]);

/** A sweep file. Keys are checked strictly: a misspelt key is an error, not a silent default. */
export const sweepFileShape = z.strictObject({
  name: z.string().regex(SWEEP_ID, "name: letters, digits, . _ - (up to 64), starting with a letter or digit").optional(),
  planners: z.array(plannerEntryShape).min(1, "planners: name at least one"),
  recipes: z.array(z.string().min(1)).optional(),
  promptFiles: z.array(z.string().min(1)).optional(),
  models: z.array(z.string().min(1)).optional(),
  seeds: z.union([z.number().int().min(1).max(1000), z.array(z.number().int().min(0).max(1_000_000)).min(1)]).optional(),
  concurrency: z.number().int().min(1).max(256).optional(),
  run: z
    .strictObject(Object.fromEntries(CELL_RUN_OPTIONS.map((k) => [k, runValue.optional()])) as Record<CellRunOption, z.ZodOptional<typeof runValue>>)
    .optional(),
});
export type SweepFile = z.infer<typeof sweepFileShape>;

/** The matrix as flags give it (repeatable options). */
export type SweepFlags = {
  planner?: string[];
  recipe?: string[];
  promptFile?: string[];
  model?: string[];
  seeds?: string;
  name?: string;
} & Partial<Record<CellRunOption, string>>;

/** Reads and validates a sweep file (.json, .yaml, .yml); returns the spec and its concurrency, if it sets one. */
export function loadSweepFile(file: string): { spec: SweepSpec; concurrency?: number } {
  const abs = path.resolve(file);
  const f = readDataFile(abs, sweepFileShape, {
    what: "sweep file",
    unreadable: "Pass an existing .json, .yaml or .yml file.",
    keys: `Keys: name, planners, recipes, promptFiles, models, seeds, concurrency, run (${CELL_RUN_OPTIONS.join(", ")}).`,
    yaml: /\.ya?ml$/i.test(abs),
  });
  const base = path.dirname(abs);
  const run: Partial<Record<CellRunOption, string>> = {};
  for (const [k, v] of Object.entries(f.run ?? {}) as Array<[CellRunOption, z.infer<typeof runValue> | undefined]>) {
    if (v === undefined) continue;
    run[k] = typeof v === "object" ? JSON.stringify(v) : String(v);
  }
  return {
    spec: normalize(
      { name: f.name, planners: f.planners, recipes: f.recipes ?? [], promptFiles: f.promptFiles ?? [], models: f.models ?? [], seeds: f.seeds ?? 1, run },
      base,
      abs,
    ),
    ...(f.concurrency !== undefined ? { concurrency: f.concurrency } : {}),
  };
}

/**
 * A sweep or suite file: read (as configuration), parsed (YAML or JSON) and validated against
 * `shape`, every failure one line naming the file and the key (a misspelt key included).
 */
export function readDataFile<T extends z.ZodType>(file: string, shape: T, o: { what: string; unreadable: string; keys: string; yaml: boolean }): z.infer<T> {
  let text: string;
  try {
    text = readConfigFile(file);
  } catch (err) {
    throw new UserError(`Cannot read the ${o.what} ${file} (${whyUnreadable(err)}).`, o.unreadable);
  }
  let raw: unknown;
  try {
    raw = o.yaml ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw new UserError(`${file} is not valid ${o.yaml ? "YAML" : "JSON"}: ${(err as Error).message.split("\n")[0]!.replace(/:$/, "")}`);
  }
  const r = shape.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const where = issue.path.length ? `${issue.path.join(".")}: ` : "";
    const what =
      issue.code === "unrecognized_keys" ? `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `'${k}'`).join(", ")}` : issue.message;
    throw new UserError(`${file}: ${where}${what}.`, o.keys);
  }
  return r.data;
}

const seedsFlag = z.coerce
  .number({ error: "--seeds must be a number" })
  .int("--seeds must be a whole number")
  .min(1, "--seeds must be 1 or more")
  .max(1000, "--seeds must be at most 1000");

/** The spec from flags; relative paths are taken against `cwd`. */
export function specFromFlags(f: SweepFlags, cwd: string): SweepSpec {
  if (!f.planner?.length)
    throw new UserError(
      "A sweep needs at least one --planner.",
      "e.g. tinkerloop sweep --planner scripted --planner anthropic:claude-sonnet-5-5 --recipe arithmetic --seeds 3",
    );
  if (f.name !== undefined && !SWEEP_ID.test(f.name))
    throw new UserError(`--name ${JSON.stringify(f.name)} is not a sweep id.`, "Use letters, digits, . _ - (up to 64).");
  const seeds = f.seeds === undefined ? 1 : seedsFlag.safeParse(f.seeds);
  if (typeof seeds === "object" && !seeds.success) throw new UserError(seeds.error.issues[0]!.message);
  const run: Partial<Record<CellRunOption, string>> = {};
  for (const k of CELL_RUN_OPTIONS) if (f[k] !== undefined) run[k] = f[k];
  return normalize(
    {
      name: f.name,
      planners: f.planner,
      recipes: f.recipe ?? [],
      promptFiles: f.promptFile ?? [],
      models: f.model ?? [],
      seeds: typeof seeds === "number" ? seeds : seeds.data,
      run,
    },
    cwd,
    "flags",
  );
}

function normalize(
  f: {
    name: string | undefined;
    planners: Array<string | { spec: string; label?: string | undefined }>;
    recipes: string[];
    promptFiles: string[];
    models: string[];
    seeds: number | number[];
    run: Partial<Record<CellRunOption, string>>;
  },
  base: string,
  where: string,
): SweepSpec {
  if (f.recipes.length + f.promptFiles.length === 0)
    throw new UserError(
      `The sweep (${where}) names no prompt.`,
      "Give at least one recipe (--recipe NAME / recipes:) or prompt file (--prompt-file FILE / promptFiles:).",
    );
  const planners = plannerEntries(f.planners, base);
  const prompts: PromptEntry[] = [
    ...f.recipes.map((r) => ({ kind: "recipe" as const, value: r, label: r })),
    ...f.promptFiles.map((p) => {
      const abs = path.resolve(base, p);
      return { kind: "file" as const, value: abs, label: path.basename(abs).replace(/\.[^.]+$/, "") };
    }),
  ];
  const seeds = typeof f.seeds === "number" ? Array.from({ length: f.seeds }, (_, i) => i + 1) : [...new Set(f.seeds)];
  const run = withAbsolutePaths(f.run, base);
  const spec: SweepSpec = { ...(f.name ? { name: f.name } : {}), planners, prompts, models: f.models.length ? f.models : [null], seeds, run };
  checkSpec(spec, where);
  return spec;
}

/** Run options naming files, made absolute against `base` (the file that names them, or the working directory). */
export function withAbsolutePaths(run: Partial<Record<CellRunOption, string>>, base: string): Partial<Record<CellRunOption, string>> {
  const out = { ...run };
  for (const k of PATH_OPTIONS) if (out[k] !== undefined) out[k] = path.resolve(base, out[k]!);
  return out;
}

/** What every sweep (flags, sweep file or suite) must satisfy: no label twice, no more than MAX_CELLS cells. */
export function checkSpec(spec: SweepSpec, where: string): void {
  for (const [what, labels] of [
    ["planner", spec.planners.map((p) => p.label)],
    ["prompt", spec.prompts.map((p) => p.label)],
    ["model", spec.models.filter((m): m is string => m !== null)],
  ] as const) {
    const dup = labels.find((l, i) => labels.indexOf(l) !== i);
    if (dup !== undefined)
      throw new UserError(
        `The sweep (${where}) names the ${what} '${dup}' twice.`,
        what === "planner" ? "Give one of them a label (in a sweep file: { spec: ..., label: ... })." : "Name each once.",
      );
  }
  const count = spec.planners.length * spec.prompts.reduce((n, p) => n + modelsOf(p, spec).length * seedsOf(p, spec).length, 0);
  if (count > MAX_CELLS) throw new UserError(`The sweep has ${count} cells; at most ${MAX_CELLS} are allowed.`);
  // An id names a run directory: labels that differ only where the id has a '-' (e.g. "a b" and "a_b") would share one.
  const seen = new Set<string>();
  const dupId = expandCells(spec).find((c) => seen.size === seen.add(c.id).size)?.id;
  if (dupId !== undefined)
    throw new UserError(
      `The sweep (${where}) has two cells with the id ${dupId}: their labels or models differ only in characters a cell id cannot hold.`,
      "Give them labels that differ in letters or digits.",
    );
}

const modelsOf = (p: PromptEntry, spec: SweepSpec): Array<string | null> => (p.task?.models?.length ? p.task.models : spec.models);
const seedsOf = (p: PromptEntry, spec: SweepSpec): number[] => p.task?.seeds ?? spec.seeds;
/** A cell's run options: the sweep's, with its task's own over them. */
export const cellRun = (cell: Cell, spec: SweepSpec): Partial<Record<CellRunOption, string>> => ({ ...spec.run, ...cell.prompt.task?.run });

/** Planners as a file or the flags give them, each with its label; `replay:` paths taken against `base`. */
export function plannerEntries(planners: ReadonlyArray<string | { spec: string; label?: string | undefined }>, base: string): PlannerEntry[] {
  return planners.map((p) => {
    const spec = absolutePlanner(typeof p === "string" ? p : p.spec, base);
    return { spec, label: (typeof p === "string" ? undefined : p.label) ?? plannerLabel(spec) };
  });
}

/** `replay:` with a relative path is made absolute, so every cell (and a resume) finds the same recording. */
function absolutePlanner(spec: string, base: string): string {
  const m = /^replay:(.+)$/.exec(spec);
  return m ? `replay:${path.resolve(base, m[1]!)}` : spec;
}

/** A short name for a planner spec: `replay:<run folder>` rather than the whole path. */
function plannerLabel(spec: string): string {
  const m = /^replay:(.+)$/.exec(spec);
  if (!m) return spec;
  const p = m[1]!.replace(/[\\/]transcript\.jsonl$/, "");
  return `replay:${path.basename(p)}`;
}

const slug = (s: string) =>
  s
    .replace(/[^A-Za-z0-9.-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40) || "x";
const hash = (v: unknown) => crypto.createHash("sha256").update(JSON.stringify(v)).digest("hex");

/** Every cell, planners × prompts × models × seeds in that order; ids are stable (they name run directories). */
export function expandCells(spec: SweepSpec): Cell[] {
  const cells: Cell[] = [];
  for (const planner of spec.planners)
    for (const prompt of spec.prompts)
      for (const model of modelsOf(prompt, spec))
        for (const seed of seedsOf(prompt, spec)) {
          const parts = [planner.label, prompt.label, ...(model ? [model] : []), `s${seed}`].map(slug).join("_");
          // A suite task's name and options are part of what the cell runs (two tasks may share a recipe).
          const what = [planner.spec, prompt.kind, prompt.value, model, seed, ...(prompt.task ? [prompt.label, prompt.task.run ?? {}] : [])];
          cells.push({ id: `${parts}-${hash(what).slice(0, 6)}`, planner, prompt, model, seed });
        }
  return cells;
}

/** What must be equal for two invocations to be the same sweep: the matrix and the shared run options. */
export function fingerprint(spec: SweepSpec): string {
  // A suite's tasks carry their settings in `prompts`, so a changed task is another sweep.
  return hash({ planners: spec.planners, prompts: spec.prompts, models: spec.models, seeds: spec.seeds, run: spec.run }).slice(0, 16);
}

/** The sweep's id: its name, or one derived from what it runs (so the same flags continue the same sweep). */
export function sweepIdOf(spec: SweepSpec): string {
  return spec.name ?? `sweep-${fingerprint(spec).slice(0, 8)}`;
}

export type Shard = { index: number; count: number };

/** `--shard i/n`: 0 ≤ i < n. */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count || count > MAX_CELLS)
    throw new UserError(
      `--shard ${JSON.stringify(text)} is not a shard.`,
      "Use --shard i/n with 0 ≤ i < n, e.g. --shard 0/4 (a Slurm array: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT).",
    );
  return { index, count };
}

/** The cells of one shard: every n-th cell of the fixed order, starting at i. */
export function shardCells(cells: Cell[], shard: Shard | undefined): Cell[] {
  return shard ? cells.filter((_, i) => i % shard.count === shard.index) : cells;
}

/** The `tinkerloop run` arguments of a cell (without --run-dir). */
export function runArgs(cell: Cell, spec: SweepSpec): string[] {
  const args = [
    "--planner",
    cell.planner.spec,
    cell.prompt.kind === "recipe" ? "--recipe" : "--prompt-file",
    cell.prompt.value,
    ...(cell.model ? ["--model", cell.model] : []),
    "--seed",
    String(cell.seed),
  ];
  const run = cellRun(cell, spec);
  for (const k of CELL_RUN_OPTIONS) if (run[k] !== undefined && appliesTo(k, cell)) args.push(flagOf(k), run[k]!);
  return args;
}

/** Depth options reach only the planners that take them, so one sweep can compare providers. */
function appliesTo(k: CellRunOption, cell: Cell): boolean {
  if (k === "thinking") return cell.planner.spec.startsWith("anthropic:");
  if (k === "reasoningEffort") return cell.planner.spec.startsWith("openai:");
  return true;
}

/** The arguments of `tinkerloop resume` for an interrupted cell (its run directory comes first). */
export function resumeArgs(cell: Cell, spec: SweepSpec): string[] {
  const args = ["--planner", cell.planner.spec];
  const run = cellRun(cell, spec);
  for (const k of RESUME_OPTIONS) if (run[k] !== undefined && appliesTo(k, cell)) args.push(flagOf(k), run[k]!);
  return args;
}

import fs from "node:fs";
import path from "node:path";
import dotenv from "dotenv";
import { z } from "zod";
import { UserError } from "../core/errors.ts";
import { examSpecOf, parseExamText } from "./exam-spec.ts";
import type { ExamSpec } from "./exam-spec.ts";
import { loadRecipe, parseFrontMatter } from "./recipes.ts";
import type { Hints } from "./recipes.ts";
import { ALERT_THRESHOLDS } from "../metrics/alerts.ts";
import type { AlertThresholds } from "../metrics/alerts.ts";
import { loadMcpConfig, McpConfigError } from "../tool-hub/mcp-config.ts";
import type { ServerConfig } from "../tool-hub/mcp-config.ts";
import { BUNDLED_MCP_CONFIG, DEFAULT_TEMPLATE, SERVERS_FILE } from "../../lib/package-paths.ts";
import { localModelIds } from "../../tools/contracts/local-models.ts";
import type { WrongModelPolicy } from "./flag-rules.ts";
import { optionalFlags, parseFlags, ruleOf } from "./flag-rules.ts";
import type { ReasoningEffort } from "./planner-depth.ts";
import { readConfigFile, whyUnreadable } from "../../lib/run-files.ts";
import { enclosingRunDir } from "../../lib/run-layout.ts";

export type Env = Record<string, string | undefined>;

/**
 * The environment the run sees: `.env` in the working directory fills in what the
 * real environment lacks (the environment wins). process.env is not modified.
 */
export function loadEnv(cwd: string, processEnv: NodeJS.ProcessEnv = process.env): Env {
  const file = path.join(cwd, ".env");
  let fromFile: Record<string, string> = {};
  // Inside a run directory a .env is the planner's, never the user's (issue 32).
  if (enclosingRunDir(cwd) === undefined && fs.existsSync(file)) {
    try {
      fromFile = dotenv.parse(readConfigFile(file));
    } catch (err) {
      throw new UserError(`Cannot read ${file}: ${(err as Error).message}`, "Fix or remove the .env file.");
    }
  }
  return { ...fromFile, ...processEnv };
}

/** Defaults of a run's limits and guard settings: flag parsing, `--help` and transcripts that predate a setting all take them from here. */
export const RUN_DEFAULTS = {
  maxTurns: 200,
  maxMinutes: 240,
  maxNudges: 3,
  toolTimeoutSec: 1800,
  onWrongModel: "rewrite",
  maxContextTokens: 150_000,
  inlineLimitKb: 16,
  /** Training calls between the harness's resume points: a crash loses at most this many (0: none kept). */
  resumeEvery: 5,
} as const;

/** The flags that set what a run may spend and how deeply its planner thinks: named again on resume and fork (a transcript never sets them). */
export const SPEND_FLAGS = ["maxCost", "maxPlannerCost", "maxTrainingCost", "prices", "thinking", "reasoningEffort"] as const;

/** What a run may spend and how deeply its planner thinks, as the user named them. */
export type SpendSettings = {
  /** USD, planner and training together. */
  maxCostUsd: number | undefined;
  maxPlannerCostUsd: number | undefined;
  maxTrainingCostUsd: number | undefined;
  /** A prices file laid over the built-in table (absolute path). */
  pricesFile: string | undefined;
  thinkingBudget: number | undefined;
  reasoningEffort: ReasoningEffort | undefined;
};

/** A planner under a dollar budget makes no SDK-internal retries: each attempt is priced and checked before it is sent. */
export function sdkRetriesFor(s: Pick<SpendSettings, "maxCostUsd" | "maxPlannerCostUsd">): { sdkRetries?: number } {
  return s.maxCostUsd !== undefined || s.maxPlannerCostUsd !== undefined ? { sdkRetries: 0 } : {};
}

/** Spend settings from validated flags; the prices file from --prices, else TINKERLOOP_PRICES. */
export function spendSettings(
  f: { maxCost?: number; maxPlannerCost?: number; maxTrainingCost?: number; prices?: string; thinking?: number; reasoningEffort?: ReasoningEffort },
  cwd: string,
  env: Env,
): SpendSettings {
  const prices = f.prices ?? env.TINKERLOOP_PRICES;
  // --prices is checked with every flag (cli/main.ts); the variable names a file as much.
  if (f.prices === undefined && prices) refuseFromRunDir(path.resolve(cwd, prices), "TINKERLOOP_PRICES");
  return {
    maxCostUsd: f.maxCost,
    maxPlannerCostUsd: f.maxPlannerCost,
    maxTrainingCostUsd: f.maxTrainingCost,
    pricesFile: prices ? path.resolve(cwd, prices) : undefined,
    thinkingBudget: f.thinking,
    reasoningEffort: f.reasoningEffort,
  };
}

/** Flags of `tinkerloop run`, as commander hands them over (strings until validated); the limits default to RUN_DEFAULTS. */
export const runFlagsShape = z.object({
  ...optionalFlags(["model", "prompt", "promptFile", "recipe", "template", "planner", "mcpConfig", "runDir"]),
  maxTurns: ruleOf("maxTurns").default(RUN_DEFAULTS.maxTurns),
  maxMinutes: ruleOf("maxMinutes").default(RUN_DEFAULTS.maxMinutes),
  maxNudges: ruleOf("maxNudges").default(RUN_DEFAULTS.maxNudges),
  toolTimeout: ruleOf("toolTimeout").default(RUN_DEFAULTS.toolTimeoutSec),
  onWrongModel: ruleOf("onWrongModel").default(RUN_DEFAULTS.onWrongModel),
  ...optionalFlags(["maxTrainCalls", ...SPEND_FLAGS, "guardOff"]),
  maxContextTokens: ruleOf("maxContextTokens").default(RUN_DEFAULTS.maxContextTokens),
  inlineLimitKb: ruleOf("inlineLimitKb").default(RUN_DEFAULTS.inlineLimitKb),
  resumeEvery: ruleOf("resumeEvery").default(RUN_DEFAULTS.resumeEvery),
  ...optionalFlags(["alertThresholds", "guardRule", "allowCheckpoint", "bashEnv", "seed"]),
  ...optionalFlags(["exam"]),
  examEvery: ruleOf("examEvery").default(0),
});
export type RunFlags = z.input<typeof runFlagsShape>;

/** A validated run configuration. */
export type RunConfig = SpendSettings & {
  model: string;
  prompt: string;
  /** Where the prompt came from: "flag", a file path, or a recipe name. */
  promptSource: string;
  /** Structured hints for the scripted planner (from --recipe or a prompt file's front matter). */
  hints: Hints | undefined;
  templatePath: string;
  plannerSpec: string | undefined;
  mcpConfigPath: string | undefined;
  runDir: string;
  runId: string;
  maxTurns: number;
  maxMinutes: number;
  maxNudges: number;
  /** Default per-call tool timeout, seconds; the MCP config may set it per tool. */
  toolTimeoutSec: number;
  onWrongModel: WrongModelPolicy;
  maxTrainCalls: number | undefined;
  /** Guard rules switched off. */
  guardOff: string[];
  /** Above this estimated size, older tool results in the conversation are elided. */
  maxContextTokens: number;
  /** Inline prompts/examples above this size are moved to a file by the guard. */
  inlineLimitKb: number;
  /** The harness saves a rolling resume point after this many training calls without a checkpoint (0: never). */
  resumeEvery: number;
  /** Overrides of the feedback alerts' thresholds. */
  alertThresholds: Partial<AlertThresholds>;
  /** Modules with custom guard rules. */
  guardRules: string[];
  /** Checkpoints from outside this run that `load` may take (--allow-checkpoint; paths made absolute, URIs as given). */
  allowedCheckpoints?: string[];
  /** Environment variables passed into the `bash` sandbox (never secrets). */
  bashEnv: string[];
  /** The run's seed (one per sweep cell), handed to the tool servers; unset leaves their defaults. */
  seed?: number;
  /** The exam the harness sits (the run's definition, never the planner's); absent: the run is ungraded. */
  exam?: ExamSpec;
  /** A periodic exam every this many training calls (0: none); the planner never sees these. */
  examEvery?: number;
};

/** A checkpoint the user allows: a URI or a bare name as given, a path made absolute (the planner's `load` is resolved the same way). */
function allowedCheckpoint(c: string, cwd: string): string {
  return c.includes("://") || !/[/\\]/.test(c) ? c : path.resolve(cwd, c);
}

/** A model id: `org/name` (Tinker, Hugging Face style) or `local/<folder>`; no spaces, no `..`. */
const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._:-]*)+$/;

/** Refuses a model id that cannot name a model, and a local model that is not installed. */
export function checkModelId(model: string, env: Env): void {
  if (!MODEL_ID.test(model) || model.split("/").some((p) => p === ".." || p === ".")) {
    throw new UserError(
      `--model ${JSON.stringify(model)} is not a model id.`,
      "Model ids look like local/tiny-arith or Qwen/Qwen3-8B (see tinkerloop models).",
    );
  }
  if (model.startsWith("local/")) {
    const known = localModelIds(env.TINKERLOOP_MODELS_DIR);
    if (!known.includes(model)) {
      throw new UserError(`There is no local model ${model}.`, `Local models: ${known.join(", ") || "(none installed)"}; see tinkerloop models.`);
    }
  }
}

/** The servers of an MCP config; a config that cannot be used is a user error (exit 2). */
export function loadServers(file: string, env: Env): ServerConfig[] {
  try {
    return loadMcpConfig(file, env);
  } catch (err) {
    if (err instanceof McpConfigError) throw new UserError(err.message, err.hint);
    throw err;
  }
}

/** The MCP config the user named, else the project's ./tinkerloop-servers.json, else the bundled one. */
export function mcpConfigFor(flag: string | undefined, cwd: string): string | undefined {
  if (flag !== undefined) {
    const p = path.resolve(cwd, flag);
    if (!fs.existsSync(p)) throw new UserError(`No MCP config at ${p}.`, "Pass an existing .mcp.json with --mcp-config.");
    refuseFromRunDir(p, "--mcp-config");
    return p;
  }
  // A run directory's tool-server list is the planner's: the bundled one is used instead.
  return [...(enclosingRunDir(cwd) === undefined ? [path.join(cwd, SERVERS_FILE)] : []), BUNDLED_MCP_CONFIG].find((p) => fs.existsSync(p));
}

/**
 * A file inside a run directory was written by (or is reachable to) the planner: never
 * configuration nor code of the harness. Where it lies and where it leads (a link from
 * outside into a run directory is refused too).
 */
export function refuseFromRunDir(file: string, flag: string): void {
  const named = path.resolve(file);
  let real = named;
  try {
    real = fs.realpathSync(named);
  } catch {
    // not there: the command says so itself
  }
  const runDir = enclosingRunDir(path.dirname(named)) ?? enclosingRunDir(path.dirname(real));
  if (runDir !== undefined)
    throw new UserError(
      `${flag} ${file} lies inside the run directory ${runDir}; a run directory is never a source of configuration or code.`,
      `Keep ${flag} files outside run directories.`,
    );
}

/**
 * Environment variables naming a program the harness runs or models it loads: like the flags,
 * never inside a run directory (a bare program name is a PATH lookup; TINKERLOOP_PRICES is
 * refused where it is read, spendSettings).
 */
const ENV_CONFIG_FILES = ["TINKERLOOP_PYTHON", "TINKERLOOP_MODELS_DIR"] as const;

function refuseEnvFromRunDir(env: Env, cwd: string): void {
  for (const name of ENV_CONFIG_FILES) {
    const v = env[name];
    if (!v || (name === "TINKERLOOP_PYTHON" && !v.includes("/"))) continue;
    refuseFromRunDir(path.resolve(cwd, v), name);
  }
}

export function newRunId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${stamp}-${Math.random().toString(16).slice(2, 6)}`;
}

export function resolveRunConfig(flags: RunFlags, cwd: string, env: Env): RunConfig {
  const f = parseFlags(runFlagsShape, flags, "See tinkerloop run --help.");
  refuseEnvFromRunDir(env, cwd);
  refusePeriodicExamUnderBudget(f);
  if ([f.prompt, f.promptFile, f.recipe].filter((x) => x !== undefined).length > 1) {
    throw new UserError("Pass only one of --prompt, --prompt-file and --recipe.");
  }
  let prompt = f.prompt;
  let promptSource = "flag";
  let hints: Hints | undefined;
  if (f.promptFile !== undefined) {
    const file = path.resolve(cwd, f.promptFile);
    let text: string;
    try {
      text = readConfigFile(file);
    } catch (err) {
      throw new UserError(`Cannot read the prompt file ${file} (${whyUnreadable(err)}).`, "Check the path given to --prompt-file.");
    }
    const parsed = parseFrontMatter(text, file);
    prompt = parsed.body;
    hints = parsed.hints;
    promptSource = file;
  }
  if (f.recipe !== undefined) {
    const parsed = loadRecipe(f.recipe);
    prompt = parsed.body;
    hints = parsed.hints;
    promptSource = `recipe:${f.recipe}`;
  }
  const model = f.model ?? hints?.model ?? env.TINKERLOOP_MODEL;
  if (!prompt?.trim()) {
    throw new UserError("No research prompt given.", "Pass --prompt TEXT, --prompt-file FILE or --recipe NAME (see tinkerloop run --help).");
  }
  if (!model?.trim()) {
    throw new UserError("No base model given.", "Pass --model NAME (the model the planner must post-train).");
  }
  checkModelId(model.trim(), env);
  if (!model.trim().startsWith("local/") && !env.TINKER_API_KEY) {
    throw new UserError(
      `The model ${model.trim()} trains on the Tinker service, and TINKER_API_KEY is not set.`,
      "Either set TINKER_API_KEY (environment or .env), or train a local model on this machine's CPU, e.g. --model local/tiny-arith.",
    );
  }
  const runId = newRunId();
  const mcpConfigPath = mcpConfigFor(f.mcpConfig, cwd);
  return {
    model: model.trim(),
    prompt,
    promptSource,
    hints,
    templatePath: f.template ? path.resolve(cwd, f.template) : DEFAULT_TEMPLATE,
    plannerSpec: f.planner ?? env.TINKERLOOP_PLANNER,
    mcpConfigPath,
    runDir: path.resolve(cwd, f.runDir ?? path.join("runs", runId)),
    runId,
    maxTurns: f.maxTurns,
    maxMinutes: f.maxMinutes,
    maxNudges: f.maxNudges,
    toolTimeoutSec: f.toolTimeout,
    onWrongModel: f.onWrongModel,
    maxTrainCalls: f.maxTrainCalls,
    ...spendSettings(f, cwd, env),
    maxContextTokens: f.maxContextTokens,
    inlineLimitKb: f.inlineLimitKb,
    resumeEvery: f.resumeEvery,
    alertThresholds: parseThresholds(f.alertThresholds),
    guardOff: splitList(f.guardOff),
    guardRules: (f.guardRule ?? []).map((g) => path.resolve(cwd, g)),
    ...(f.allowCheckpoint?.length ? { allowedCheckpoints: f.allowCheckpoint.map((c) => allowedCheckpoint(c, cwd)) } : {}),
    bashEnv: parseBashEnv(f.bashEnv),
    ...(f.seed !== undefined ? { seed: f.seed } : {}),
    ...examOf(f.exam, hints, promptSource),
    ...(f.examEvery > 0 ? { examEvery: f.examEvery } : {}),
  };
}

/**
 * Periodic sittings (--exam-every) cost as much as the final one each, and how many there will be
 * is not known in advance: under a dollar budget that covers training they could not be reserved,
 * so the two are refused together rather than let a sitting go past the budget.
 */
function refusePeriodicExamUnderBudget(f: { examEvery: number; maxCost?: number | undefined; maxTrainingCost?: number | undefined }): void {
  if (f.examEvery > 0 && (f.maxCost !== undefined || f.maxTrainingCost !== undefined))
    throw new UserError(
      "--exam-every cannot be combined with a dollar budget on training (--max-cost, --max-training-cost): the periodic sittings' cost cannot be reserved.",
      "Drop --exam-every (the baseline and final sittings are reserved), or the dollar budget.",
    );
}

/** The exam: --exam over the recipe's or prompt file's front matter; `--exam none` makes the run ungraded. */
function examOf(flag: string | undefined, hints: Hints | undefined, promptSource: string): { exam?: ExamSpec } {
  const fields = flag !== undefined ? parseExamText(flag, "--exam") : (hints ?? {});
  const spec = examSpecOf(fields, flag !== undefined ? "--exam" : promptSource, hints?.difficulty);
  return spec ? { exam: spec } : {};
}

/** Known alert threshold keys with finite numbers: from a flag or a recorded config. */
export const thresholdsShape = z.strictObject(
  Object.fromEntries(Object.keys(ALERT_THRESHOLDS).map((k) => [k, z.number().finite(`alert threshold '${k}' must be a number`).optional()])),
) as unknown as z.ZodType<Partial<AlertThresholds>>;

/** A name that looks like a secret never enters the sandbox, even when asked for. */
const SECRET_NAME = /(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)/i;

/** A comma-separated flag value as its items (empty ones dropped). */
export function splitList(v: string | undefined): string[] {
  return (v ?? "")
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
}

/** `--bash-env NAME,NAME`: variable names only; secret-looking names are refused. */
export function parseBashEnv(list: string | undefined): string[] {
  const names = splitList(list);
  for (const n of names) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(n))
      throw new UserError(`--bash-env: '${n}' is not a variable name.`, "e.g. --bash-env HF_HUB_OFFLINE,OMP_NUM_THREADS");
    if (SECRET_NAME.test(n))
      throw new UserError(
        `--bash-env: '${n}' looks like a secret; secrets never enter the bash sandbox.`,
        "Pass only harmless settings (e.g. OMP_NUM_THREADS).",
      );
  }
  return names;
}

/** `--alert-thresholds '{"uniformShare": 0.5}'`: known keys with numbers only. */
export function parseThresholds(json: string | undefined): Partial<AlertThresholds> {
  if (!json) return {};
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new UserError(
      "--alert-thresholds is not valid JSON.",
      `e.g. --alert-thresholds '{"uniformShare": 0.5}'; keys: ${Object.keys(ALERT_THRESHOLDS).join(", ")}.`,
    );
  }
  const r = thresholdsShape.safeParse(v);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const unknownKey = issue.code === "unrecognized_keys" ? issue.keys[0] : undefined;
    if (unknownKey !== undefined) throw new UserError(`Unknown alert threshold '${unknownKey}'.`, `Keys: ${Object.keys(ALERT_THRESHOLDS).join(", ")}.`);
    throw new UserError(
      issue.path.length ? `Alert threshold '${issue.path.join(".")}' must be a number.` : "--alert-thresholds must be a JSON object.",
      `Keys: ${Object.keys(ALERT_THRESHOLDS).join(", ")}.`,
    );
  }
  return r.data;
}

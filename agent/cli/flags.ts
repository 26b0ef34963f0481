import fs from "node:fs";
import path from "node:path";
import { Option } from "commander";
import { SUITES_DIR } from "../../lib/package-paths.ts";
import { flagOf, WRONG_MODEL_POLICIES } from "../config/flag-rules.ts";
import type { RuledFlag } from "../config/flag-rules.ts";
import { RUN_DEFAULTS } from "../config/run-config.ts";
import { AGENT_GONE_MS } from "../gateway/defaults.ts";

/**
 * Every flag of every command, declared once: its argument, its default and its choices. The
 * spelling is the key's (maxMinutes → --max-minutes), so the name commander hands the action and
 * the rule that validates it (`agent/config/flag-rules.ts`) cannot drift apart. Each command gives
 * its own help line, since `--max-minutes` means "the run's limit" to run and "every cell's" to sweep.
 */
type FlagDecl = {
  /** commander's argument: `<x>` required, `[x]` optional, `<x...>` repeatable; none for a switch. */
  arg?: string;
  /** Shown in help and handed over when the flag is absent, by the commands that ask for it. */
  default?: string | number;
  choices?: readonly string[];
  /**
   * The flag names a file the harness reads as configuration or code (a prompt, a template, a
   * tool-server list, prices, a guard rule, exam items): never one inside a run directory,
   * which is the planner's to write. `true`: the value is the file; a function finds it in the value.
   */
  configFile?: true | ((value: string) => string | undefined);
};

/** The items file of an `--exam jsonl:<file>,…` spec; the other sources name no local file. */
const examItemsFile = (spec: string): string | undefined => /^jsonl:([^,]+)/.exec(spec.trim())?.[1]?.trim();

/** A `--suite` that names a file (a shipped suite's bare name names none). */
const suiteFile = (v: string): string | undefined => (/^[A-Za-z0-9_-]+$/.test(v) && fs.existsSync(path.join(SUITES_DIR, `${v}.yaml`)) ? undefined : v);

const FLAGS = {
  // What the run trains, and on what.
  model: { arg: "<name>" },
  prompt: { arg: "<text>" },
  promptFile: { arg: "<file>", configFile: true },
  recipe: { arg: "<name>" },
  planner: { arg: "<spec>" },
  template: { arg: "<file>", configFile: true },
  mcpConfig: { arg: "<file>", configFile: true },
  runDir: { arg: "<dir>" },
  // Limits.
  maxTurns: { arg: "<n>", default: RUN_DEFAULTS.maxTurns },
  maxMinutes: { arg: "<n>", default: RUN_DEFAULTS.maxMinutes },
  maxNudges: { arg: "<n>", default: RUN_DEFAULTS.maxNudges },
  toolTimeout: { arg: "<seconds>", default: RUN_DEFAULTS.toolTimeoutSec },
  maxContextTokens: { arg: "<n>", default: RUN_DEFAULTS.maxContextTokens },
  resumeEvery: { arg: "<calls>", default: RUN_DEFAULTS.resumeEvery },
  seed: { arg: "<n>" },
  // Budgets and planner depth.
  maxTrainCalls: { arg: "<n>" },
  maxCost: { arg: "<usd>" },
  maxPlannerCost: { arg: "<usd>" },
  maxTrainingCost: { arg: "<usd>" },
  prices: { arg: "<file>", configFile: true },
  thinking: { arg: "<tokens>" },
  reasoningEffort: { arg: "<level>" },
  // The guard, the feedback and the sandbox.
  onWrongModel: { arg: "<policy>", default: RUN_DEFAULTS.onWrongModel, choices: WRONG_MODEL_POLICIES },
  guardOff: { arg: "<rules>" },
  guardRule: { arg: "<file...>", configFile: true },
  allowCheckpoint: { arg: "<path>" },
  exam: { arg: "<spec>", configFile: examItemsFile },
  examEvery: { arg: "<calls>" },
  inlineLimitKb: { arg: "<n>", default: RUN_DEFAULTS.inlineLimitKb },
  alertThresholds: { arg: "<json>" },
  bashEnv: { arg: "<names>" },
  // Watching a run.
  serve: { arg: "[port]" },
  host: { arg: "<address>" },
  port: { arg: "<n>" },
  wandb: { arg: "<project>" },
  // mcp.
  http: { arg: "[port]" },
  printPrompt: {},
  agentGone: { arg: "<seconds>", default: AGENT_GONE_MS / 1000 },
  // replay.
  view: {},
  full: {},
  cassette: {},
  execute: {},
  fork: { arg: "<turn>" },
  // compare.
  out: { arg: "<file>", default: "compare.html" },
  // sweep.
  seeds: { arg: "<n>" },
  name: { arg: "<id>" },
  dir: { arg: "<dir>" },
  concurrency: { arg: "<n>" },
  shard: { arg: "<i/n>" },
  dryRun: {},
  status: { arg: "<dir>" },
  collect: { arg: "<dirs...>" },
  suite: { arg: "<name|file>", configFile: suiteFile },
  judge: { arg: "<provider:model>" },
  judgePolicy: { arg: "<policy>", choices: ["record", "zero"] },
  // Every flag with a value rule is declared here (the type says so).
} as const satisfies Record<string, FlagDecl> & Record<RuledFlag, FlagDecl>;

export type FlagKey = keyof typeof FLAGS;

/** How a command takes a flag. */
type Use = {
  /** Hand over the declared default when the flag is absent (and show it in help). */
  defaulted?: boolean;
  /** Passed on as typed, unchecked here (sweep hands its cells' flags to each cell's own run). */
  asGiven?: boolean;
};

/** The commander option for a flag, with this command's help line. */
export function flag(key: FlagKey, help: string, use: Use = {}): Option {
  const decl: FlagDecl = FLAGS[key];
  const option = new Option(decl.arg ? `${flagOf(key)} ${decl.arg}` : flagOf(key), help);
  if (use.defaulted && decl.default !== undefined) option.default(String(decl.default));
  if (decl.choices && !use.asGiven) option.choices(decl.choices);
  return option;
}

/** A repeatable flag's parser: every value given, in order. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Commands whose argument (by its name) is a configuration file, like a flag marked `configFile`: a sweep file names planners, prompt files and run flags. */
export const CONFIG_FILE_ARGUMENTS: Readonly<Record<string, string>> = { sweep: "file" };

/** The flags that name configuration files (their keys), for the check and its test. */
export const CONFIG_FILE_FLAGS = (Object.keys(FLAGS) as FlagKey[]).filter((k) => (FLAGS[k] as FlagDecl).configFile !== undefined);

/**
 * The configuration files named among a command's option values (commander's, by flag key),
 * each with the flag that names it: what must never lie inside a run directory.
 */
export function configFilesIn(opts: Record<string, unknown>): Array<{ flag: string; file: string }> {
  const out: Array<{ flag: string; file: string }> = [];
  for (const key of CONFIG_FILE_FLAGS) {
    const find = (FLAGS[key] as FlagDecl).configFile;
    const values = opts[key];
    for (const v of Array.isArray(values) ? values : [values]) {
      if (typeof v !== "string" || v === "") continue;
      const file = find === true ? v : find?.(v);
      if (file) out.push({ flag: flagOf(key), file });
    }
  }
  return out;
}

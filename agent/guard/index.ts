import path from "node:path";
import { pathToFileURL } from "node:url";
import { UserError } from "../core/errors.ts";
import { baseModelRule } from "./base-model.ts";
import type { WrongModelPolicy } from "../config/flag-rules.ts";
import { bashCommandRule } from "./bash-command.ts";
import { budgetRule } from "./budget.ts";
import type { Budget } from "./budget.ts";
import { contaminationRule } from "./contamination.ts";
import { largeInlineRule } from "./large-inline.ts";
import { malformedArgsRule } from "./malformed-args.ts";
import { GuardPipeline } from "./pipeline.ts";
import { provenanceRule } from "./provenance.ts";
import { rewardCodeRule } from "./reward-code.ts";
import { schemaRule } from "./schema.ts";
import type { GuardRule } from "../core/guard.ts";
import { unknownToolRule } from "./unknown-tool.ts";
import { workflowRule } from "./workflow.ts";
import type { TrainingState } from "../state/training-state.ts";
import { sandboxStatus } from "../../lib/sandbox/os-sandbox.ts";
import { enclosingRunDir } from "../../lib/run-layout.ts";
import { RULE_NAMES } from "./rule-names.ts";

export type GuardConfig = {
  onWrongModel: WrongModelPolicy;
  /** Where large inline data is written (the run's data folder). */
  dataDir: string;
  inlineLimitBytes?: number;
  budget: Budget;
  /** Rule names to switch off. */
  disabled?: string[];
  /** Modules whose default export is a GuardRule (or a function returning one). */
  customRuleFiles?: string[];
  /** The harness's training state (the harness observes every call into it; rules only read it). */
  trainingState: TrainingState;
  /**
   * The run's exam, when it has one (graded runs): rule `contamination` refuses training rows
   * that match its items or come from the generator task whose eval split it reserves.
   */
  exam?: { items: ReadonlyArray<{ prompt: string; ground_truth: string }>; generatorTask?: string };
  /** Checkpoints from outside this run that the user named at start: rule `provenance` lets `load` take these and the run's own, no others. */
  allowedCheckpoints?: readonly string[];
  /** Whether reward code runs in the OS sandbox (child processes and file writes allowed); default: this machine's. */
  rewardsRunCode?: boolean;
};

/** The built-in rules in order, minus the disabled ones, then any custom rules. */
export async function buildGuard(c: GuardConfig): Promise<GuardPipeline> {
  const disabled = new Set(c.disabled ?? []);
  for (const d of disabled) {
    if (!(RULE_NAMES as readonly string[]).includes(d)) throw new UserError(`Unknown guard rule '${d}'.`, `Rules: ${RULE_NAMES.join(", ")}.`);
  }
  const builtIn: GuardRule[] = [
    malformedArgsRule,
    unknownToolRule,
    schemaRule(),
    baseModelRule(c.onWrongModel),
    rewardCodeRule(c.rewardsRunCode ?? sandboxStatus().available),
    bashCommandRule,
    largeInlineRule(c.dataDir, c.inlineLimitBytes),
    workflowRule(c.trainingState),
    budgetRule(c.budget),
    // The run directory is the data folder's parent (lib/run-layout.ts): the tools resolve data files and checkpoint folders from it.
    ...(c.exam ? [contaminationRule(c.exam, path.dirname(c.dataDir))] : []),
    provenanceRule({ runDir: path.dirname(c.dataDir), ...(c.allowedCheckpoints ? { allowed: c.allowedCheckpoints } : {}) }),
  ];
  const rules = builtIn.filter((r) => !disabled.has(r.name));
  for (const file of c.customRuleFiles ?? []) rules.push(await loadCustomRule(file));
  return new GuardPipeline(rules);
}

async function loadCustomRule(file: string): Promise<GuardRule> {
  const runDir = enclosingRunDir(path.dirname(path.resolve(file)));
  // A module there may be the planner's: the harness never imports code from a run directory.
  if (runDir !== undefined)
    throw new UserError(
      `The guard rule ${file} lies inside the run directory ${runDir}; code is never loaded from a run directory.`,
      "Keep guard rule modules outside run directories.",
    );
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(path.resolve(file)).href)) as { default?: unknown };
  } catch (err) {
    throw new UserError(
      `Cannot load the guard rule ${file}: ${(err as Error).message}`,
      "A rule module's default export is {name, check(call, ctx)} or a function returning one.",
    );
  }
  const exported = typeof mod.default === "function" ? (mod.default as () => unknown)() : mod.default;
  const rule = exported as GuardRule | undefined;
  if (!rule || typeof rule.name !== "string" || typeof rule.check !== "function") {
    throw new UserError(`${file} does not export a guard rule.`, "Export default {name: string, check(call, ctx) {...}}.");
  }
  return rule;
}

import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { RunConfig, SpendSettings } from "../config/run-config.ts";
import type { CostBudget } from "../spend/ledger.ts";
import { RUN_DEFAULTS, thresholdsShape } from "../config/run-config.ts";
import { UserError } from "../core/errors.ts";
import { hintsShape } from "../config/recipes.ts";
import { readTranscript } from "./transcript.ts";
import type { RecordedEvent, TranscriptReadResult } from "./transcript.ts";
import type { RunHeader } from "../core/events.ts";
import { RUN_FILES } from "../../lib/run-layout.ts";
import { examSpecShape } from "../config/exam-spec.ts";
import type { ExamSpec } from "../config/exam-spec.ts";

type RecordedHeader = RunHeader & { seq: number; t: string };

export type Recording = { file: string; read: TranscriptReadResult; header: RecordedHeader; system: string; kickoff: string };

/**
 * What a user named as "a run": a run directory or its transcript file. The one resolver
 * of that choice (report, compare, watch, replay, resume, fork, `--planner replay:`): a
 * directory is the run directory; a file is taken as the transcript, and its folder as the
 * run directory.
 */
export function runTarget(target: string): { runDir: string; transcript: string } {
  const p = path.resolve(target);
  let isDir = false;
  try {
    isDir = fs.statSync(p).isDirectory();
  } catch {
    // Named but not there: a .jsonl name meant a transcript, anything else a run directory (the error then names its transcript).
    isDir = !p.endsWith(".jsonl");
  }
  return isDir ? { runDir: p, transcript: path.join(p, RUN_FILES.transcript) } : { runDir: path.dirname(p), transcript: p };
}

/**
 * Reads a recorded run. `tolerateDamage` (the viewer) shows what precedes a damaged
 * line; everything that acts on a recording refuses one, naming the line and field.
 */
export function loadRecording(target: string, o: { tolerateDamage?: boolean } = {}): Recording {
  const file = runTarget(target).transcript;
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new UserError(`No transcript at ${file}.`, "Pass a run directory (runs/<id>) or a transcript.jsonl file.");
  }
  if (!st.isFile()) throw new UserError(`${file} is not a regular file.`, "Pass a run directory (runs/<id>) or a transcript.jsonl file.");
  const read = readTranscript(file);
  const damaged = read.damage ? `${file} line ${read.damage.line}: ${read.damage.reason}` : undefined;
  const header = read.events.find((e): e is RecordedHeader => e.type === "run");
  if (!header) {
    throw new UserError(damaged ?? `${file} has no run header: it is not a tinkerloop transcript.`, "Pass the transcript.jsonl of a tinkerloop run.");
  }
  if (damaged && !o.tolerateDamage) {
    throw new UserError(
      `The transcript is damaged: ${damaged}.`,
      "Repair or remove that line (everything before it is intact), or view what is readable with tinkerloop replay <run>.",
    );
  }
  const system = read.events.find((e): e is Extract<RecordedEvent, { type: "system" }> => e.type === "system")?.text ?? "";
  const first = read.events.find((e): e is Extract<RecordedEvent, { type: "user" }> => e.type === "user");
  const kickoff = first?.message.content.find((b) => b.type === "text")?.text ?? "";
  return { file, read, header, system, kickoff };
}

/**
 * The settings of a recorded run that are plain data (limits, policies, the prompt).
 * What a transcript could use to run code or touch files — the MCP config, guard rule
 * modules, the template, the run directory — is not taken from it: the caller names
 * those again.
 */
const recordedSettingsShape = z.object({
  prompt: z.string().default(""),
  promptSource: z.string().default("transcript"),
  hints: hintsShape.optional(),
  plannerSpec: z.string().optional(),
  maxTurns: z.number().int().positive().default(RUN_DEFAULTS.maxTurns),
  maxMinutes: z.number().positive().default(RUN_DEFAULTS.maxMinutes),
  maxNudges: z.number().int().min(0).default(RUN_DEFAULTS.maxNudges),
  toolTimeoutSec: z.number().int().positive().default(RUN_DEFAULTS.toolTimeoutSec),
  onWrongModel: z.enum(["rewrite", "reject"]).default(RUN_DEFAULTS.onWrongModel),
  maxTrainCalls: z.number().int().positive().optional(),
  guardOff: z.array(z.string()).default([]),
  maxContextTokens: z.number().int().positive().default(RUN_DEFAULTS.maxContextTokens),
  inlineLimitKb: z.number().int().positive().default(RUN_DEFAULTS.inlineLimitKb),
  resumeEvery: z.number().int().min(0).default(RUN_DEFAULTS.resumeEvery),
  alertThresholds: thresholdsShape.default({}),
  seed: z.number().int().min(0).optional(),
});

/** What the user names again when acting on a recording (the shell's environment included: a transcript cannot widen it). */
export type UserNamed = {
  runDir: string;
  mcpConfigPath: string | undefined;
  guardRules: string[];
  bashEnv?: string[];
  spend?: SpendSettings;
  /** Guard rules switched off: only the user can switch a rule off (see recordedGuardOff). */
  guardOff?: string[];
};

/** The guard rules the recorded run had switched off (a cassette replay reproduces them; nothing that runs takes them). */
export function recordedGuardOff(rec: Recording): string[] {
  const r = recordedSettingsShape.safeParse(rec.header.config);
  return r.success ? r.data.guardOff : [];
}

/**
 * Guard rules switched off for acting on a recording: only those the user names now. A
 * transcript could be edited to switch the budget or base-model rules off, so a recorded
 * --guard-off the user did not name again stops with the flag to pass.
 */
function guardOffFromUser(recorded: string[], named: string[] | undefined): string[] {
  if (named !== undefined) return named;
  if (recorded.length > 0) {
    const flag = `--guard-off ${recorded.join(",")}`;
    throw new UserError(`The recorded run had guard rules switched off (${flag}); a transcript cannot switch rules off, so name it again: ${flag}.`);
  }
  return [];
}

/** No budget, no prices file, no thinking: what acting on a recording without a live planner uses. */
export const NO_SPEND_SETTINGS: SpendSettings = {
  maxCostUsd: undefined,
  maxPlannerCostUsd: undefined,
  maxTrainingCostUsd: undefined,
  pricesFile: undefined,
  thinkingBudget: undefined,
  reasoningEffort: undefined,
};

/** The recorded run's budgets, read only to tell the user what to name again. */
const recordedBudgetShape = z.object({
  maxCostUsd: z.number().optional(),
  maxPlannerCostUsd: z.number().optional(),
  maxTrainingCostUsd: z.number().optional(),
});
const BUDGET_FLAGS = { maxCostUsd: "--max-cost", maxPlannerCostUsd: "--max-planner-cost", maxTrainingCostUsd: "--max-training-cost" } as const;

/** The recorded run's dollar budgets, as data (a cassette replay reproduces its refusals; nothing there spends). */
export function recordedBudgets(rec: Recording): CostBudget {
  const r = recordedBudgetShape.safeParse(rec.header.config);
  if (!r.success) return {};
  return Object.fromEntries(Object.entries(r.data).filter(([, v]) => typeof v === "number")) as CostBudget;
}

/**
 * What a continued run may spend and how deeply it thinks: only what the user names now.
 * A transcript could be edited to raise a budget, lower a price or deepen the thinking,
 * so none of that is taken from it; a recorded budget the user did not name again stops
 * the continuation with a line saying what to pass.
 */
export function spendFromUser(rec: Recording, spend: SpendSettings): SpendSettings {
  const recorded = recordedBudgetShape.safeParse(rec.header.config);
  const budgets = recorded.success ? Object.entries(BUDGET_FLAGS).filter(([k]) => recorded.data[k as keyof typeof BUDGET_FLAGS] !== undefined) : [];
  const named = spend.maxCostUsd !== undefined || spend.maxPlannerCostUsd !== undefined || spend.maxTrainingCostUsd !== undefined;
  if (budgets.length > 0 && !named) {
    const was = budgets.map(([k, flag]) => `${flag} ${recorded.data![k as keyof typeof BUDGET_FLAGS]}`).join(" ");
    throw new UserError(`The recorded run had a budget (${was}); a transcript cannot set what a run may spend, so name it again: ${was}.`);
  }
  return spend;
}

/** The run configuration for acting on a recording: recorded data plus what the user named. */
export function recordedConfig(rec: Recording, named: UserNamed): RunConfig {
  const header = rec.header;
  const r = recordedSettingsShape.safeParse(header.config);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new UserError(`The transcript's run header is damaged: ${rec.file} line 1, field config.${issue.path.join(".")}: ${issue.message}.`);
  }
  const c = r.data;
  return {
    model: header.model,
    prompt: c.prompt,
    promptSource: c.promptSource,
    hints: c.hints,
    templatePath: "",
    plannerSpec: c.plannerSpec,
    mcpConfigPath: named.mcpConfigPath,
    runDir: named.runDir,
    runId: header.runId,
    maxTurns: c.maxTurns,
    maxMinutes: c.maxMinutes,
    maxNudges: c.maxNudges,
    toolTimeoutSec: c.toolTimeoutSec,
    onWrongModel: c.onWrongModel,
    maxTrainCalls: c.maxTrainCalls,
    ...(named.spend ? spendFromUser(rec, named.spend) : NO_SPEND_SETTINGS),
    guardOff: guardOffFromUser(c.guardOff, named.guardOff),
    maxContextTokens: c.maxContextTokens,
    inlineLimitKb: c.inlineLimitKb,
    resumeEvery: c.resumeEvery,
    alertThresholds: c.alertThresholds,
    guardRules: named.guardRules,
    bashEnv: named.bashEnv ?? [],
    ...(c.seed !== undefined ? { seed: c.seed } : {}),
    ...recordedExam(header),
  };
}

/** A graded run's exam, from its header: a resumed or forked run is graded by the same exam (and sits it again as often). */
function recordedExam(header: Recording["header"]): { exam?: ExamSpec; examEvery?: number } {
  const spec = header.exam ? examSpecShape.safeParse(header.exam.spec) : undefined;
  if (!spec?.success) return {};
  const every = (header.config as { examEvery?: unknown }).examEvery;
  return { exam: spec.data, ...(typeof every === "number" && every > 0 ? { examEvery: every } : {}) };
}

/** The turn an event belongs to; run-level events (header, system prompt) have none. */
export const turnOf = (e: RecordedEvent): number | undefined => ("turn" in e && typeof e.turn === "number" ? e.turn : undefined);
export const lastTurn = (events: RecordedEvent[]) => Math.max(0, ...events.map((e) => turnOf(e) ?? 0));

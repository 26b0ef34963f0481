import { z } from "zod";
import { UserError } from "../core/errors.ts";
import { MIN_THINKING_BUDGET, REASONING_EFFORTS } from "./planner-depth.ts";

/**
 * What each flag's value must be, declared once per flag: the run configuration (`tinkerloop run`,
 * `mcp`, every sweep cell) and the CLI's other commands validate with these rules, so a bad value
 * reads the same wherever it is given. The flags' spellings and help live in `agent/cli/flags.ts`.
 */

/** The camelCase key commander gives a flag, back to its spelling: maxMinutes → --max-minutes. */
export const flagOf = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** What the base-model rule does with a call naming another model (--on-wrong-model). */
export const WRONG_MODEL_POLICIES = ["rewrite", "reject"] as const;
export type WrongModelPolicy = (typeof WRONG_MODEL_POLICIES)[number];

/** A whole number above 0 (turns, seconds, calls, tokens). */
const positiveInt = (flag: string) =>
  z.coerce
    .number({ error: `${flag} must be a number` })
    .int(`${flag} must be a whole number`)
    .positive(`${flag} must be above 0`);

/** A number above 0, fractions allowed (minutes). */
const positiveNumber = (flag: string) => z.coerce.number({ error: `${flag} must be a number` }).positive(`${flag} must be above 0`);

/** A budget in US dollars. */
const usd = (flag: string) =>
  z.coerce
    .number({ error: `${flag} must be a number (US dollars)` })
    .finite(`${flag} must be a number (US dollars)`)
    .positive(`${flag} must be above 0`);

/** A TCP port, 0 for any free one; the messages leave the flag to the caller (`--http abc: must be a number.`). */
export const portNumber = z.coerce
  .number({ error: "must be a number" })
  .int("must be a whole number")
  .min(0, "must be 0 to 65535")
  .max(65535, "must be 0 to 65535");

/** The rule of every flag with a value, keyed by the name commander gives it; each rule's messages name its flag. */
const RULES = {
  model: () => z.string(),
  prompt: () => z.string(),
  promptFile: () => z.string(),
  recipe: () => z.string(),
  template: () => z.string(),
  planner: () => z.string(),
  mcpConfig: () => z.string(),
  runDir: () => z.string(),
  maxTurns: positiveInt,
  maxMinutes: positiveNumber,
  maxNudges: (flag: string) => z.coerce.number().int().min(0, `${flag} must be 0 or more`),
  toolTimeout: positiveInt,
  onWrongModel: (flag: string) => z.enum(WRONG_MODEL_POLICIES, { error: `${flag} must be ${WRONG_MODEL_POLICIES.join(" or ")}` }),
  maxTrainCalls: positiveInt,
  maxCost: usd,
  maxPlannerCost: usd,
  maxTrainingCost: usd,
  prices: (flag: string) => z.string().min(1, `${flag} needs a file`),
  thinking: (flag: string) =>
    z.coerce
      .number({ error: `${flag} must be a number of tokens` })
      .int(`${flag} must be a whole number of tokens`)
      .min(MIN_THINKING_BUDGET, `${flag} must be at least ${MIN_THINKING_BUDGET} tokens (the API's smallest thinking budget)`),
  reasoningEffort: (flag: string) => z.enum(REASONING_EFFORTS, { error: `${flag} must be ${REASONING_EFFORTS.join(", ")}` }),
  guardOff: () => z.string(),
  guardRule: () => z.array(z.string()),
  allowCheckpoint: (flag: string) => z.array(z.string().min(1, `${flag} needs a path, name or URI`)),
  maxContextTokens: positiveInt,
  inlineLimitKb: positiveInt,
  resumeEvery: (flag: string) =>
    z.coerce
      .number({ error: `${flag} must be a number` })
      .int(`${flag} must be a whole number`)
      .min(0, `${flag} must be 0 (off) or more`),
  alertThresholds: () => z.string(),
  bashEnv: () => z.string(),
  seed: (flag: string) =>
    z.coerce
      .number({ error: `${flag} must be a number` })
      .int(`${flag} must be a whole number`)
      .min(0, `${flag} must be 0 or more`)
      .max(1_000_000, `${flag} must be at most 1000000`),
  serve: () => z.union([z.string(), z.boolean()]),
  host: () => z.string(),
  wandb: () => z.string(),
  view: () => z.boolean(),
  full: () => z.boolean(),
  cassette: () => z.boolean(),
  execute: () => z.boolean(),
  fork: positiveInt,
  agentGone: positiveInt,
  exam: (flag: string) => z.string().min(1, `${flag} needs a source (or none)`),
  examEvery: (flag: string) =>
    z.coerce
      .number({ error: `${flag} must be a number` })
      .int(`${flag} must be a whole number`)
      .min(0, `${flag} must be 0 (off) or more`),
};

type Rules = typeof RULES;
export type RuledFlag = keyof Rules;
type RuleOf<K extends RuledFlag> = ReturnType<Rules[K]>;

/** The rule of one flag. */
export function ruleOf<K extends RuledFlag>(key: K): RuleOf<K> {
  return RULES[key](flagOf(key)) as RuleOf<K>;
}

/** A zod object shape of optional flags: what a command takes when it names none of them. */
export function optionalFlags<const K extends RuledFlag>(keys: readonly K[]): { [P in K]: z.ZodOptional<RuleOf<P>> } {
  return Object.fromEntries(keys.map((k) => [k, ruleOf(k).optional()])) as { [P in K]: z.ZodOptional<RuleOf<P>> };
}

/** Validates a command's flags; a bad value is a one-line user error (exit 2) with `hint` below it. */
export function parseFlags<T>(shape: z.ZodType<T>, flags: unknown, hint: string): T {
  const r = shape.safeParse(flags);
  if (r.success) return r.data;
  throw new UserError(r.error.issues[0]?.message ?? "invalid options", hint);
}

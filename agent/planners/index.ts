import { UserError } from "../core/errors.ts";
import type { Env } from "../config/run-config.ts";
import type { Hints } from "../config/recipes.ts";
import { AnthropicPlanner } from "./anthropic.ts";
import { OpenAIPlanner } from "./openai.ts";
import type { PlannerDepth, ReasoningEffort } from "../config/planner-depth.ts";
import type { Planner } from "../core/planner.ts";
import { ScriptedPlanner } from "./scripted.ts";
import { RecordedPlanner } from "./recorded.ts";
import { readTranscript } from "../transcript/transcript.ts";
import { runTarget } from "../transcript/recording.ts";
import fs from "node:fs";

export const DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-5-5";

export type PlannerChoice = { planner: Planner; why: string };

/**
 * What a run tells the planner it builds. `sdkRetries`: the SDK's own HTTP retries; 0 under a
 * dollar budget, where every attempt must be priced and checked before it is sent (the SDK
 * resends on its own, unseen; RetryingPlanner's retries are sized by the budgeted planner).
 */
export type PlannerContext = { hints?: Hints; model?: string; depth?: PlannerDepth; sdkRetries?: number };

/** A run's depth settings as resolvePlanner takes them. */
export function plannerDepth(cfg: { thinkingBudget?: number | undefined; reasoningEffort?: ReasoningEffort | undefined }): PlannerDepth {
  return {
    ...(cfg.thinkingBudget !== undefined ? { thinkingBudget: cfg.thinkingBudget } : {}),
    ...(cfg.reasoningEffort ? { reasoningEffort: cfg.reasoningEffort } : {}),
  };
}

/**
 * Turns a planner spec ("anthropic:<model>", "anthropic") into a planner. With no
 * spec, picks Anthropic when ANTHROPIC_API_KEY is set and says why. A depth setting
 * the chosen planner cannot take is refused (one line, exit 2).
 */
export function resolvePlanner(spec: string | undefined, env: Env, ctx: PlannerContext = {}): PlannerChoice {
  const choice = choosePlanner(spec, env, ctx);
  const depth = ctx.depth ?? {};
  const kind = choice.planner.id.split(":")[0];
  if (depth.thinkingBudget !== undefined && kind !== "anthropic") {
    throw new UserError(
      `--thinking is for anthropic: planners; this run's planner is ${choice.planner.id}${kind === "openai" ? " (use --reasoning-effort)" : ""}.`,
    );
  }
  if (depth.reasoningEffort !== undefined && kind !== "openai") {
    throw new UserError(
      `--reasoning-effort is for openai: planners; this run's planner is ${choice.planner.id}${kind === "anthropic" ? " (use --thinking)" : ""}.`,
    );
  }
  return choice;
}

function choosePlanner(spec: string | undefined, env: Env, ctx: PlannerContext): PlannerChoice {
  const depth = ctx.depth ?? {};
  const scripted = () => new ScriptedPlanner({ ...(ctx.hints ? { hints: ctx.hints } : {}), ...(ctx.model ? { model: ctx.model } : {}) });
  if (spec === undefined || spec === "") {
    if (env.ANTHROPIC_API_KEY) {
      return {
        planner: makeAnthropic(DEFAULT_ANTHROPIC_MODEL, env, depth, ctx.sdkRetries),
        why: `no --planner given and ANTHROPIC_API_KEY is set: using anthropic:${DEFAULT_ANTHROPIC_MODEL}`,
      };
    }
    return { planner: scripted(), why: "no --planner given and no ANTHROPIC_API_KEY: using the offline scripted planner" };
  }
  const [kind, ...rest] = spec.split(":");
  const arg = rest.join(":");
  switch (kind) {
    case "anthropic":
      return { planner: makeAnthropic(arg || DEFAULT_ANTHROPIC_MODEL, env, depth, ctx.sdkRetries), why: `--planner ${spec}` };
    case "scripted":
      return { planner: scripted(), why: `--planner ${spec}` };
    case "replay": {
      const file = arg ? runTarget(arg).transcript : undefined;
      if (!file || !fs.existsSync(file))
        throw new UserError(`--planner replay needs a transcript: replay:<run-dir or transcript.jsonl>; ${JSON.stringify(arg)} does not exist.`);
      return { planner: RecordedPlanner.fromEvents(readTranscript(file).events, file), why: `--planner ${spec}: the recorded planner turns` };
    }
    case "openai": {
      if (!arg)
        throw new UserError(
          "--planner openai needs a model name: openai:<model>.",
          "e.g. --planner openai:gpt-5 or, for a local server, openai:qwen3-8b with OPENAI_BASE_URL.",
        );
      const apiKey = env.OPENAI_API_KEY ?? (env.OPENAI_BASE_URL ? "none" : undefined);
      if (!apiKey)
        throw new UserError(
          `The planner openai:${arg} needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server that needs no key).`,
          "Set it in the environment or in .env.",
        );
      return {
        planner: new OpenAIPlanner({
          model: arg,
          apiKey,
          ...(env.OPENAI_BASE_URL ? { baseURL: env.OPENAI_BASE_URL } : {}),
          ...(depth.reasoningEffort ? { reasoningEffort: depth.reasoningEffort } : {}),
          ...sdkRetriesOption(env, ctx.sdkRetries),
        }),
        why: `--planner ${spec}`,
      };
    }
    default:
      throw new UserError(`Unknown planner '${spec}'.`, "Use anthropic:<model>, openai:<model>, scripted or replay:<transcript>.");
  }
}

/** The SDK's retries: the run's word (0 under a dollar budget) over TINKERLOOP_SDK_MAX_RETRIES over the SDK's default. */
function sdkRetriesOption(env: Env, sdkRetries: number | undefined): { maxRetries?: number } {
  if (sdkRetries !== undefined) return { maxRetries: sdkRetries };
  return env.TINKERLOOP_SDK_MAX_RETRIES ? { maxRetries: Number(env.TINKERLOOP_SDK_MAX_RETRIES) } : {};
}

function makeAnthropic(model: string, env: Env, depth: PlannerDepth, sdkRetries: number | undefined): Planner {
  const apiKey = env.ANTHROPIC_API_KEY;
  if (!apiKey) {
    throw new UserError(`The planner anthropic:${model} needs ANTHROPIC_API_KEY, which is not set.`, "Set it in the environment or in .env.");
  }
  return new AnthropicPlanner({
    model,
    apiKey,
    ...(env.ANTHROPIC_BASE_URL ? { baseURL: env.ANTHROPIC_BASE_URL } : {}),
    ...(env.TINKERLOOP_PLANNER_MAX_TOKENS ? { maxTokens: Number(env.TINKERLOOP_PLANNER_MAX_TOKENS) } : {}),
    ...sdkRetriesOption(env, sdkRetries),
    ...(depth.thinkingBudget !== undefined ? { thinkingBudget: depth.thinkingBudget } : {}),
  });
}

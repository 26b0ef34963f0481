import { UserError } from "../errors.ts";
import type { Env } from "../config.ts";
import { AnthropicPlanner } from "./anthropic.ts";
import type { Planner } from "./planner.ts";

export const DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-5-5";

export type PlannerChoice = { planner: Planner; why: string };

/**
 * Turns a planner spec ("anthropic:<model>", "anthropic") into a planner. With no
 * spec, picks Anthropic when ANTHROPIC_API_KEY is set and says why.
 */
export function resolvePlanner(spec: string | undefined, env: Env): PlannerChoice {
  if (spec === undefined || spec === "") {
    if (env.ANTHROPIC_API_KEY) {
      return {
        planner: makeAnthropic(DEFAULT_ANTHROPIC_MODEL, env),
        why: `no --planner given and ANTHROPIC_API_KEY is set: using anthropic:${DEFAULT_ANTHROPIC_MODEL}`,
      };
    }
    throw new UserError(
      "No planner available: ANTHROPIC_API_KEY is not set and no --planner was given.",
      "Set ANTHROPIC_API_KEY (in the environment or .env), or pass --planner anthropic:<model>.",
    );
  }
  const [kind, ...rest] = spec.split(":");
  const arg = rest.join(":");
  switch (kind) {
    case "anthropic":
      return { planner: makeAnthropic(arg || DEFAULT_ANTHROPIC_MODEL, env), why: `--planner ${spec}` };
    default:
      throw new UserError(`Unknown planner '${spec}'.`, "Use anthropic:<model> (e.g. anthropic:claude-sonnet-5-5).");
  }
}

function makeAnthropic(model: string, env: Env): Planner {
  const apiKey = env.ANTHROPIC_API_KEY;
  if (!apiKey) {
    throw new UserError(
      `The planner anthropic:${model} needs ANTHROPIC_API_KEY, which is not set.`,
      "Set it in the environment or in .env.",
    );
  }
  return new AnthropicPlanner({
    model,
    apiKey,
    ...(env.ANTHROPIC_BASE_URL ? { baseURL: env.ANTHROPIC_BASE_URL } : {}),
    ...(env.TINKERLOOP_PLANNER_MAX_TOKENS ? { maxTokens: Number(env.TINKERLOOP_PLANNER_MAX_TOKENS) } : {}),
  });
}

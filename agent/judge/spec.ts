import { UserError } from "../core/errors.ts";

/** The judge's environment: the process's, with `.env` filled in as for a run. */
export type JudgeEnv = Record<string, string | undefined>;

/** Which hosted model judges a run: `anthropic:<model>` or `openai:<model>`. Holds no key. */
export type JudgeSpec = { provider: "anthropic" | "openai"; model: string; id: string };

const PROVIDERS = ["anthropic", "openai"] as const;

/**
 * Reads `--judge anthropic:<model>` or `--judge openai:<model>`, and checks the key it
 * needs is set, so a sweep refuses before its first cell rather than after its last:
 * ANTHROPIC_API_KEY, or OPENAI_API_KEY (an OpenAI-compatible server named by
 * OPENAI_BASE_URL may take none, as for planners). A bad spec is a one-line UserError.
 */
export function parseJudgeSpec(text: string, env: JudgeEnv): JudgeSpec {
  const i = text.indexOf(":");
  const provider = i < 0 ? text : text.slice(0, i);
  const model = i < 0 ? "" : text.slice(i + 1).trim();
  if (!PROVIDERS.includes(provider as JudgeSpec["provider"]) || !model)
    throw new UserError(`Unknown judge ${JSON.stringify(text)}: use anthropic:<model> or openai:<model>.`);
  const spec: JudgeSpec = { provider: provider as JudgeSpec["provider"], model, id: `${provider}:${model}` };
  if (spec.provider === "anthropic" && !env.ANTHROPIC_API_KEY)
    throw new UserError(`The judge ${spec.id} needs ANTHROPIC_API_KEY, which is not set.`, "Set it in the environment or in .env.");
  if (spec.provider === "openai" && !env.OPENAI_API_KEY && !env.OPENAI_BASE_URL)
    throw new UserError(
      `The judge ${spec.id} needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server that needs no key).`,
      "Set it in the environment or in .env.",
    );
  return spec;
}

import { UserError } from "../core/errors.ts";
import { EXIT } from "../core/run-end.ts";

/**
 * Checking a planner's model id against its provider's model list before a run starts
 * (and in `doctor`): a typo is one line and exit 2 before any server starts, not a
 * failure at the first turn.
 */

/** How many available ids an error names before it says how many more there are. */
const SHOWN = 12;

/** The one-line refusal of a model the provider does not list, naming the ones it does. */
export function unknownModel(provider: string, model: string, available: string[]): UserError {
  const shown = available.slice(0, SHOWN).join(", ");
  const more = available.length > SHOWN ? `, … (${available.length} in all)` : "";
  return new UserError(
    `${provider}:${model} is not a model the ${provider === "openai" ? "OpenAI-compatible server" : "Anthropic API"} lists; available: ${shown || "(none)"}${more}.`,
  );
}

/** Credentials refused while listing models: the planner cannot work, so the run does not start. */
export function refusedKey(provider: string, status: number, variable: string): UserError {
  return new UserError(
    `The ${provider === "openai" ? "OpenAI-compatible server" : "Anthropic API"} refused the credentials while listing models (HTTP ${status}); check ${variable}.`,
    undefined,
    EXIT.plannerFailed,
  );
}

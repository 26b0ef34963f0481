import type { ModelCard } from "./backend.ts";
import { modelInfo } from "../contracts/tinker-models.ts";
import type { ModelInfo } from "../contracts/tinker-models.ts";

/** What kind of model a card is, for generation defaults: the registry's type, or local/unknown. */
export type ModelKind = ModelInfo["type"] | "Local" | "Unknown";

/**
 * Default max_tokens per model kind. Reasoning and hybrid models think for thousands
 * of tokens before answering; cutting them short reads as ALL-0. Explicit max_tokens
 * always wins; the context length caps every default.
 */
export const DEFAULT_MAX_TOKENS: Record<ModelKind, { tokens: number; why: string }> = {
  Reasoning: { tokens: 24_576, why: "a reasoning model: it thinks before it answers" },
  Hybrid: { tokens: 16_384, why: "a hybrid model: it may think before it answers" },
  Instruction: { tokens: 4_096, why: "an instruction-tuned model" },
  Base: { tokens: 2_048, why: "a base model" },
  Unknown: { tokens: 4_096, why: "a model the registry does not list" },
  Local: { tokens: 32, why: "a small local model with a short context" },
};

/** Room kept for the prompt when a default would fill the context. */
const PROMPT_ROOM = 1_024;

export function modelKind(card: ModelCard): ModelKind {
  if (card.backend === "local") return "Local";
  return modelInfo(card.baseModel)?.type ?? "Unknown";
}

/** The max_tokens a call gets when it names none, and why. */
export function defaultMaxTokens(card: ModelCard): { tokens: number; kind: ModelKind; why: string } {
  const kind = modelKind(card);
  const d = DEFAULT_MAX_TOKENS[kind];
  const room = kind === "Local" ? Math.floor(card.contextLength / 3) : card.contextLength - PROMPT_ROOM;
  const tokens = Math.max(1, Math.min(d.tokens, room > 0 ? room : d.tokens));
  return { tokens, kind, why: d.why };
}

import type { RetryWatch } from "./retry-watch.ts";

/** Settings of a planner over a hosted model API (Anthropic or OpenAI-compatible). */
export type ApiPlannerOptions = {
  model: string;
  apiKey: string;
  /** Endpoint override (ANTHROPIC_BASE_URL, OPENAI_BASE_URL: vLLM, Ollama, OpenRouter, …); the SDK's default otherwise. */
  baseURL?: string;
  maxTokens?: number;
  /** HTTP-level retries done by the SDK itself (429, 5xx, connection errors). */
  maxRetries?: number;
  timeoutMs?: number;
};

export const DEFAULT_PLANNER_MAX_TOKENS = 8192;

/** Constructor options that both official SDKs take under the same names, with our defaults. */
export function apiClientOptions(o: ApiPlannerOptions, retries: RetryWatch) {
  return {
    apiKey: o.apiKey,
    ...(o.baseURL ? { baseURL: o.baseURL } : {}),
    maxRetries: o.maxRetries ?? 2,
    timeout: o.timeoutMs ?? 10 * 60_000,
    fetch: retries.fetch,
  };
}

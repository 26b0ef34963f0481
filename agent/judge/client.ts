import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { apiClientOptions } from "../planners/api-client-options.ts";
import { RetryWatch } from "../planners/retry-watch.ts";
import type { JudgeEnv, JudgeSpec } from "./spec.ts";

/** The judge's answer to one request: its text, whether it was cut at the token limit, and the tokens it took. */
export type JudgeReply = { text: string; truncated: boolean; inputTokens: number; outputTokens: number };

/** One request to the judge model; throws on an API failure (judgeRun turns that into a verdict's error). */
export type AskJudge = (system: string, user: string, signal?: AbortSignal) => Promise<JudgeReply>;

/** The judge answers with a short JSON object; this bounds what one request may cost in output. */
export const JUDGE_MAX_TOKENS = 8192;
/** A judge request that takes longer is a failure, not a wait without end. */
const JUDGE_TIMEOUT_MS = 5 * 60_000;

/**
 * A client for the judge's provider, built as the planners build theirs (same SDKs, same
 * options, ANTHROPIC_BASE_URL / OPENAI_BASE_URL and TINKERLOOP_SDK_MAX_RETRIES honoured),
 * at the model's default sampling: the verdict is one answer, recorded with its reasons,
 * not a reproducible number.
 */
export function judgeClient(spec: JudgeSpec, env: JudgeEnv): AskJudge {
  const common = {
    model: spec.model,
    timeoutMs: JUDGE_TIMEOUT_MS,
    ...(env.TINKERLOOP_SDK_MAX_RETRIES ? { maxRetries: Number(env.TINKERLOOP_SDK_MAX_RETRIES) } : {}),
  };
  if (spec.provider === "anthropic") {
    const client = new Anthropic(
      apiClientOptions(
        { ...common, apiKey: env.ANTHROPIC_API_KEY ?? "", ...(env.ANTHROPIC_BASE_URL ? { baseURL: env.ANTHROPIC_BASE_URL } : {}) },
        new RetryWatch(),
      ),
    );
    return async (system, user, signal) => {
      const res = await client.messages.create(
        { model: spec.model, max_tokens: JUDGE_MAX_TOKENS, system, messages: [{ role: "user", content: user }] },
        signal ? { signal } : {},
      );
      const text = res.content.map((b) => (b.type === "text" ? b.text : "")).join("");
      return {
        text,
        truncated: res.stop_reason === "max_tokens",
        inputTokens: res.usage.input_tokens + (res.usage.cache_read_input_tokens ?? 0) + (res.usage.cache_creation_input_tokens ?? 0),
        outputTokens: res.usage.output_tokens,
      };
    };
  }
  const client = new OpenAI(
    apiClientOptions(
      {
        ...common,
        apiKey: env.OPENAI_API_KEY ?? "none",
        ...(env.OPENAI_BASE_URL ? { baseURL: env.OPENAI_BASE_URL } : {}),
      },
      new RetryWatch(),
    ),
  );
  return async (system, user, signal) => {
    const res = await client.chat.completions.create(
      {
        model: spec.model,
        max_completion_tokens: JUDGE_MAX_TOKENS,
        messages: [
          { role: "system", content: system },
          { role: "user", content: user },
        ],
      },
      signal ? { signal } : {},
    );
    const choice = res.choices[0];
    if (!choice) throw new Error("the judge's server returned no choices");
    return {
      text: choice.message.content ?? "",
      truncated: choice.finish_reason === "length",
      inputTokens: res.usage?.prompt_tokens ?? 0,
      outputTokens: res.usage?.completion_tokens ?? 0,
    };
  };
}

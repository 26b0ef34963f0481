/** How deeply a planner thinks: --thinking (Anthropic extended thinking) and --reasoning-effort (OpenAI-compatible). */

/** The reasoning efforts --reasoning-effort takes (the chat-completions `reasoning_effort`). */
export const REASONING_EFFORTS = ["low", "medium", "high"] as const;
export type ReasoningEffort = (typeof REASONING_EFFORTS)[number];

/** The smallest thinking budget the Anthropic API takes. */
export const MIN_THINKING_BUDGET = 1024;

export type PlannerDepth = { thinkingBudget?: number; reasoningEffort?: ReasoningEffort };

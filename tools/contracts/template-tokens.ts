import { modelInfo } from "./tinker-models.ts";

/**
 * How many tokens a model's chat template wraps around one prompt: the renderer's text
 * around a single user message and the generation prompt, counted from the cookbook's
 * renderers (and the local tokenizer's) as an upper bound — each special token one, any
 * other template text one per byte. Cost estimates add it to every prompt.
 */
const RENDERER_TEMPLATE_TOKENS: Record<string, number> = {
  // <|begin_of_text|> "User: " … "\n\nAssistant:"
  role_colon: 19,
  // <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n … <|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n
  llama3: 23,
  // <|im_start|>user\n … <|im_end|>\n<|im_start|>assistant\n
  qwen3: 19,
  qwen3_instruct: 19,
  // … and an empty think block: <think>\n\n</think>\n\n
  qwen3_disable_thinking: 25,
  // <|start|>user<|message|> … <|end|><|start|>assistant
  gpt_oss_no_sysprompt: 17,
};

/** The local models' template: BOS, "Q: " … "\nA: " (tools/tinker/backends/local/tokenizer.ts). */
const LOCAL_TEMPLATE_TOKENS = 8;

/**
 * For a renderer not counted above (long system prompts such as gpt-oss's with reasoning
 * effort, or Kimi's default identity line, stay well under it).
 */
export const UNCOUNTED_TEMPLATE_TOKENS = 256;

/** The template tokens one prompt of this base model carries, at most. */
export function templateTokens(model: string): number {
  if (model.startsWith("local/")) return LOCAL_TEMPLATE_TOKENS;
  const renderer = modelInfo(model)?.renderer;
  return (renderer !== undefined ? RENDERER_TEMPLATE_TOKENS[renderer] : undefined) ?? UNCOUNTED_TEMPLATE_TOKENS;
}

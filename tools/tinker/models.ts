/**
 * The Tinker model lineup the harness knows: training type, architecture, active
 * parameters, the group size GRPO works well with, and the cookbook renderer.
 * Models not listed still train; the cookbook then picks the renderer.
 */
export type ModelInfo = {
  id: string;
  type: "Base" | "Instruction" | "Hybrid" | "Reasoning" | "Vision";
  architecture: "Dense" | "MoE";
  activeParams: string;
  totalParamsB: number;
  recommendedGroupSize: number;
  renderer: string;
};

const M = (id: string, type: ModelInfo["type"], architecture: ModelInfo["architecture"], activeParams: string, totalParamsB: number, recommendedGroupSize: number, renderer: string): ModelInfo => ({
  id,
  type,
  architecture,
  activeParams,
  totalParamsB,
  recommendedGroupSize,
  renderer,
});

export const TINKER_MODELS: ModelInfo[] = [
  M("Qwen/Qwen3-VL-235B-A22B-Instruct", "Vision", "MoE", "22B", 235, 4, "qwen3_vl_instruct"),
  M("Qwen/Qwen3-VL-30B-A3B-Instruct", "Vision", "MoE", "3B", 30, 4, "qwen3_vl_instruct"),
  M("Qwen/Qwen3-235B-A22B-Instruct-2507", "Instruction", "MoE", "22B", 235, 4, "qwen3_instruct"),
  M("Qwen/Qwen3-30B-A3B-Instruct-2507", "Instruction", "MoE", "3B", 30, 4, "qwen3_instruct"),
  M("Qwen/Qwen3-30B-A3B", "Hybrid", "MoE", "3B", 30, 4, "qwen3"),
  M("deepseek-ai/DeepSeek-V3.1", "Hybrid", "MoE", "37B", 671, 4, "deepseekv3"),
  M("Qwen/Qwen3-30B-A3B-Base", "Base", "MoE", "3B", 30, 4, "role_colon"),
  M("deepseek-ai/DeepSeek-V3.1-Base", "Base", "MoE", "37B", 671, 4, "role_colon"),
  M("openai/gpt-oss-120b", "Reasoning", "MoE", "~5B", 117, 4, "gpt_oss_no_sysprompt"),
  M("openai/gpt-oss-20b", "Reasoning", "MoE", "~3.6B", 21, 4, "gpt_oss_no_sysprompt"),
  M("moonshotai/Kimi-K2-Thinking", "Reasoning", "MoE", "~32B", 1000, 4, "kimi_k2"),
  M("moonshotai/Kimi-K2.5", "Reasoning", "MoE", "~32B", 1000, 4, "kimi_k2"),
  M("meta-llama/Llama-3.1-70B", "Base", "Dense", "70B", 70, 16, "role_colon"),
  M("meta-llama/Llama-3.3-70B-Instruct", "Instruction", "Dense", "70B", 70, 16, "llama3"),
  M("Qwen/Qwen3-32B", "Hybrid", "Dense", "32B", 32, 16, "qwen3"),
  M("Qwen/Qwen3-8B", "Hybrid", "Dense", "8B", 8, 16, "qwen3"),
  M("Qwen/Qwen3-8B-Base", "Base", "Dense", "8B", 8, 16, "role_colon"),
  M("meta-llama/Llama-3.1-8B", "Base", "Dense", "8B", 8, 16, "role_colon"),
  M("meta-llama/Llama-3.1-8B-Instruct", "Instruction", "Dense", "8B", 8, 16, "llama3"),
  M("Qwen/Qwen3-4B-Instruct-2507", "Instruction", "Dense", "4B", 4, 4, "qwen3_instruct"),
  M("meta-llama/Llama-3.2-3B", "Base", "Dense", "3B", 3, 4, "role_colon"),
  M("meta-llama/Llama-3.2-1B", "Base", "Dense", "1B", 1, 4, "role_colon"),
];

export function modelInfo(id: string): ModelInfo | undefined {
  return TINKER_MODELS.find((m) => m.id === id);
}

/** GRPO group size when the planner gives none: the registry's, 8 for the small local models, else 4. */
export function defaultGroupSize(model: string): number {
  if (model.startsWith("local/")) return 8;
  return modelInfo(model)?.recommendedGroupSize ?? 4;
}

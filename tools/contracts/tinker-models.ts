/**
 * The Tinker model lineup the harness knows. Each entry carries the cookbook's own
 * facts (`tinker_cookbook/model_info.py`: size, chat-tuned, vision input, recommended
 * renderers in order — a test holds them equal to the cookbook source) and one fact
 * of ours: how the model answers. Everything else is derived here, once.
 * Models not listed still train; the worker then asks the cookbook for a renderer.
 */

/** How a model answers: base (continues text), instruct (answers directly), hybrid (thinks first unless told not to), reasoning (always thinks). */
export type ModelKind = "base" | "instruct" | "hybrid" | "reasoning";

export type ModelInfo = {
  id: string;
  /** The cookbook's size string: "8B" (dense) or total-"A"-active for MoE ("30B-A3B", "1T-A32B"). */
  size: string;
  /** Chat-tuned (the cookbook's is_chat). */
  chat: boolean;
  /** Takes image input (the cookbook's is_vl); the harness sends text only. */
  vision: boolean;
  /** The cookbook's recommended renderers, most recommended first. */
  renderers: string[];
  kind: ModelKind;
  /** The renderer the worker uses: the cookbook's first recommendation. */
  renderer: string;
  /** Whether that renderer lets the model think before it answers (generations run long). */
  thinks: boolean;
  architecture: "Dense" | "MoE";
  totalParamsB: number;
  activeParams: string;
  /** GRPO group size when the planner gives none (the predecessor's rule: 16 for dense models of 8B and more, else 4). */
  recommendedGroupSize: number;
  /** The kind as the reports print it. */
  type: "Base" | "Instruction" | "Hybrid" | "Reasoning";
};

/** Whether each renderer the registry uses leaves thinking on. */
const RENDERER_THINKS: Record<string, boolean> = {
  role_colon: false,
  llama3: false,
  qwen3: true,
  qwen3_instruct: false,
  qwen3_vl_instruct: false,
  qwen3_5: true,
  qwen3_8_xhigh_reasoning: true,
  deepseekv3: false,
  gpt_oss_no_sysprompt: true,
  kimi_k2: true,
  kimi_k25: true,
  kimi_k26: true,
  nemotron3: true,
  nemotron3_ultra: true,
};

const TYPE_LABEL: Record<ModelKind, ModelInfo["type"]> = { base: "Base", instruct: "Instruction", hybrid: "Hybrid", reasoning: "Reasoning" };

/** "70B" → 70, "1T" → 1000, "3.6B" → 3.6 */
function billions(s: string): number {
  const m = /^([\d.]+)([BT])$/.exec(s);
  if (!m) throw new Error(`unreadable model size '${s}'`);
  return Number(m[1]) * (m[2] === "T" ? 1000 : 1);
}

function entry(id: string, size: string, chat: boolean, vision: boolean, renderers: string[], kind: ModelKind): ModelInfo {
  const [total, active] = size.split("-A") as [string, string | undefined];
  const renderer = renderers[0]!;
  const thinks = RENDERER_THINKS[renderer];
  if (thinks === undefined) throw new Error(`renderer ${renderer} of ${id} has no entry in RENDERER_THINKS`);
  const architecture = active ? "MoE" : "Dense";
  const totalParamsB = billions(total);
  return {
    id,
    size,
    chat,
    vision,
    renderers,
    kind,
    renderer,
    thinks,
    architecture,
    totalParamsB,
    activeParams: active ?? total,
    recommendedGroupSize: architecture === "Dense" && totalParamsB >= 8 ? 16 : 4,
    type: TYPE_LABEL[kind],
  };
}

const LLAMA3 = ["llama3"];
const ROLE_COLON = ["role_colon"];
const QWEN3 = ["qwen3", "qwen3_disable_thinking"];
const QWEN3_INSTRUCT = ["qwen3_instruct"];
const QWEN3_VL_INSTRUCT = ["qwen3_vl_instruct"];
const QWEN3_5 = ["qwen3_5", "qwen3_5_disable_thinking"];
const QWEN3_8 = ["qwen3_8_xhigh_reasoning", "qwen3_8_disable_thinking", "qwen3_8_medium_reasoning", "qwen3_8_low_reasoning"];
const DEEPSEEKV3 = ["deepseekv3", "deepseekv3_thinking"];
const GPT_OSS = ["gpt_oss_no_sysprompt", "gpt_oss_medium_reasoning"];
const KIMI_K2 = ["kimi_k2"];
const KIMI_K25 = ["kimi_k25", "kimi_k25_disable_thinking"];
const KIMI_K26 = ["kimi_k26", "kimi_k26_disable_thinking", "kimi_k26_preserve_thinking"];
const NEMOTRON3 = ["nemotron3", "nemotron3_disable_thinking", "nemotron3_preserve_thinking"];
const NEMOTRON3_ULTRA = ["nemotron3_ultra", "nemotron3_ultra_disable_thinking", "nemotron3_ultra_medium_thinking", "nemotron3_ultra_preserve_thinking"];
const NEMOTRON3_LIGHTNING = ["nemotron3_ultra", "nemotron3_ultra_disable_thinking", "nemotron3_ultra_preserve_thinking"];

export const TINKER_MODELS: ModelInfo[] = [
  entry("meta-llama/Llama-3.1-8B-Instruct", "8B", true, false, LLAMA3, "instruct"),
  entry("meta-llama/Llama-3.2-1B", "1B", false, false, ROLE_COLON, "base"),
  entry("meta-llama/Llama-3.2-3B", "3B", false, false, ROLE_COLON, "base"),
  entry("meta-llama/Llama-3.1-8B", "8B", false, false, ROLE_COLON, "base"),
  entry("meta-llama/Llama-3.1-70B", "70B", false, false, ROLE_COLON, "base"),
  entry("meta-llama/Llama-3.3-70B-Instruct", "70B", true, false, LLAMA3, "instruct"),
  entry("Qwen/Qwen3-VL-30B-A3B-Instruct", "30B-A3B", true, true, QWEN3_VL_INSTRUCT, "instruct"),
  entry("Qwen/Qwen3-VL-235B-A22B-Instruct", "235B-A22B", true, true, QWEN3_VL_INSTRUCT, "instruct"),
  entry("Qwen/Qwen3-8B-Base", "8B", false, false, ROLE_COLON, "base"),
  entry("Qwen/Qwen3-30B-A3B-Base", "30B-A3B", false, false, ROLE_COLON, "base"),
  entry("Qwen/Qwen3-8B", "8B", true, false, QWEN3, "hybrid"),
  entry("Qwen/Qwen3-32B", "32B", true, false, QWEN3, "hybrid"),
  entry("Qwen/Qwen3-30B-A3B", "30B-A3B", true, false, QWEN3, "hybrid"),
  entry("Qwen/Qwen3-4B-Instruct-2507", "4B", true, false, QWEN3_INSTRUCT, "instruct"),
  entry("Qwen/Qwen3-30B-A3B-Instruct-2507", "30B-A3B", true, false, QWEN3_INSTRUCT, "instruct"),
  entry("Qwen/Qwen3-235B-A22B-Instruct-2507", "235B-A22B", true, false, QWEN3_INSTRUCT, "instruct"),
  entry("Qwen/Qwen3.5-4B", "4B", true, true, QWEN3_5, "hybrid"),
  entry("Qwen/Qwen3.5-9B", "9B", true, true, QWEN3_5, "hybrid"),
  entry("Qwen/Qwen3.5-9B-Base", "9B", false, true, ROLE_COLON, "base"),
  entry("Qwen/Qwen3.5-27B", "27B", true, true, QWEN3_5, "hybrid"),
  entry("Qwen/Qwen3.5-35B-A3B", "35B-A3B", true, true, QWEN3_5, "hybrid"),
  entry("Qwen/Qwen3.5-35B-A3B-Base", "35B-A3B", false, true, ROLE_COLON, "base"),
  entry("Qwen/Qwen3.5-397B-A17B", "397B-A17B", true, true, QWEN3_5, "hybrid"),
  entry("Qwen/Qwen3.6-27B", "27B", true, true, QWEN3_5, "hybrid"),
  entry("Qwen/Qwen3.6-35B-A3B", "35B-A3B", true, true, QWEN3_5, "hybrid"),
  entry("Qwen/Qwen3.8-27B", "27B", true, true, QWEN3_8, "hybrid"),
  entry("deepseek-ai/DeepSeek-V3.1", "671B-A37B", true, false, DEEPSEEKV3, "hybrid"),
  entry("deepseek-ai/DeepSeek-V3.1-Base", "671B-A37B", false, false, ROLE_COLON, "base"),
  entry("openai/gpt-oss-20b", "21B-A3.6B", true, false, GPT_OSS, "reasoning"),
  entry("openai/gpt-oss-120b", "117B-A5.1B", true, false, GPT_OSS, "reasoning"),
  entry("moonshotai/Kimi-K2-Thinking", "1T-A32B", true, false, KIMI_K2, "reasoning"),
  entry("moonshotai/Kimi-K2.5", "1T-A32B", true, true, KIMI_K25, "hybrid"),
  entry("moonshotai/Kimi-K2.6", "1T-A32B", true, true, KIMI_K26, "hybrid"),
  entry("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "30B-A3B", true, false, NEMOTRON3, "hybrid"),
  entry("nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-BF16", "120B-A12B", true, false, [...NEMOTRON3, "nemotron3_low_thinking"], "hybrid"),
  entry("nvidia/NVIDIA-Nemotron-3-Ultra-550B-A55B-BF16", "550B-A55B", true, false, NEMOTRON3_ULTRA, "hybrid"),
  entry("nvidia/NVIDIA-Nemotron-3.5-Lightning-30B-A3B-BF16", "30B-A3B", true, false, NEMOTRON3_LIGHTNING, "hybrid"),
];

export function modelInfo(id: string): ModelInfo | undefined {
  return TINKER_MODELS.find((m) => m.id === id);
}

/** The largest group_size init_grpo takes. */
export const MAX_GROUP_SIZE = 64;

/** GRPO group size when the planner gives none: the registry's, 8 for the small local models, else 4. */
export function defaultGroupSize(model: string): number {
  if (model.startsWith("local/")) return 8;
  return modelInfo(model)?.recommendedGroupSize ?? 4;
}

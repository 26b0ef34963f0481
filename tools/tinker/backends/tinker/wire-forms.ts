import type { AdamStep, Completion, ModelCard, SamplingParams } from "../../backend.ts";
import { modelInfo } from "../../../contracts/tinker-models.ts";
import type { WorkerCard } from "./wire.ts";

/** The worker's wire form: only the settings the step gives; the SDK's own defaults fill the rest (eps 1e-12). */
export function adam(o: AdamStep) {
  const wire = { learning_rate: o.learningRate, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weight_decay: o.weightDecay, grad_clip_norm: o.gradClipNorm };
  return Object.fromEntries(Object.entries(wire).filter(([, v]) => v !== undefined));
}

export function samplingWire(p: SamplingParams) {
  return { temperature: p.temperature, max_tokens: p.maxTokens, stop: p.stop ?? [], ...(p.seed !== undefined ? { seed: p.seed } : {}) };
}

export function completionsOf(g: Array<{ id: string; text: string; tokens: number; finish_reason: "stop" | "length" }>): Completion[] {
  return g.map((c) => ({ rolloutId: c.id, text: c.text, tokenCount: c.tokens, finishReason: c.finish_reason }));
}

/** A model's context length when the service does not report one. */
export const UNREPORTED_CONTEXT_LENGTH = 32_768;

export function cardFrom(r: WorkerCard): ModelCard {
  const info = modelInfo(r.base_model);
  return {
    baseModel: r.base_model,
    backend: "tinker",
    parameters: info ? info.totalParamsB * 1e9 : 0,
    trainableParameters: 0,
    loraRank: r.lora_rank,
    contextLength: r.context_length ?? UNREPORTED_CONTEXT_LENGTH,
    renderer: r.renderer,
    stop: r.stop,
  };
}

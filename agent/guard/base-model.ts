import { baseToolName } from "../tool-names.ts";
import type { GuardRule } from "./types.ts";

export type WrongModelPolicy = "rewrite" | "reject";

/**
 * The run trains exactly one base model. Any call carrying `base_model` must carry
 * MODEL (rewritten or rejected by policy), and `load` of a checkpoint known to come
 * from another base model is rejected.
 */
export function baseModelRule(policy: WrongModelPolicy): GuardRule {
  /** checkpoint name or path → base model it was made from, as reported by the server. */
  const origins = new Map<string, string>();
  return {
    name: "base-model",
    check(call, ctx) {
      const input = call.input as Record<string, unknown> | null;
      if (input && typeof input === "object" && "base_model" in input && input.base_model !== ctx.model) {
        const given = JSON.stringify(input.base_model);
        if (policy === "reject") {
          return {
            action: "reject",
            message: `Refused: this run trains ${ctx.model} only, and the call asked for base_model=${given}. Call ${call.name} again with base_model="${ctx.model}".`,
          };
        }
        return { action: "rewrite", input: { ...input, base_model: ctx.model }, note: `base_model corrected from ${given} to "${ctx.model}" (this run trains ${ctx.model} only).` };
      }
      if (baseToolName(call.name) === "load" && input && typeof input.path === "string") {
        const origin = origins.get(input.path);
        if (origin && origin !== ctx.model) {
          return { action: "reject", message: `Refused: checkpoint '${input.path}' was made from ${origin}, but this run trains ${ctx.model}. Load a checkpoint of ${ctx.model}.` };
        }
      }
      return { action: "allow" };
    },
    observe(call, result) {
      const s = result.structured as { name?: string; path?: string; base_model?: string; auto_checkpoints?: Array<{ name: string; path: string }> } | undefined;
      if (result.isError || !s) return;
      const tool = baseToolName(call.name);
      if (tool === "save" && s.base_model) {
        if (s.name) origins.set(s.name, s.base_model);
        if (s.path) origins.set(s.path, s.base_model);
      }
      if (tool === "load" && s.base_model && s.path) origins.set(s.path, s.base_model);
    },
  };
}

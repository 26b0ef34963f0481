import { baseToolName, isInitTool } from "../core/tool-names.ts";
import type { GuardRule } from "../core/guard.ts";
import type { WrongModelPolicy } from "../config/flag-rules.ts";
import { checkpointRead } from "../../tools/contracts/tinker-results.ts";
import { readResult } from "../../tools/contracts/tool-results.ts";

/** Tools that act on whatever model the session holds. */
const USES_SESSION_MODEL = /^(train_.*_step|save|sample)$/;

/**
 * The run trains exactly one base model. Any call carrying `base_model` must carry
 * MODEL (rewritten or rejected by policy). `load` of a checkpoint known to come from
 * another base model is refused; and whatever a server reports it opened is checked
 * too: after an init or load that opened another model (a checkpoint's own record
 * decides, not what this run has seen), nothing may train, save or sample until the
 * session holds MODEL again. The tinker server enforces the same rule itself.
 */
export function baseModelRule(policy: WrongModelPolicy): GuardRule {
  /** checkpoint name or path → base model it was made from, as reported by the server. */
  const origins = new Map<string, string>();
  /** The base model the open session holds, as the last init or load reported it. */
  let sessionModel: string | undefined;
  return {
    name: "base-model",
    check(call, ctx) {
      const input = call.input as Record<string, unknown> | null;
      const tool = baseToolName(call.name);
      if (input && typeof input === "object" && "base_model" in input && input.base_model !== ctx.model) {
        const given = JSON.stringify(input.base_model);
        if (policy === "reject") {
          return {
            action: "reject",
            message: `Refused: this run trains ${ctx.model} only, and the call asked for base_model=${given}. Call ${call.name} again with base_model="${ctx.model}".`,
          };
        }
        return {
          action: "rewrite",
          input: { ...input, base_model: ctx.model },
          note: `base_model corrected from ${given} to "${ctx.model}" (this run trains ${ctx.model} only).`,
        };
      }
      if (tool === "load" && input && typeof input.path === "string") {
        const origin = origins.get(input.path);
        if (origin && origin !== ctx.model) {
          return {
            action: "reject",
            message: `Refused: checkpoint '${input.path}' was made from ${origin}, but this run trains ${ctx.model}. Load a checkpoint of ${ctx.model}.`,
          };
        }
      }
      if (USES_SESSION_MODEL.test(tool) && sessionModel !== undefined && sessionModel !== ctx.model) {
        return {
          action: "reject",
          message: `Refused: the open session holds ${sessionModel}, but this run trains ${ctx.model} only. Call init_grpo/init_sft(base_model="${ctx.model}") or load a checkpoint of ${ctx.model} first.`,
        };
      }
      return { action: "allow" };
    },
    observe(call, result) {
      if (result.isError) return;
      const tool = baseToolName(call.name);
      if (tool === "finish") sessionModel = undefined;
      const s = readResult(checkpointRead, result.structured);
      if (!s) return;
      if (tool === "save" && s.base_model) {
        if (s.name) origins.set(s.name, s.base_model);
        if (s.path) origins.set(s.path, s.base_model);
      }
      if (tool === "load" && s.base_model && s.path) origins.set(s.path, s.base_model);
      if ((tool === "load" || isInitTool(call.name)) && typeof s.base_model === "string") sessionModel = s.base_model;
    },
  };
}

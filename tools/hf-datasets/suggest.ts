import { findCatalogDataset } from "./catalog.ts";
import type { Format } from "./mapping.ts";

/** A feature type in a compact form: string, int64, list<string>, class_label[neg,pos], struct{a: string}. */
export function compactType(t: unknown): string {
  if (!t || typeof t !== "object") return String(t);
  const o = t as Record<string, unknown>;
  if (Array.isArray(t)) return `list<${compactType(t[0])}>`;
  switch (o._type) {
    case "Value":
      return String(o.dtype ?? "unknown");
    case "ClassLabel":
      return `class_label[${((o.names as string[]) ?? []).join(",")}]`;
    case "List":
    case "Sequence":
    case "LargeList":
      return `list<${compactType(o.feature)}>`;
    case "Image":
      return "image";
    case "Audio":
      return "audio";
    default:
      if (o._type === undefined) {
        return `struct{${Object.entries(o)
          .map(([k, v]) => `${k}: ${compactType(v)}`)
          .join(", ")}}`;
      }
      return String(o._type);
  }
}

export type Suggestion = { format: Format; mapping: Record<string, unknown>; preset?: string; reason: string };

/** A first mapping to try, from the catalog preset or the field names and sample rows. */
export function suggestMapping(id: string, features: Array<{ name: string; type: string }>, rows: Array<Record<string, unknown>>): Suggestion | undefined {
  const cat = findCatalogDataset(id);
  const preset = cat?.presets[0];
  if (preset) return { format: preset.format, mapping: preset.mapping, preset: preset.name, reason: "catalog preset" };
  const has = (n: string) => features.some((f) => f.name === n);
  const first = rows[0] ?? {};
  if (has("question") && has("answer")) {
    const hashes = typeof first.answer === "string" && first.answer.includes("####");
    return {
      format: "grpo",
      mapping: hashes
        ? { prompt: "{question}", ground_truth: "{answer}", ground_truth_regex: "####\\s*(-?[0-9.,]+)", ground_truth_transforms: ["remove_commas"] }
        : { prompt: "{question}", ground_truth: "{answer|trim}" },
      reason: hashes ? "question/answer with a '####' final answer" : "question/answer fields",
    };
  }
  if (has("messages"))
    return {
      format: "sft",
      mapping: { prompt: "{messages[role=user][0].content}", response: "{messages[role=assistant][-1].content}" },
      reason: "chat messages",
    };
  if (has("instruction") && has("response"))
    return {
      format: "sft",
      mapping: { prompt: has("context") ? '{instruction}{context|prefix:"\\n\\nContext:\\n"}' : "{instruction}", response: "{response}" },
      reason: "instruction/response fields",
    };
  if (has("instruction") && has("output"))
    return {
      format: "sft",
      mapping: { prompt: has("input") ? '{instruction}{input|prefix:"\\n\\n"}' : "{instruction}", response: "{output}" },
      reason: "instruction/output fields",
    };
  if (has("prompt") && has("response")) return { format: "sft", mapping: { prompt: "{prompt}", response: "{response}" }, reason: "prompt/response fields" };
  if (has("text") && has("test_list"))
    return {
      format: "grpo",
      mapping: { prompt: '{text}\nYour code should pass these tests:\n{test_list|join:"\\n"}', ground_truth: "{test_list|json}" },
      reason: "code task with tests",
    };
  if (has("target") && has("nums"))
    return {
      format: "grpo",
      mapping: { prompt: 'Make {target} from {nums|join:" "} using + - *', ground_truth: '{{"target": {target}, "numbers": {nums|json}}}' },
      reason: "countdown fields",
    };
  const strings = features.filter((f) => f.type === "string").map((f) => f.name);
  if (strings.length >= 2)
    return { format: "sft", mapping: { prompt: `{${strings[0]}}`, response: `{${strings[1]}}` }, reason: "first two text fields (check this)" };
  return undefined;
}

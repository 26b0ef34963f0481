import crypto from "node:crypto";
import { UserError } from "../core/errors.ts";
import { readConfigFile, whyUnreadable } from "../../lib/run-files.ts";
export const PLACEHOLDERS = ["<<PROMPT>>", "<<MODEL>>"] as const;

export type FilledPrompt = { system: string; templatePath: string; templateSha256: string };

export function readTemplate(file: string): string {
  try {
    return readConfigFile(file);
  } catch (err) {
    throw new UserError(`Cannot read the prompt template ${file} (${whyUnreadable(err)}).`, "Pass an existing file with --template.");
  }
}

/**
 * Fills the template in one pass, so text inside PROMPT that happens to look like a
 * placeholder is left as written. Refuses a template lacking either placeholder and
 * an empty prompt or model, before anything starts.
 */
export function fillTemplate(template: string, prompt: string, model: string, templatePath = "(template)"): string {
  const missing = PLACEHOLDERS.filter((p) => !template.includes(p));
  if (missing.length > 0) {
    throw new UserError(
      `The prompt template ${templatePath} lacks ${missing.join(" and ")}.`,
      "A template must contain both <<PROMPT>> (the research objective) and <<MODEL>> (the base model).",
    );
  }
  if (!prompt.trim()) throw new UserError("The research prompt is empty.", "Pass --prompt TEXT, --prompt-file F or --recipe NAME.");
  if (!model.trim()) throw new UserError("No base model given.", "Pass --model, e.g. --model local/tiny-arith.");
  return template.replace(/<<(PROMPT|MODEL)>>/g, (_m, which: string) => (which === "PROMPT" ? prompt : model));
}

export function buildSystemPrompt(templatePath: string, prompt: string, model: string): FilledPrompt {
  const template = readTemplate(templatePath);
  return {
    system: fillTemplate(template, prompt, model, templatePath),
    templatePath,
    templateSha256: crypto.createHash("sha256").update(template).digest("hex"),
  };
}

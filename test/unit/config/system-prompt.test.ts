import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { UserError } from "../../../agent/core/errors.ts";
import { fillTemplate } from "../../../agent/config/system-prompt.ts";
import { DEFAULT_TEMPLATE } from "../../../lib/package-paths.ts";

describe("system prompt template", () => {
  it("ships the user's template and fills every placeholder", () => {
    const template = fs.readFileSync(DEFAULT_TEMPLATE, "utf8");
    const seed = new URL("../../../../shared/seed/agent_prompt_template.md", import.meta.url);
    if (fs.existsSync(seed)) expect(template).toBe(fs.readFileSync(seed, "utf8"));
    const filled = fillTemplate(template, "Teach addition.", "local/tiny-arith");
    expect(filled).not.toMatch(/<<(PROMPT|MODEL)>>/);
    expect(filled).toContain("**Teach addition.**");
    expect(filled.match(/local\/tiny-arith/g)!.length).toBe(template.match(/<<MODEL>>/g)!.length);
  });

  it("leaves placeholder-like text inside the prompt alone", () => {
    const out = fillTemplate("P=<<PROMPT>> M=<<MODEL>>", "say <<MODEL>> literally", "m1");
    expect(out).toBe("P=say <<MODEL>> literally M=m1");
  });

  it("refuses a template missing a placeholder, an empty prompt and an empty model", () => {
    expect(() => fillTemplate("only <<PROMPT>>", "p", "m")).toThrow(UserError);
    expect(() => fillTemplate("only <<PROMPT>>", "p", "m")).toThrow(/lacks <<MODEL>>/);
    expect(() => fillTemplate("<<MODEL>> only", "p", "m")).toThrow(/lacks <<PROMPT>>/);
    expect(() => fillTemplate("<<PROMPT>> <<MODEL>>", "  ", "m")).toThrow(/prompt is empty/);
    expect(() => fillTemplate("<<PROMPT>> <<MODEL>>", "p", "")).toThrow(/No base model/);
  });
});

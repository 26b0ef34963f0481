import { describe, expect, it } from "vitest";
import { compileMapping, MappingSkip, parseTemplate, renderTemplate, TemplateError } from "../../../tools/hf-datasets/mapping.ts";

describe("mapping language", () => {
  const row = {
    q: "Total?",
    a: "steps <<1+1=2>>\n#### 1,234",
    msgs: [
      { role: "user", content: "hi" },
      { role: "assistant", content: "one" },
      { role: "assistant", content: "two" },
    ],
    tests: ["t1", "t2"],
    empty: "",
  };
  const r = (t: string) => renderTemplate(parseTemplate(t), row);

  it("resolves selectors, indexes and filters, and keeps literal braces", () => {
    expect(r("{msgs[role=user][0].content}|{msgs[role=assistant][-1].content}")).toBe("hi|two");
    expect(r('{tests|join:", "}')).toBe("t1, t2");
    expect(r('{a|after:"####"|trim|remove_commas}')).toBe("1234");
    expect(r('{a|strip_calc|before:"\\n"}')).toBe("steps ");
    expect(r("{{json}} {q|upper}")).toBe("{json} TOTAL?");
    expect(r('x{empty|prefix:"\\n\\nContext: "}y')).toBe("xy");
    expect(r("{tests|json}")).toBe('["t1","t2"]');
  });

  it("skips rows with a clear reason instead of crashing", () => {
    expect(() => r("{nope}")).toThrow(MappingSkip);
    expect(() => r("{msgs[role=system][0].content}")).toThrow(/missing field/);
    const gt = compileMapping("grpo", { prompt: "{q}", ground_truth: "{a}", ground_truth_regex: "ANSWER: (\\d+)" });
    try {
      gt(row);
      expect.unreachable();
    } catch (e) {
      expect((e as MappingSkip).reason).toBe("regex_no_match");
    }
    const empty = compileMapping("sft", { prompt: "{q}", response: "{empty}" });
    expect(() => empty(row)).toThrow(/empty target/);
  });

  it("refuses malformed templates with the position", () => {
    expect(() => parseTemplate("{q")).toThrow(TemplateError);
    expect(() => parseTemplate("a } b")).toThrow(/unmatched "}" at position 2/);
    expect(() => parseTemplate("{q|shout}")).toThrow(/unknown filter/);
    expect(() => parseTemplate("{q|join}")).toThrow(/needs an argument/);
    expect(() => compileMapping("grpo", { prompt: "{q}", ground_truth: "{a}", ground_truth_regex: "([" })).toThrow(/not a valid regular expression/);
  });
});

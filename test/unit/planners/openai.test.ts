import { describe, expect, it } from "vitest";
import { OpenAIPlanner, toOpenAIMessages } from "../../../agent/planners/openai.ts";

describe("OpenAI-compatible planner messages", () => {
  it("continues a conversation recorded with one provider on the other (message translation)", () => {
    const msgs = toOpenAIMessages("SYS", [
      { role: "user", content: [{ type: "text", text: "go" }] },
      {
        role: "assistant",
        content: [
          { type: "text", text: "calling" },
          { type: "tool_use", id: "toolu_01ABC", name: "echo", input: { text: "x" } },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", toolUseId: "toolu_01ABC", content: "failed", isError: true },
          { type: "text", text: "── training feedback ──" },
        ],
      },
    ]);
    expect(msgs.map((m) => m.role)).toEqual(["system", "user", "assistant", "tool", "user"]);
    expect(msgs[3]).toEqual({ role: "tool", tool_call_id: "toolu_01ABC", content: "Error: failed" });
    expect(new OpenAIPlanner({ model: "m", apiKey: "k" }).id).toBe("openai:m");
  });
});

import { describe, expect, it } from "vitest";
import { buildGuard } from "../../../agent/guard/index.ts";
import { TrainingState } from "../../../agent/state/training-state.ts";
import { tempDir } from "../../helpers.ts";

const MODEL = "local/tiny-arith";

describe("tool arguments as LLMs send them", () => {
  const ctx = (tools: Array<{ name: string; inputSchema: Record<string, unknown> }>) => ({
    tools: tools.map((t) => ({ ...t, description: "", source: "s" })),
    model: MODEL,
    turn: 1,
    elapsedMs: 0,
    usage: { inputTokens: 0, outputTokens: 0 },
  });
  const sampleSchema = {
    type: "object",
    properties: { prompt: { type: "string" }, n: { type: "integer", minimum: 1 }, temperature: { type: "number" }, greedy: { type: "boolean" } },
  };

  it("reads a number or boolean sent as a string as one, and names an unknown argument in a warning instead of dropping it silently", async () => {
    const g = await buildGuard({ onWrongModel: "rewrite", dataDir: tempDir(), budget: {}, trainingState: new TrainingState() });
    const v = await g.check(
      { id: "1", name: "sample", input: { prompt: "2+2", n: "16", temperature: "0.7", greedy: "true", top_k: 5 } },
      ctx([{ name: "sample", inputSchema: sampleSchema }]) as never,
    );
    expect(v.decision).toEqual({
      action: "rewrite",
      input: { prompt: "2+2", n: 16, temperature: 0.7, greedy: true },
      note: expect.stringMatching(/n "16" was read as the number 16.*unknown argument 'top_k' ignored \(this tool takes prompt, n, temperature, greedy\)/),
    });
    // What is not a number stays an error; a fractional count is not an integer.
    const bad = await g.check({ id: "2", name: "sample", input: { n: "many" } }, ctx([{ name: "sample", inputSchema: sampleSchema }]) as never);
    expect(bad.decision.action).toBe("reject");
    const frac = await g.check({ id: "3", name: "sample", input: { n: "1.5" } }, ctx([{ name: "sample", inputSchema: sampleSchema }]) as never);
    expect(frac.decision.action).toBe("reject");
    expect(
      (await g.check({ id: "4", name: "sample", input: { prompt: "x", n: 2 } }, ctx([{ name: "sample", inputSchema: sampleSchema }]) as never)).decision.action,
    ).toBe("allow");
  });

  it("checks bash calls: refuses what needs the network, oversized scripts and control characters", async () => {
    const g = await buildGuard({ onWrongModel: "rewrite", dataDir: tempDir(), budget: {}, trainingState: new TrainingState() });
    const bash = {
      name: "bash",
      inputSchema: { type: "object", properties: { command: { type: "string" }, timeout_s: { type: "integer" } }, required: ["command"] },
    };
    const check = (command: string) => g.check({ id: "b", name: "bash", input: { command } }, ctx([bash]) as never);
    expect((await check("wc -l data/*.jsonl")).decision.action).toBe("allow");
    expect((await check("pip install sympy")).decision).toMatchObject({ action: "reject", message: expect.stringMatching(/no network/) });
    expect((await check("cd x && curl -s https://example.org")).decision.action).toBe("reject");
    expect((await check("echo $'\\x1b'" + "\u001b[2J")).decision.action).toBe("reject");
    expect((await check("x".repeat(30_000))).decision).toMatchObject({ action: "reject", message: expect.stringMatching(/write_file/) });
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { errorResponse, FakeAnthropic, toolUseReply } from "../../fakes/anthropic-server.ts";
import type { FakeStep } from "../../fakes/anthropic-server.ts";
import { testServerEntry } from "../../helpers.ts";
import { FAULT_API_KEY, FAULT_MODEL as MODEL, runAgainstFake } from "../../faults/fault-run.ts";

let fake: FakeAnthropic | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const TRAIN = { name: "train_grpo_step", input: { prompts: "p.jsonl", reward_function: "def compute_reward(c, g):\n    return 1.0\n" } };

async function run(script: FakeStep[], extraEnv: Record<string, string> = {}) {
  fake = await FakeAnthropic.start(script);
  return runAgainstFake(fake, { lab: testServerEntry() }, { env: extraEnv, timeoutMs: 120_000 });
}

describe("fault injection: the planner API", () => {
  it("429 with retry-after: the SDK waits as told and the run continues", async () => {
    const { res, events } = await run([
      errorResponse(429, "rate_limit_error", "slow down", { "retry-after-ms": "100" }),
      toolUseReply([{ name: "echo", input: { text: "a" } }]),
      toolUseReply([{ name: "finish", input: {} }]),
    ]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(fake!.messageRequests).toHaveLength(3);
    expect(events.filter((e) => e.type === "retry")).toEqual([expect.objectContaining({ turn: 1, delayMs: 100, error: "HTTP 429, retried by the SDK" })]);
    expect(events.at(-1)).toMatchObject({ type: "end", reason: "finished" });
  });

  it("529 three times, then success: the loop retries after the SDK's own retries", async () => {
    const overloaded = errorResponse(529, "overloaded_error", "Overloaded", { "retry-after-ms": "10" });
    const { res, events } = await run([overloaded, overloaded, overloaded, toolUseReply([{ name: "finish", input: {} }])]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const retries = events.filter((e) => e.type === "retry");
    // Two attempts the SDK retried itself, then one by the loop after the SDK gave up.
    expect(retries.map((r) => r.error)).toEqual(["HTTP 529, retried by the SDK", "HTTP 529, retried by the SDK", expect.stringMatching(/overloaded/i)]);
  });

  it("an overloaded error inside the stream is retried", async () => {
    const { res, events } = await run([
      { ...toolUseReply([{ name: "echo", input: { text: "x" } }]), sseError: { type: "overloaded_error", message: "Overloaded" } },
      toolUseReply([{ name: "finish", input: {} }]),
    ]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(events.find((e) => e.type === "retry")).toMatchObject({ attempt: 1, error: expect.stringMatching(/overloaded mid-stream/) });
  });

  it("a connection reset mid-response is retried, never taken for a (partial) reply", async () => {
    const { res, events } = await run(
      [{ ...toolUseReply([{ name: "echo", input: { text: "x" } }]), dropMidStream: true }, toolUseReply([{ name: "finish", input: {} }])],
      { TINKERLOOP_SDK_MAX_RETRIES: "0" },
    );
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(events.find((e) => e.type === "retry")).toMatchObject({ error: expect.stringMatching(/Connection error|ended before the message was complete/) });
    // The cut-off turn left nothing in the conversation: the next request repeats the same messages.
    expect(fake!.messageRequests[1]!.body.messages).toEqual(fake!.messageRequests[0]!.body.messages);
    expect(events.filter((e) => e.type === "tool").map((e) => e.name)).toEqual(["finish"]);
  });

  it("persistent 500: retries run out, the run stops gracefully with an emergency save and finish", async () => {
    const broken = errorResponse(500, "api_error", "Internal server error");
    const script: FakeStep[] = [toolUseReply([{ name: "init_grpo", input: { base_model: MODEL } }]), toolUseReply([TRAIN])];
    for (let i = 0; i < 20; i++) script.push(broken);
    const { res, events } = await run(script, { TINKERLOOP_RETRIES: "2" });
    expect(res.code).toBe(4);
    const loopRetries = events.filter((e) => e.type === "retry" && !/retried by the SDK/.test(e.error));
    expect(loopRetries).toHaveLength(2);
    expect(events.filter((e) => e.type === "retry" && /retried by the SDK/.test(e.error))).toHaveLength(6);
    const save = events.find((e) => e.type === "tool" && e.toolUseId === "harness-emergency-save");
    expect(save).toMatchObject({ name: "save", isError: false });
    expect(save.input.name).toMatch(/^emergency-turn\d+$/);
    expect(events.find((e) => e.type === "tool" && e.toolUseId === "harness-finish")).toMatchObject({ isError: false });
    expect(events.at(-1)).toMatchObject({ type: "end", reason: "planner_error", detail: expect.stringMatching(/after 2 retries/) });
    expect(res.stdout).toMatch(/emergency save: emergency-/);
  });

  it("401: the run ends at once with a clear message, no retries", async () => {
    const { res, events } = await run([errorResponse(401, "authentication_error", "invalid x-api-key")]);
    expect(res.code).toBe(4);
    expect(fake!.messageRequests).toHaveLength(1);
    expect(events.filter((e) => e.type === "retry")).toHaveLength(0);
    expect(res.stdout).toMatch(/refused the credentials.*Check ANTHROPIC_API_KEY/);
    expect(res.stdout + res.stderr).not.toContain(FAULT_API_KEY);
  });
});

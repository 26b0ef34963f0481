import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Usage } from "../../../agent/core/conversation.ts";
import type { ToolSpec } from "../../../agent/core/tools.ts";
import { buildGuard } from "../../../agent/guard/index.ts";
import type { GuardConfig } from "../../../agent/guard/index.ts";
import type { GuardContext, ToolCall } from "../../../agent/core/guard.ts";
import { TrainingState } from "../../../agent/state/training-state.ts";
import { HARNESS_CALL } from "../../../agent/core/harness-call-ids.ts";
import { tempDir } from "../../helpers.ts";

const MODEL = "local/tiny-arith";
const tools: ToolSpec[] = [
  {
    name: "init_grpo",
    description: "",
    source: "t",
    inputSchema: {
      type: "object",
      properties: { base_model: { type: "string" }, lora_rank: { type: "integer" } },
      required: ["base_model"],
      additionalProperties: false,
    },
  },
  {
    name: "train_grpo_step",
    description: "",
    source: "t",
    inputSchema: {
      type: "object",
      properties: { prompts: { type: "string" }, reward_function: { type: "string" }, lr_scheduler: { enum: ["constant", "linear"] } },
      required: ["prompts", "reward_function"],
    },
  },
  { name: "train_sft_step", description: "", source: "t", inputSchema: { type: "object", properties: { examples: {} }, required: ["examples"] } },
  {
    name: "save",
    description: "",
    source: "t",
    inputSchema: {
      type: "object",
      properties: { name: { type: "string" }, keep_resume_points: { type: "array", items: { type: "string" } } },
      required: ["name"],
    },
  },
  { name: "load", description: "", source: "t", inputSchema: { type: "object", properties: { path: { type: "string" } }, required: ["path"] } },
  { name: "finish", description: "", source: "t", inputSchema: { type: "object" } },
];
const usage: Usage = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };
const ctx = (over: Partial<GuardContext> = {}): GuardContext => ({ tools, model: MODEL, turn: 1, elapsedMs: 0, usage, ...over });
const call = (name: string, input: unknown): ToolCall => ({ id: `c_${name}`, name, input });
const REWARD = "def compute_reward(completion, ground_truth):\n    return 1.0 if completion.strip() == ground_truth else 0.0\n";
/** A guard with its training state, observed as the harness observes it. */
const guard = async (over: Partial<GuardConfig> = {}) => {
  const state = new TrainingState();
  const g = await buildGuard({ onWrongModel: "rewrite", dataDir: path.join(tempDir(), "data"), budget: {}, trainingState: state, ...over });
  return {
    check: g.check.bind(g),
    observe: (c: ToolCall, r: Parameters<typeof g.observe>[1]) => {
      g.observe(c, r);
      state.observe(c, r);
    },
  };
};
const ok = { isError: false, content: "ok" };

describe("guard rules", () => {
  it("unknown tool: rejected with the nearest name", async () => {
    const g = await guard();
    const v = await g.check(call("init_grop", { base_model: MODEL }), ctx());
    expect(v).toMatchObject({ decision: { action: "reject" }, rule: "unknown-tool" });
    expect((v.decision as { message: string }).message).toMatch(/Did you mean 'init_grpo'/);
    expect((await g.check(call("init_grpo", { base_model: MODEL }), ctx())).decision.action).toBe("allow");
  });

  it("schema: rejects with the exact issues", async () => {
    const g = await guard();
    const v = await g.check(call("init_grpo", { lora_rank: "big", extra: 1 }), ctx());
    expect(v.rule).toBe("schema");
    const msg = (v.decision as { message: string }).message;
    expect(msg).toMatch(/missing required argument 'base_model'/);
    expect(msg).toMatch(/lora_rank must be integer/);
    expect(msg).toMatch(/unknown argument 'extra' ignored/);
    const e = await g.check(call("train_grpo_step", { prompts: "p.jsonl", reward_function: REWARD, lr_scheduler: "cosine" }), ctx());
    expect((e.decision as { message: string }).message).toMatch(/lr_scheduler must be one of \["constant","linear"\]/);
  });

  it("base model: rewrites to MODEL with a note, or rejects, by policy; refuses loading another model's checkpoint", async () => {
    const rw = await guard();
    const v = await rw.check(call("init_grpo", { base_model: "Qwen/Qwen3-8B", lora_rank: 8 }), ctx());
    expect(v.decision).toEqual({
      action: "rewrite",
      input: { base_model: MODEL, lora_rank: 8 },
      note: expect.stringMatching(/corrected from "Qwen\/Qwen3-8B" to "local\/tiny-arith"/),
    });
    const rj = await guard({ onWrongModel: "reject" });
    const r = await rj.check(call("init_grpo", { base_model: "Qwen/Qwen3-8B" }), ctx());
    expect(r.decision.action).toBe("reject");
    expect((r.decision as { message: string }).message).toMatch(/trains local\/tiny-arith only/);
    // A save the server reported from another model, then a load of it.
    rw.observe(call("save", { name: "foreign" }), { ...ok, structured: { name: "foreign", path: "local://foreign", base_model: "local/other" } });
    const l = await rw.check(call("load", { path: "local://foreign" }), ctx());
    expect(l.decision.action).toBe("reject");
    expect((l.decision as { message: string }).message).toMatch(/made from local\/other/);
    rw.observe(call("save", { name: "mine" }), { ...ok, structured: { name: "mine", path: "local://mine", base_model: MODEL } });
    expect((await rw.check(call("load", { path: "mine" }), ctx())).decision.action).toBe("allow");
  });

  it("reward code without the OS sandbox: needs compute_reward and refuses network, process and file escapes with the line", async () => {
    const g = await guard({ rewardsRunCode: false });
    g.observe(call("init_grpo", {}), ok);
    const check = (code: string) => g.check(call("train_grpo_step", { prompts: "p.jsonl", reward_function: code }), ctx());
    expect((await check(REWARD)).decision.action).toBe("allow");
    const missing = await check("def reward(c, g):\n    return 1.0\n");
    expect((missing.decision as { message: string }).message).toMatch(/compute_reward/);
    for (const [code, what] of [
      [`import socket\n${REWARD}`, /line 1 \(import socket\).*network/],
      [`${REWARD}import subprocess\n`, /line 3 \(import subprocess\)/],
      [`import os\n${REWARD.replace("return", "os.system('ls')\n    return")}`, /line 3 .*os\.system/],
      [REWARD.replace("return", "open('/tmp/x', 'w').write('1')\n    return"), /writing files/],
    ] as const) {
      const v = await check(code);
      expect(v.decision.action, code).toBe("reject");
      expect((v.decision as { message: string }).message).toMatch(what);
    }
    expect((await check(`# import socket is fine in a comment\n${REWARD}`)).decision.action).toBe("allow");
  });

  it("reward code in the OS sandbox: child processes and temp files are allowed, the network is still refused", async () => {
    const g = await guard({ rewardsRunCode: true });
    g.observe(call("init_grpo", {}), ok);
    const check = (code: string) => g.check(call("train_grpo_step", { prompts: "p.jsonl", reward_function: code }), ctx());
    expect((await check(`import subprocess\n${REWARD}`)).decision.action).toBe("allow");
    expect((await check(REWARD.replace("return", "open('t.py', 'w').write('1')\n    return"))).decision.action).toBe("allow");
    const net = await check(`import requests\n${REWARD}`);
    expect(net.decision.action).toBe("reject");
    expect((net.decision as { message: string }).message).toMatch(/network access.*child processes/);
  });

  it("large inline data: written to the run's data folder and passed by path", async () => {
    const dataDir = path.join(tempDir(), "data");
    const g = await guard({ dataDir, inlineLimitBytes: 1024 });
    g.observe(call("init_grpo", {}), ok);
    const small = JSON.stringify([{ prompt: "1+1", ground_truth: "2" }]);
    expect((await g.check(call("train_grpo_step", { prompts: small, reward_function: REWARD }), ctx())).decision.action).toBe("allow");
    const big = JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ prompt: `What is ${i} + ${i}?`, ground_truth: String(2 * i) })));
    const v = await g.check(call("train_grpo_step", { prompts: big, reward_function: REWARD }), ctx());
    expect(v.decision.action).toBe("rewrite");
    const file = (v.decision as { input: { prompts: string } }).input.prompts;
    expect(path.dirname(file)).toBe(dataDir);
    expect(fs.readFileSync(file, "utf8").trim().split("\n")).toHaveLength(100);
    expect((v.decision as { note: string }).note).toMatch(/passed by path/);
  });

  it("workflow: no training before init; finish with unsaved training refused once", async () => {
    const g = await guard();
    const early = await g.check(call("train_grpo_step", { prompts: "p", reward_function: REWARD }), ctx());
    expect((early.decision as { message: string }).message).toMatch(/no training session is open/);
    g.observe(call("init_grpo", { base_model: MODEL }), ok);
    expect((await g.check(call("train_grpo_step", { prompts: "p", reward_function: REWARD }), ctx())).decision.action).toBe("allow");
    g.observe(call("train_grpo_step", {}), { ...ok, structured: { auto_checkpoints: [] } });
    const f1 = await g.check(call("finish", {}), ctx());
    expect(f1.decision.action).toBe("reject");
    expect((f1.decision as { message: string }).message).toMatch(/1 training call\(s\) since the last save/);
    expect((await g.check(call("finish", {}), ctx())).decision.action).toBe("allow");
    // After a save, finish passes at once.
    const g2 = await guard();
    g2.observe(call("init_grpo", {}), ok);
    g2.observe(call("train_grpo_step", {}), ok);
    g2.observe(call("save", { name: "x" }), ok);
    expect((await g2.check(call("finish", {}), ctx())).decision.action).toBe("allow");
  });

  it("workflow: resume-* checkpoints are the harness's own, and one does not count as the planner's save", async () => {
    const g = await guard();
    g.observe(call("init_grpo", {}), ok);
    const named = await g.check(call("save", { name: "resume-iter3-turn9" }), ctx());
    expect(named.decision).toMatchObject({ action: "reject" });
    expect((named.decision as { message: string }).message).toMatch(/harness's rolling resume points/);
    expect((await g.check(call("save", { name: "best", keep_resume_points: [] }), ctx())).decision.action).toBe("reject");
    // The id does not make a call the harness's: a planner (or its provider, or a transcript) may pick any id.
    const spoofed = await g.check({ id: HARNESS_CALL.resumePoint, name: "save", input: { name: "resume-iter3-turn9", keep_resume_points: [] } }, ctx());
    expect(spoofed.decision).toMatchObject({ action: "reject" });
    expect(spoofed.rule).toBe("malformed-args");
    expect((spoofed.decision as { message: string }).message).toMatch(/reserved for the harness's own calls/);
    expect((await g.check({ id: "harness-anything", name: "finish", input: {} }, ctx())).decision.action).toBe("reject");
    // With that rule off, the workflow rule still refuses it: only the harness's own code path marks a call as its own.
    const noIdRule = await guard({ disabled: ["malformed-args"] });
    noIdRule.observe(call("init_grpo", {}), ok);
    expect((await noIdRule.check({ id: HARNESS_CALL.resumePoint, name: "save", input: { name: "resume-x", keep_resume_points: [] } }, ctx())).rule).toBe(
      "workflow",
    );
    const harness: ToolCall = { id: HARNESS_CALL.resumePoint, name: "save", input: { name: "resume-iter3-turn9", keep_resume_points: [] }, harness: true };
    expect((await g.check(harness, ctx())).decision.action).toBe("allow");
    // Training saved only in a resume point is still unsaved work to the planner: finish is refused once.
    g.observe(call("train_grpo_step", {}), ok);
    g.observe(harness, { ...ok, structured: { path: "local://resume-iter3-turn9", replaced: [] } });
    expect((await g.check(call("finish", {}), ctx())).decision.action).toBe("reject");
  });

  it("budget: training refused past the budget, the run stopped past the grace period", async () => {
    const g = await guard({ budget: { maxMinutes: 10, graceMinutes: 2, maxTrainCalls: 2 } });
    g.observe(call("init_grpo", {}), ok);
    const train = call("train_grpo_step", { prompts: "p", reward_function: REWARD });
    expect((await g.check(train, ctx({ elapsedMs: 9 * 60_000 }))).decision.action).toBe("allow");
    const late = await g.check(train, ctx({ elapsedMs: 10 * 60_000 }));
    expect((late.decision as { message: string }).message).toMatch(/Budget spent: time \(10 min\).*save your best checkpoint and call finish/);
    expect((await g.check(call("save", { name: "x" }), ctx({ elapsedMs: 10 * 60_000 }))).decision.action).toBe("allow");
    expect((await g.check(call("save", { name: "x" }), ctx({ elapsedMs: 12 * 60_000 }))).decision.action).toBe("stop");
    g.observe(train, ok);
    g.observe(train, ok);
    expect(((await g.check(train, ctx())).decision as { message: string }).message).toMatch(/training calls \(2\)/);
    // The planner's spend comes from the spend ledger (what each recorded turn cost at the run's prices).
    const cost = await guard({ budget: { cost: { maxPlannerCostUsd: 1 }, spend: { plannerUsd: 1.5, trainingUsd: 0, totalUsd: 1.5 } } });
    cost.observe(call("init_grpo", {}), ok);
    const spent = await cost.check(train, ctx());
    expect((spent.decision as { message: string }).message).toMatch(/planner cost \(\$1\.50 of \$1\.00\)/);
  });

  it("rules can be switched off and custom rules added from a file", async () => {
    const g = await guard({ disabled: ["schema", "workflow"] });
    expect((await g.check(call("init_grpo", { lora_rank: "x" }), ctx())).decision.action).not.toBe("reject");
    const file = path.join(tempDir(), "no-cosine.mjs");
    fs.writeFileSync(
      file,
      `export default { name: "no-cosine", check(call) { return call.input && call.input.lr_scheduler === "linear" ? { action: "reject", message: "no decay here" } : { action: "allow" }; } };\n`,
    );
    const c = await guard({ customRuleFiles: [file] });
    c.observe(call("init_grpo", {}), ok);
    const v = await c.check(call("train_grpo_step", { prompts: "p", reward_function: REWARD, lr_scheduler: "linear" }), ctx());
    expect(v).toMatchObject({ rule: "no-cosine", decision: { action: "reject", message: "no decay here" } });
    await expect(guard({ disabled: ["nope"] })).rejects.toThrow(/Unknown guard rule 'nope'/);
  });
});

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCall } from "../../agent/core/call.ts";
import { ZERO_USAGE } from "../../agent/core/conversation.ts";
import { EventBus } from "../../agent/core/events.ts";
import type { RunEvent } from "../../agent/core/events.ts";
import type { ToolCall } from "../../agent/core/guard.ts";
import { HARNESS_CALL } from "../../agent/core/harness-call-ids.ts";
import type { ToolExecutor, ToolResult, ToolSpec } from "../../agent/core/tools.ts";
import { examSpecHash, examSpecOf, parseExamText } from "../../agent/config/exam-spec.ts";
import { resolveRunConfig } from "../../agent/config/run-config.ts";
import { listRecipes } from "../../agent/config/recipes.ts";
import { itemsDigest, loadExamItems } from "../../agent/exam/items.ts";
import { hubExamLoader } from "../../agent/exam/hub-items.ts";
import { FakeHfHub } from "../fakes/hf-hub-server.ts";
import { ExamSitter, scorerCode } from "../../agent/exam/sitter.ts";
import { budgetBesideExam, budgetLessReserve, finalExamReserveUsd, RESERVED_SITTINGS } from "../../agent/exam/reserve.ts";
import { prepareExam, releaseExam } from "../../agent/exam/setup.ts";
import { buildGuard } from "../../agent/guard/index.ts";
import { TrainingState } from "../../agent/state/training-state.ts";
import { ExamCollector, formatExam } from "../../agent/summary/exam-summary.ts";
import { EXAM_FILES, examItemHash } from "../../lib/exam-files.ts";
import { maskedPaths } from "../../lib/sandbox/masked-paths.ts";
import { EXAM_TOOL } from "../../tools/contracts/exam.ts";
import { UNCOUNTED_TEMPLATE_TOKENS } from "../../tools/contracts/template-tokens.ts";

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "tl-exam-test-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("an exam in the run's definition", () => {
  it("every offline recipe declares a valid exam from its generator's eval split, with a scorer from the reward library", () => {
    const offline = listRecipes().filter((r) => !["code-mbpp", "instructions"].includes(r));
    expect(offline.length).toBeGreaterThanOrEqual(8);
    for (const recipe of offline) {
      const cfg = resolveRunConfig({ recipe }, process.cwd(), {});
      expect(cfg.exam?.source.kind, recipe).toBe("generator");
      expect(cfg.exam!.temperature).toBe(0);
      expect(scorerCode(cfg.exam!)).toContain("def ");
    }
  });

  it("--exam overrides the recipe's, 'none' leaves the run ungraded, and a bad spec is a one-line user error", () => {
    const flagged = resolveRunConfig({ recipe: "addition", exam: "generator:addition,scorer=exact,items=20" }, process.cwd(), {});
    expect(flagged.exam).toMatchObject({ scorer: "exact", items: 20, source: { kind: "generator", task: "addition" } });
    expect(resolveRunConfig({ recipe: "addition", exam: "none" }, process.cwd(), {}).exam).toBeUndefined();
    expect(() => examSpecOf(parseExamText("generator:addition,scorer=vibes,items=5", "--exam"), "--exam")).toThrow(/scorer/);
    expect(() => examSpecOf(parseExamText("generator:nope,scorer=exact,items=5", "--exam"), "--exam")).toThrow(/source/);
    expect(() => examSpecOf(parseExamText("generator:addition,scorer=exact", "--exam"), "--exam")).toThrow(/items/);
    const hub = examSpecOf(parseExamText("hub:openai/gsm8k@main:test,scorer=last_number,items=1319", "--exam"), "--exam");
    expect(hub?.source).toEqual({ kind: "hub", dataset: "openai/gsm8k", config: "main", split: "test" });
  });

  it("a generator exam is the same items every time, from the eval split, in its template; the hash follows spec and items", async () => {
    const spec = examSpecOf({ exam: "generator:addition", exam_scorer: "numeric", exam_items: 30, exam_template: "Q: {prompt}" }, "t", 2)!;
    const a = await loadExamItems(spec);
    const b = await loadExamItems(spec);
    expect(a).toEqual(b);
    expect(a).toHaveLength(30);
    expect(a.every((i) => i.prompt.startsWith("Q: What is "))).toBe(true);
    const other = await loadExamItems({ ...spec, seed: 2 });
    expect(examSpecHash(spec, itemsDigest(a))).not.toBe(examSpecHash({ ...spec, seed: 2 }, itemsDigest(other)));
  });

  it("a Hub exam reads its split's rows through the real Hub client (a loopback fake Hub), and is refused offline", async () => {
    const hub = await FakeHfHub.start();
    try {
      const env = { HF_ENDPOINT: hub.url, HF_DATASETS_SERVER_ENDPOINT: hub.url };
      const spec = examSpecOf(parseExamText("hub:openai/gsm8k@main:test,scorer=last_number,items=15", "--exam"), "--exam")!;
      const items = await loadExamItems(spec, { hub: hubExamLoader(env) });
      expect(items).toHaveLength(15);
      expect(items[0]!.prompt.length).toBeGreaterThan(10);
      expect(items.every((i) => i.ground_truth.length > 0)).toBe(true);
      expect(hub.requests.some((r) => r.path === "/rows" && r.params.get("split") === "test")).toBe(true);
      await expect(loadExamItems(spec, { hub: hubExamLoader({ ...env, HF_HUB_OFFLINE: "1" }) })).rejects.toThrow(/HF_HUB_OFFLINE/);
    } finally {
      await hub.close();
    }
  });

  it("a generator exam takes at most half of a small eval split, leaving the rest for the planner's dev set", async () => {
    const spec = examSpecOf({ exam: "generator:arithmetic", exam_scorer: "numeric", exam_items: 200 }, "t", 1)!;
    const items = await loadExamItems(spec);
    expect(items.length).toBe(16);
    expect(new Set(items.map((i) => i.prompt)).size).toBe(16);
  });

  it("a JSONL exam reads {prompt, ground_truth} lines up to its size and refuses a line without them", async () => {
    const d = tmp();
    const file = path.join(d, "exam.jsonl");
    fs.writeFileSync(file, `${JSON.stringify({ prompt: "2+2?", ground_truth: "4" })}\n${JSON.stringify({ prompt: "3+3?", answer: 6 })}\n`);
    const spec = examSpecOf({ exam: `jsonl:${file}`, exam_scorer: "numeric", exam_items: 5 }, "t")!;
    expect(await loadExamItems(spec)).toEqual([
      { prompt: "2+2?", ground_truth: "4" },
      { prompt: "3+3?", ground_truth: "6" },
    ]);
    fs.writeFileSync(file, `${JSON.stringify({ question: "x" })}\n`);
    await expect(loadExamItems(spec)).rejects.toThrow(/no prompt and ground_truth/);
  });
});

/** A tool server stand-in: records what it was asked, answers the exam from its items file like the tinker server does (scores only). */
class Server implements ToolExecutor {
  readonly calls: Array<{ name: string; input: unknown }> = [];
  readonly tools: ToolSpec[] = ["init_grpo", "train_grpo_step", "save", "finish", EXAM_TOOL].map((name) => ({
    name: `tinker__${name}`,
    description: "",
    source: "tinker",
    inputSchema: { type: "object" },
  }));
  constructor(
    private readonly examDir: string,
    private readonly score: () => number,
  ) {}

  async call(name: string, input: unknown): Promise<ToolResult> {
    this.calls.push({ name, input });
    if (name.endsWith(EXAM_TOOL)) {
      const items = fs
        .readFileSync(path.join(this.examDir, EXAM_FILES.items), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      const scores = items.map((it: { prompt: string; ground_truth: string }) => ({ item: examItemHash(it), score: this.score() }));
      const mean = scores.reduce((a: number, s: { score: number }) => a + s.score, 0) / scores.length;
      const label = (input as { label: string }).label;
      fs.writeFileSync(
        path.join(this.examDir, EXAM_FILES.sitting(label)),
        items.map((it: object) => JSON.stringify({ ...it, item: examItemHash(it as never), completion: "x", score: this.score() })).join("\n"),
      );
      return {
        content: `Exam ${label}: mean ${mean}`,
        isError: false,
        structured: {
          label,
          scores,
          mean,
          items: items.length,
          samples: 1,
          temperature: 0,
          max_tokens: 6,
          truncated: 0,
          reward_errors: 0,
          weights: "current weights",
        },
      };
    }
    return { content: "ok", isError: false, structured: name.endsWith("train_grpo_step") ? { iterations: [{ mean_reward: 0.5 }] } : {} };
  }
}

describe("the harness sits the exam", () => {
  it("a baseline before the first training call and a final before finish, as harness calls; the planner cannot call the exam tool", async () => {
    const spec = examSpecOf({ exam: "generator:addition", exam_scorer: "numeric", exam_items: 40 }, "t", 2)!;
    const exam = await prepareExam(spec);
    dirs.push(exam.dir);
    expect(maskedPaths({})).toContain(exam.dir);
    let trained = false;
    const server = new Server(exam.dir, () => (trained ? 1 : 0));
    const training = new TrainingState();
    const guard = await buildGuard({ onWrongModel: "rewrite", dataDir: path.join(tmp(), "data"), budget: {}, trainingState: training });
    const events: RunEvent[] = [];
    const bus = new EventBus([{ on: (e) => events.push(e) }, training]);
    const sitter = new ExamSitter({ spec, specHash: exam.hash, inner: server, training, every: 0, events: bus, guard, model: "local/tiny-adder" });
    bus.add(sitter);
    expect(sitter.tools.map((t) => t.name)).not.toContain(`tinker__${EXAM_TOOL}`);

    const deps = {
      tools: sitter,
      events: bus,
      guard,
      clock: { now: Date.now },
      signal: new AbortController().signal,
      model: "local/tiny-adder",
      elapsedMs: 0,
      usage: ZERO_USAGE,
    };
    const call = (id: string, name: string, input: object = {}): ToolCall => ({ id, name: `tinker__${name}`, input });
    bus.emit({ type: "turn", turn: 1 });
    const snoop = await runCall(call("p1", EXAM_TOOL, { label: "baseline", reward_function: "x", temperature: 0, samples: 1 }), 1, deps);
    expect(snoop.ran).toBe(false);
    expect(events.find((e) => e.type === "guard" && e.toolUseId === "p1")).toMatchObject({ decision: { action: "reject" }, rule: "unknown-tool" });

    await runCall(call("p2", "init_grpo", { base_model: "local/tiny-adder" }), 1, deps);
    expect(server.calls.map((c) => c.name)).toEqual(["tinker__init_grpo"]);
    await runCall(call("p3", "train_grpo_step", { prompts: "data/pool.jsonl", reward_function: "r.py" }), 2, deps);
    trained = true;
    await runCall(call("p4", "train_grpo_step", { prompts: "data/pool.jsonl", reward_function: "r.py" }), 3, deps);
    // The workflow rule warns once about unsaved training: a refused finish sits nothing.
    expect((await runCall(call("p5", "finish"), 4, deps)).ran).toBe(false);
    expect(server.calls.filter((c) => c.name.endsWith(EXAM_TOOL))).toHaveLength(1);
    await runCall(call("p6", "finish"), 5, deps);
    expect(server.calls.map((c) => c.name.replace("tinker__", ""))).toEqual([
      "init_grpo",
      EXAM_TOOL,
      "train_grpo_step",
      "train_grpo_step",
      EXAM_TOOL,
      "finish",
    ]);

    const examGuards = events.filter((e) => e.type === "guard" && e.name.endsWith(EXAM_TOOL) && e.decision.action === "allow");
    expect(examGuards.map((e) => (e as { toolUseId: string }).toolUseId)).toEqual([HARNESS_CALL.examBaseline, HARNESS_CALL.examFinal]);
    // The exam's inputs name the scorer and decoding, never an item.
    for (const c of server.calls.filter((c) => c.name.endsWith(EXAM_TOOL))) {
      expect(JSON.stringify(c.input)).not.toContain("What is");
      expect(c.input).toMatchObject({ temperature: 0, samples: 1, reward_function: scorerCode(spec) });
    }
    const sittings = events.filter((e) => e.type === "exam");
    expect(sittings.map((e) => [e.label, e.mean])).toEqual([
      ["baseline", 0],
      ["final", 1],
    ]);
    const examEvents = JSON.stringify(events);
    for (const it of exam.items) expect(examEvents).not.toContain(it.prompt);

    const collector = new ExamCollector();
    collector.on({
      type: "run",
      schema: 1,
      runId: "r",
      startedAt: "",
      planner: "p",
      model: "m",
      config: {},
      templateSha256: "",
      tools: [],
      exam: { spec, hash: exam.hash, items: 40 },
    });
    for (const e of events) collector.on(e);
    const grade = collector.summary()!;
    expect(grade).toMatchObject({ baseline: 0, final: 1, lift: 1, checkpoint: "current weights", refusals: 0, items: 40 });
    expect(grade.interval!.paired).toBe(true);
    expect(formatExam(grade, 1)[0]).toMatch(/baseline 0\.0% → final 100\.0%; lift \+100\.0 points/);

    const runDir = tmp();
    releaseExam(exam, runDir);
    expect(fs.existsSync(exam.dir)).toBe(false);
    const released = fs
      .readFileSync(path.join(runDir, "exam", EXAM_FILES.items), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(released).toHaveLength(40);
    expect(released[0]).toMatchObject({ prompt: exam.items[0]!.prompt, ground_truth: exam.items[0]!.ground_truth, completion: "x", score: 1 });
  });

  it("the final exam's worst-case cost is kept out of the planner's dollar budget", async () => {
    const spec = examSpecOf({ exam: "generator:addition", exam_scorer: "numeric", exam_items: 100, exam_max_tokens: 10 }, "t", 2)!;
    const exam = await prepareExam(spec);
    dirs.push(exam.dir);
    const price = { prefill: 1, cachedPrefill: 0.1, sample: 2, train: 3 };
    const prefill = exam.items.reduce((a, i) => a + i.prompt.length + UNCOUNTED_TEMPLATE_TOKENS, 0);
    const usd = finalExamReserveUsd(exam, price);
    expect(usd).toBeCloseTo((prefill * 1 + 100 * 10 * 2) / 1e6, 12);
    expect(finalExamReserveUsd(exam, undefined)).toBe(0);
    expect(budgetLessReserve({ maxCostUsd: 1, maxPlannerCostUsd: 0.5 }, 0.25)).toEqual({ maxCostUsd: 0.75, maxPlannerCostUsd: 0.5 });
    expect(budgetLessReserve({ maxTrainingCostUsd: 0.1 }, 0.25)).toEqual({ maxTrainingCostUsd: 0 });
    // Two sittings are reserved (baseline and final): the baseline comes after the planner may have spent all but the reserve.
    expect(RESERVED_SITTINGS).toBe(2);
    expect(budgetBesideExam({ maxCostUsd: 1 }, exam, price).maxCostUsd).toBeCloseTo(1 - 2 * usd, 12);
    expect(budgetBesideExam({ maxPlannerCostUsd: 1 }, exam, price)).toEqual({ maxPlannerCostUsd: 1 });
  });

  it("periodic sittings cannot be reserved: --exam-every is refused under a dollar budget on training", () => {
    const cwd = os.tmpdir();
    expect(() => resolveRunConfig({ recipe: "addition", examEvery: "2", maxCost: "5" }, cwd, {})).toThrow(
      /--exam-every cannot be combined with a dollar budget/,
    );
    expect(() => resolveRunConfig({ recipe: "addition", examEvery: "2", maxTrainingCost: "5" }, cwd, {})).toThrow(/--exam-every cannot be combined/);
    expect(() => resolveRunConfig({ recipe: "addition", examEvery: "2", maxPlannerCost: "5" }, cwd, {})).not.toThrow();
    expect(() => resolveRunConfig({ recipe: "addition", maxCost: "5" }, cwd, {})).not.toThrow();
  });

  it("an ungraded run says so where the grade would stand", () => {
    expect(formatExam(null, 0.9)[0]).toMatch(/ungraded/);
  });
});

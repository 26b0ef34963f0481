import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_MODELS_DIR } from "../../lib/package-paths.ts";
import { connectBundled, REPO, tempDir } from "../helpers.ts";

const MODEL = "local/tiny-arith";
const EXACT = "def compute_reward(completion, ground_truth):\n    return 1.0 if completion.strip() == ground_truth.strip() else 0.0\n";
/** A reward that varies within most groups whatever the model's skill, for structural tests. */
const PARITY = "def compute_reward(completion, ground_truth):\n    return float(len(completion.strip()) % 2)\n";

function arithmeticPool(n: number, offset = 0) {
  return Array.from({ length: n }, (_, i) => {
    const a = (i * 7 + offset) % 10;
    const b = (i * 3 + offset + 1) % 10;
    return { prompt: `What is ${a} + ${b}?`, ground_truth: String(a + b) };
  });
}

let s: Awaited<ReturnType<typeof connectBundled>>;
let checkpoints: string;
let models: string;
let runDir: string;

beforeAll(async () => {
  checkpoints = tempDir("tl-srv-ckpt-");
  // A second local model, so refusing another base model's checkpoint can be tested.
  models = tempDir("tl-srv-models-");
  fs.cpSync(path.join(DEFAULT_MODELS_DIR, "tiny-arith"), path.join(models, "tiny-arith"), { recursive: true });
  fs.cpSync(path.join(DEFAULT_MODELS_DIR, "tiny-arith"), path.join(models, "tiny-other"), { recursive: true });
  const mf = path.join(models, "tiny-other", "manifest.json");
  fs.writeFileSync(mf, JSON.stringify({ ...JSON.parse(fs.readFileSync(mf, "utf8")), id: "local/tiny-other" }));
  runDir = tempDir("tl-srv-run-");
  s = await connectBundled("tinker", { TINKERLOOP_CHECKPOINT_DIR: checkpoints, TINKERLOOP_MODELS_DIR: models, TINKERLOOP_RUN_DIR: runDir });
});
afterAll(async () => {
  await s?.close();
});

describe("tinker MCP server", () => {
  it("lists every tool with an input and an output schema", async () => {
    const { tools } = await s.client.listTools();
    const names = tools.map((t) => t.name).sort();
    // sit_exam is the harness's (a graded run's exam); the planner's tool list leaves it out.
    expect(names).toEqual(["check_reward", "finish", "init_grpo", "init_sft", "load", "sample", "save", "sit_exam", "train_grpo_step", "train_sft_step"]);
    for (const t of tools) expect(t.outputSchema, t.name).toMatchObject({ type: "object", properties: expect.any(Object) });
  });

  it("refuses training, sampling and saving before any session, saying what to do", async () => {
    for (const [tool, args] of [
      ["train_grpo_step", { prompts: arithmeticPool(2), reward_function: EXACT }],
      ["train_sft_step", { examples: [{ prompt: "a", response: "b" }] }],
      ["sample", { prompt: "hi" }],
      ["save", { name: "x" }],
    ] as const) {
      const r = await s.call(tool, args);
      expect(r.isError, tool).toBe(true);
      expect(r.text).toMatch(/no training session is open.*init_grpo/s);
    }
    const model = await s.call("init_grpo", { base_model: "meta-llama/Llama-3.2-1B" });
    expect(model.isError).toBe(true);
    expect(model.text).toMatch(/not a local model.*TINKER_API_KEY/);
  });

  it("runs a GRPO step whose structured metrics add up", async () => {
    const init = await s.call("init_grpo", { base_model: MODEL, group_size: 4, lora_rank: 8 });
    expect(init.isError).toBe(false);
    expect(init.structured).toMatchObject({ method: "grpo", base_model: MODEL, group_size: 4 });
    expect(fs.existsSync(init.structured.session_dir)).toBe(true);

    const r = await s.call("train_grpo_step", { prompts: arithmeticPool(12), reward_function: PARITY, learning_rate: 1e-3, max_tokens: 6, temperature: 1.0 });
    expect(r.isError, r.text).toBe(false);
    const it0 = r.structured.iterations[0];
    const g = it0.groups;
    expect(g.total).toBe(12);
    expect(g.mixed + g.all_zero + g.all_one + g.uniform_other + g.failed).toBe(g.total);
    expect(it0.samples_generated).toBe(48);
    expect(it0.samples_used).toBe(g.mixed * 4);
    // PARITY scores each sample 0 or 1: the mean is a whole number of 48ths that the group
    // counts bound (an all-1 group adds 4, a mixed one 1 to 3, a failed one at most 4), no
    // group can be uniform at another value, and the (population) spread follows from the mean.
    expect(it0.reward_errors).toBe(0);
    expect(g.uniform_other).toBe(0);
    const ones = Math.round(it0.reward_mean * 48);
    expect(it0.reward_mean).toBe(ones / 48);
    expect(ones).toBeGreaterThanOrEqual(4 * g.all_one + g.mixed);
    expect(ones).toBeLessThanOrEqual(4 * g.all_one + 3 * g.mixed + 4 * g.failed);
    expect(it0.reward_std).toBeCloseTo(Math.sqrt(it0.reward_mean * (1 - it0.reward_mean)), 12);
    expect(it0.tokens_sampled).toBeGreaterThan(0);
    expect(it0.tokens_sampled).toBeLessThanOrEqual(48 * 6);
    // What the step made the backend process, by meter: each distinct prompt (all of one length
    // here) read once, its other samples (and a repeated prompt's) served from the prefix cache.
    const u = r.structured.usage;
    expect(u.sampled_tokens).toBe(it0.tokens_sampled);
    expect((u.prefill_tokens + u.cached_prefill_tokens) % 48).toBe(0);
    expect(u.cached_prefill_tokens).toBeGreaterThanOrEqual(3 * u.prefill_tokens);
    expect(u.prefill_tokens).toBeGreaterThan(12);
    expect(u.trained_tokens > 0).toBe(g.mixed > 0);
    expect(r.meta?.["tinkerloop/usage"]).toEqual(u);
    expect(r.text).toContain(
      `Tokens processed: prefill ${u.prefill_tokens} (+${u.cached_prefill_tokens} from the prefix cache) · sampled ${u.sampled_tokens} · trained ${u.trained_tokens}`,
    );
    expect(r.structured.cumulative_iterations).toBe(1);
    expect(r.text).toContain(r.structured.session_dir);
    for (const f of ["training_debug.log", "sampling_debug.log", "reward_debug.log", "grading_function.py", "progress.txt", "progress.jsonl"]) {
      expect(fs.existsSync(path.join(r.structured.session_dir, f)), f).toBe(true);
    }
  });

  it("rejects mixing methods, bad schedulers, horizons that are too small, and bad inputs", async () => {
    const sft = await s.call("train_sft_step", { examples: [{ prompt: "a", response: "b" }] });
    expect(sft.text).toMatch(/opened with init_grpo, not init_sft/);
    const sched = await s.call("train_grpo_step", { prompts: arithmeticPool(2), reward_function: EXACT, lr_scheduler: "exponential" });
    expect(sched.isError).toBe(true);
    expect(sched.text).toMatch(/lr_scheduler/);
    const horizon = await s.call("train_grpo_step", { prompts: arithmeticPool(2), reward_function: EXACT, lr_scheduler: "cosine", scheduler_total_steps: 1 });
    expect(horizon.isError).toBe(true);
    expect(horizon.text).toMatch(/scheduler_total_steps=1 is smaller/);

    fs.writeFileSync(path.join(runDir, "empty.jsonl"), "");
    expect((await s.call("train_grpo_step", { prompts: "empty.jsonl", reward_function: EXACT })).text).toMatch(/is empty/);
    const missing = (await s.call("train_grpo_step", { prompts: "data/missing.jsonl", reward_function: EXACT })).text;
    expect(missing).toMatch(/No such file: data\/missing.jsonl/);
    expect(missing).toMatch(/relative paths are resolved against the run directory/);
    expect((await s.call("train_grpo_step", { prompts: '[{"prompt": 5}]', reward_function: EXACT })).text).toMatch(/non-empty string "prompt"/);
    expect((await s.call("train_grpo_step", { prompts: "{not json", reward_function: EXACT })).text).toMatch(/not valid JSON|Could not parse/);
    const noFn = await s.call("train_grpo_step", { prompts: arithmeticPool(2), reward_function: "def reward(c, g):\n    return 1.0\n" });
    expect(noFn.isError).toBe(true);
    expect(noFn.text).toMatch(/compute_reward/);
    const syntax = await s.call("train_grpo_step", { prompts: arithmeticPool(2), reward_function: "def compute_reward(c, g)\n    return 1.0\n" });
    expect(syntax.text).toMatch(/syntax error at line 1/);
    expect((await s.call("save", { name: "../escape" })).text).toMatch(/invalid checkpoint name/);
    expect((await s.call("load", { path: "never-saved" })).text).toMatch(/No checkpoint/);
  });

  it("takes no optimizer step when every group is unusable, and reports it as a result with the group counts, not an error", async () => {
    const before = (await s.call("save", { name: "before-abort" })).structured.counters.grpo_iterations;
    const zero = "def compute_reward(completion, ground_truth):\n    return 0.0\n";
    const r = await s.call("train_grpo_step", { prompts: arithmeticPool(4), reward_function: zero });
    expect(r.isError).toBe(false);
    expect(r.text).toMatch(/no learning signal/);
    expect(r.text).toMatch(/4 all-0/);
    expect(r.structured.optimizer_steps).toBe(0);
    expect(r.structured.iterations[0]).toMatchObject({ stepped: false, kl: null, groups: { total: 4, all_zero: 4 } });
    // It took no step, but it sampled: the tokens are reported all the same, in the result and in _meta.
    expect(r.structured.usage).toMatchObject({ trained_tokens: 0 });
    expect(r.structured.usage.sampled_tokens).toBeGreaterThan(0);
    expect(r.meta?.["tinkerloop/usage"]).toEqual(r.structured.usage);
    const after = (await s.call("save", { name: "after-abort" })).structured.counters.grpo_iterations;
    expect(after).toBe(before);
  });

  it("save → train → load restores counters, optimizer state and samples; refuses another base model's checkpoint", async () => {
    const probe = arithmeticPool(6, 3);
    const saved = await s.call("save", { name: "grpo-a" });
    expect(saved.isError).toBe(false);
    const counters = saved.structured.counters;
    const want = (await s.call("sample", { prompts: probe, temperature: 0, max_tokens: 6 })).structured.completions.map((c: any) => c.text);
    const moved = await s.call("train_grpo_step", {
      prompts: arithmeticPool(12, 5),
      reward_function: PARITY,
      learning_rate: 5e-2,
      warmup_ratio: 0,
      max_tokens: 6,
      temperature: 1.0,
    });
    expect(moved.isError, moved.text).toBe(false);
    const loaded = await s.call("load", { path: "grpo-a" });
    expect(loaded.isError, loaded.text).toBe(false);
    expect(loaded.structured.counters).toEqual(counters);
    const got = (await s.call("sample", { prompts: probe, temperature: 0, max_tokens: 6 })).structured.completions.map((c: any) => c.text);
    expect(got).toEqual(want);
    // Saving again right after load writes the same optimizer state.
    await s.call("save", { name: "grpo-a-again" });
    expect(
      fs.readFileSync(path.join(checkpoints, "grpo-a-again", "optimizer.bin")).equals(fs.readFileSync(path.join(checkpoints, "grpo-a", "optimizer.bin"))),
    ).toBe(true);

    // A checkpoint of another base model is refused.
    await s.call("init_sft", { base_model: "local/tiny-other", lora_rank: 8 });
    await s.call("train_sft_step", {
      examples: [
        { prompt: "a", response: "b" },
        { prompt: "c", response: "d" },
      ],
      learning_rate: 1e-3,
    });
    expect((await s.call("save", { name: "other-model-ckpt" })).isError).toBe(false);
    await s.call("init_sft", { base_model: MODEL, lora_rank: 8 });
    const refused = await s.call("load", { path: "other-model-ckpt" });
    expect(refused.isError).toBe(true);
    expect(refused.text).toMatch(/made from local\/tiny-other/);
  });

  it("a resume point replaces the run's other resume points once it is saved, never the planner's checkpoints; a checkpoint loaded by its folder is named local://", async () => {
    await s.call("init_grpo", { base_model: MODEL, lora_rank: 8, group_size: 4 });
    const resumeFolders = () =>
      fs
        .readdirSync(checkpoints)
        .filter((n) => n.startsWith("resume-"))
        .sort();
    // One a crash left behind (saved, never recorded by the harness): the next resume point removes it too.
    expect((await s.call("save", { name: "resume-iter0-turn1" })).isError).toBe(false);
    const first = await s.call("save", { name: "resume-iter0-turn2", keep_resume_points: [] });
    expect(first.structured.replaced).toEqual(["local://resume-iter0-turn1"]);
    // The newest on record is kept until a newer one is saved.
    expect((await s.call("save", { name: "resume-iter0-turn3", keep_resume_points: ["local://resume-iter0-turn2"] })).structured.replaced).toEqual([]);
    const third = await s.call("save", { name: "resume-iter0-turn4", keep_resume_points: ["resume-iter0-turn3"] });
    expect(third.structured.replaced).toEqual(["local://resume-iter0-turn2"]);
    expect(third.text).toMatch(/Replaced \(deleted\): local:\/\/resume-iter0-turn2/);
    expect(resumeFolders()).toEqual(["resume-iter0-turn3", "resume-iter0-turn4"]);
    expect(fs.existsSync(path.join(checkpoints, "grpo-a", "state.json"))).toBe(true);
    // Only a resume point replaces others.
    const refused = await s.call("save", { name: "best", keep_resume_points: [] });
    expect(refused.isError).toBe(true);
    expect(refused.text).toMatch(/only for rolling resume points/);
    expect(fs.existsSync(path.join(checkpoints, "best"))).toBe(false);
    const loaded = await s.call("load", { path: path.join(checkpoints, "resume-iter0-turn4") });
    expect(loaded.isError, loaded.text).toBe(false);
    expect(loaded.structured.path).toBe("local://resume-iter0-turn4");
  });

  it("reports SFT train and validation loss per epoch", async () => {
    await s.call("init_sft", { base_model: MODEL, lora_rank: 8 });
    const examples = Array.from({ length: 20 }, (_, i) => ({ prompt: `JSON with name N${i}`, response: `{"name":"N${i}"}` }));
    const r1 = await s.call("train_sft_step", { examples, learning_rate: 5e-3, batch_size: 8, validation_split: 0.2 });
    expect(r1.isError, r1.text).toBe(false);
    expect(r1.structured).toMatchObject({ train_examples: 16, validation_examples: 4, cumulative_epochs: 1, cumulative_steps: 2 });
    expect(r1.structured.epochs[0].val_loss).toBeGreaterThan(0);
    const r2 = await s.call("train_sft_step", { examples, learning_rate: 5e-3, batch_size: 8, validation_split: 0.2 });
    expect(r2.structured.epochs[0].train_loss).toBeLessThan(r1.structured.epochs[0].train_loss);
    expect(r2.structured.warnings.join(" ")).toMatch(/warmup_ratio=0.1 ignored/);
    expect(r2.text).toMatch(/validation \d/);
  });

  it("contains hostile reward code and keeps answering", async () => {
    const cases = [{ completion: "1", ground_truth: "1" }];
    const hostile: Array<[string, string, RegExp]> = [
      ["infinite loop", "def compute_reward(c, g):\n    while True:\n        pass\n", /timed out/],
      ["memory bomb", "def compute_reward(c, g):\n    x = bytearray(8 * 1024 ** 3)\n    return 1.0\n", /MemoryError/],
      // Network, processes, writes, secrets and the rest: test/e2e/sandbox-attacks-reward.test.ts.
      ["NaN", "def compute_reward(c, g):\n    return float('nan')\n", /not a finite number/],
      ["string", "def compute_reward(c, g):\n    return 'high'\n", /returned str/],
      ["None", "def compute_reward(c, g):\n    return None\n", /returned NoneType/],
      ["raises", "def compute_reward(c, g):\n    raise KeyError('gt')\n", /KeyError/],
    ];
    for (const [label, code, why] of hostile) {
      const r = await s.call("check_reward", { reward_function: code, cases });
      expect(r.isError, label).toBe(false);
      expect(r.structured.cases[0].score, label).toBe(0);
      expect(r.structured.cases[0].error, label).toMatch(why);
    }
    const env = await s.call("check_reward", {
      reward_function:
        "import os\ndef compute_reward(c, g):\n    found = [k for k in os.environ if 'KEY' in k or 'TOKEN' in k]\n    return 1.0 if not found else 0.0\n",
      cases,
    });
    expect(env.structured.cases[0].score).toBe(1);
    const noisy = await s.call("check_reward", {
      reward_function: "print('at import')\ndef compute_reward(c, g):\n    print('{\"score\": 9}')\n    return 0.5\n",
      cases,
    });
    expect(noisy.structured.cases[0].score).toBe(0.5);
    expect((await s.call("check_reward", { reward_function: "def compute_reward(c g):\n", cases })).text).toMatch(/syntax error/);
    expect((await s.call("check_reward", { reward_function: "x = 1\n", cases })).text).toMatch(/no top-level function/);
    const good = await s.call("check_reward", {
      reward_function: EXACT,
      cases: [
        { completion: "7", ground_truth: "7", expected: 1 },
        { completion: "8", ground_truth: "7", expected: 1 },
      ],
    });
    expect(good.structured).toMatchObject({ errors: 0, mismatches: 1, ok: false });
  }, 120_000);

  it("finishes: summary, backend closed, a fresh session directory", async () => {
    const before = (await s.call("init_sft", { base_model: MODEL, lora_rank: 4 })).structured.session_dir;
    const f = await s.call("finish");
    expect(f.isError).toBe(false);
    expect(f.structured.session_dir).toBe(before);
    expect(f.structured.new_session_dir).not.toBe(before);
    expect((await s.call("sample", { prompt: "x" })).text).toMatch(/no training session/);
  });
});

describe("tinker server under a third-party MCP client and concurrent calls", () => {
  it("is usable from @modelcontextprotocol/inspector's CLI", async () => {
    const run = promisify(execFile);
    const bin = path.join(REPO, "node_modules", ".bin", "mcp-inspector");
    const server = path.join(REPO, "bin", "tinker-mcp.js");
    const list = await run(bin, ["--cli", process.execPath, server, "--method", "tools/list"], { timeout: 60_000 });
    expect(JSON.parse(list.stdout).tools.map((t: any) => t.name)).toContain("check_reward");
    const call = await run(
      bin,
      [
        "--cli",
        process.execPath,
        server,
        "--method",
        "tools/call",
        "--tool-name",
        "check_reward",
        "--tool-arg",
        `reward_function=${EXACT}`,
        "--tool-arg",
        'cases=[{"completion":"4","ground_truth":"4","expected":1}]',
      ],
      { timeout: 60_000 },
    );
    expect(JSON.parse(call.stdout).structuredContent).toMatchObject({ ok: true, errors: 0 });
  });

  it("tells a second concurrent call that the server is busy", async () => {
    const c = await connectBundled("tinker", { TINKERLOOP_TOOL_LOCK_TIMEOUT_SECONDS: "0.2" });
    try {
      const slow = c.call("check_reward", {
        reward_function: "import time\ndef compute_reward(c, g):\n    time.sleep(1.2)\n    return 1.0\n",
        cases: [{ completion: "a", ground_truth: "a" }],
      });
      await new Promise((r) => setTimeout(r, 100));
      const busy = await c.call("finish");
      expect(busy.isError).toBe(true);
      expect(busy.text).toMatch(/another tinker call is still running/);
      expect((await slow).structured.cases[0].score).toBe(1);
      expect((await c.call("finish")).isError).toBe(false);
    } finally {
      await c.close();
    }
  });
});

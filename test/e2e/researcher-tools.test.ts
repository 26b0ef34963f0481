import { execFileSync } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CODE_TESTS, rewardSpecs } from "../../agent/planners/reward-library.ts";
import { generate } from "../../lib/generators/generate.ts";
import { SAMPLE_TEXT_BUDGET } from "../../tools/tinker/completions.ts";
import { sandboxStatus } from "../../lib/sandbox/os-sandbox.ts";
import { connectBundled, readJsonl, tempDir } from "../helpers.ts";

const MODEL = "local/tiny-arith";
/** A third-party package the user's python3 has (site-packages), if any. */
const installedPackage = ["sympy", "numpy", "yaml", "setuptools", "pip"].find((m) => {
  try {
    execFileSync("python3", ["-E", "-c", `import ${m}`], { stdio: "ignore", timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
});

describe("sample, check_reward and the code recipe on the real tinker server", () => {
  let s: Awaited<ReturnType<typeof connectBundled>>;
  let runDir: string;
  beforeAll(async () => {
    runDir = tempDir("tl-rt-run-");
    s = await connectBundled("tinker", { TINKERLOOP_RUN_DIR: runDir, TINKERLOOP_CHECKPOINT_DIR: tempDir("tl-rt-ckpt-") });
  });
  afterAll(async () => {
    await s?.close();
  });

  it("init reports the max_tokens default and why; sample reports the share cut at max_tokens and writes every completion to a file", async () => {
    const init = await s.call("init_grpo", { base_model: MODEL, lora_rank: 4, group_size: 4 });
    expect(init.text).toMatch(/Default max_tokens 32 \(a small local model with a short context\); an explicit max_tokens always wins/);
    const prompts = Array.from({ length: 6 }, (_, i) => ({ prompt: `What is ${i} + ${i}?`, ground_truth: String(2 * i) }));
    const r = await s.call("sample", { prompts, n: 4, max_tokens: 1, temperature: 1, reward_function: rewardSpecs("numeric")[0]!.code });
    expect(r.isError, r.text).toBe(false);
    expect(r.structured.max_tokens).toBe(1);
    expect(r.structured.truncated).toBeGreaterThan(0);
    expect(r.text).toMatch(new RegExp(`${r.structured.truncated} of 24 completions \\(\\d+%\\) hit max_tokens 1`));
    expect(r.text).toMatch(/CUT AT max_tokens/);
    const file = path.join(runDir, r.structured.completions_file);
    expect(r.structured.completions_file).toMatch(/^completions\/sample-\d+\.jsonl$/);
    const rows = readJsonl(file);
    expect(rows).toHaveLength(24);
    expect(Object.keys(rows[0]).sort()).toEqual(["completion", "finish_reason", "ground_truth", "prompt", "reward", "tokens"]);
    expect(rows.filter((x) => x.finish_reason === "length")).toHaveLength(r.structured.truncated);
    expect(r.text).toContain(`Every completion (prompt, completion, reward, finish reason, tokens) is in ${r.structured.completions_file}`);
  });

  it("check_reward shows long completions cut visibly with their length, keeps them whole in its file, and names the sandbox", async () => {
    const long = `${"step ".repeat(6000)}answer 42`;
    const r = await s.call("check_reward", {
      reward_function: rewardSpecs("numeric")[0]!.code,
      cases: [
        { completion: long, ground_truth: "42" },
        { completion: "42", ground_truth: "42", expected: 1 },
      ],
    });
    expect(r.text).toMatch(/\[… cut here: [\d,]+ of 30,009 characters shown; the whole completion is in completions\/check_reward-\d+\.jsonl line 1\]/);
    expect(r.text.length).toBeLessThan(SAMPLE_TEXT_BUDGET + 3000);
    expect(readJsonl(path.join(runDir, r.structured.completions_file))[0].completion).toBe(long);
    expect(r.text).toMatch(sandboxStatus().available ? /Reward check in the OS sandbox \(bubblewrap/ : /audit-hook fallback/);
  });

  it.skipIf(!sandboxStatus().available || !installedPackage)(`rewards import the packages of the user's python3 (${installedPackage})`, async () => {
    const code = `import ${installedPackage}\ndef compute_reward(c, g):\n    return 1.0 if ${installedPackage}.__file__ else 0.0\n`;
    const r = await s.call("check_reward", { reward_function: code, cases: [{ completion: "x", ground_truth: "x", expected: 1 }] });
    expect(r.structured.ok, r.text).toBe(true);
  });

  it.skipIf(!sandboxStatus().available)("code recipe: the reward runs completions against their tests in a child, and one GRPO step runs on it", async () => {
    const spec = rewardSpecs("code_tests")[0]!;
    const check = await s.call("check_reward", { reward_function: spec.code, cases: spec.cases });
    expect(check.structured.ok, check.text).toBe(true);
    const items = generate("python_functions", { n: 4, seed: 5, difficulty: 1 }).items;
    const pool = items.map((i) => ({ prompt: i.prompt, ground_truth: i.ground_truth }));
    // The reference answers pass their own tests.
    const refs = items.map((i) => ({ completion: i.response, ground_truth: i.ground_truth, expected: 1 }));
    expect((await s.call("check_reward", { reward_function: CODE_TESTS, cases: refs })).structured.ok).toBe(true);
    const step = await s.call("train_grpo_step", { prompts: pool, reward_function: CODE_TESTS, num_iterations: 1, max_tokens: 16 });
    // The tiny local model scores about 0 here, so the step may stop for want of signal: either way it reports the iteration.
    const text = step.text;
    expect(text).toMatch(/GRPO step (complete|stopped: no learning signal)/);
    expect(text).toMatch(/of 16 completions \(\d+%\) hit max_tokens 16/);
    expect(text).not.toMatch(/reward errors [1-9]/);
    expect(text).toMatch(/rewards scored in the OS sandbox \(bubblewrap/);
  });
});

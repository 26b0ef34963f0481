/**
 * Every alert of the feedback block, provoked end to end: the real CLI, the bundled
 * tinker and hf-datasets servers, the local backend, and an Anthropic-shaped planner
 * (the real SDK against a scripted fake of the Messages API). Each alert must be in the
 * next request the planner receives, and absent from a healthy control run.
 */
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { FakeAnthropic, toolUseReply } from "../fakes/anthropic-server.ts";
import type { RecordedRequest } from "../fakes/anthropic-server.ts";
import { runCli, tempDir } from "../helpers.ts";

const MODEL = "local/tiny-arith";
const KEY = "sk-ant-alerts-000000";

const rewards = {
  zero: "def compute_reward(completion, ground_truth):\n    return 0.0\n",
  one: "def compute_reward(completion, ground_truth):\n    return 1.0\n",
  // Raises on every item whose answer is even: about half the items, whole groups at a time.
  half: "def compute_reward(completion, ground_truth):\n    if int(ground_truth) % 2 == 0:\n        raise ValueError('even')\n    return float(len(completion.strip()) % 2)\n",
  // Any length-dependent score gives mixed groups, so every step has a signal.
  parity: "def compute_reward(completion, ground_truth):\n    return float(len(completion.strip()) % 2)\n",
  exact:
    "def compute_reward(completion, ground_truth):\n    text = completion.strip()\n    first = text.split()[0] if text else ''\n    if first == ground_truth.strip():\n        return 1.0\n    return 0.1 if first.lstrip('-').isdigit() else 0.0\n",
};

const ALERTS = {
  all_zero: /! Mostly ALL-0/,
  all_one: /! Mostly ALL-1/,
  reward_errors: /! Reward errors on/,
  truncated: /! Truncation: \d+% of completions hit max_tokens/,
  kl_spike: /! KL spike/,
  no_sample: /! No sample\(\) in the last \d+ training calls/,
  overfitting: /! Overfitting: validation loss/,
};

let fake: FakeAnthropic | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

type Step = { name: string; input: Record<string, unknown> };

/** Runs the planner's steps (then finish) and returns, per step, the text of the request that followed it. */
async function run(steps: Step[]): Promise<{ after: string[]; runDir: string }> {
  const all = [...steps, { name: "finish", input: {} }, { name: "finish", input: {} }];
  fake = await FakeAnthropic.start(all.map((s) => toolUseReply([s])));
  const runDir = path.join(tempDir("tl-alerts-"), "run");
  const r = await runCli(
    [
      "run",
      "--planner",
      "anthropic:claude-sonnet-5-5",
      "--model",
      MODEL,
      "--prompt",
      "Provoke every alert.",
      "--run-dir",
      runDir,
      "--max-turns",
      String(all.length),
    ],
    {
      env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: fake.url, HF_HUB_OFFLINE: "1" },
      timeoutMs: 600_000,
    },
  );
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const lastUserText = (req: RecordedRequest) => {
    const messages = req.body.messages as Array<{ role: string; content: Array<{ type: string; text?: string }> }>;
    const last = messages[messages.length - 1]!;
    return last.content
      .filter((b) => b.type === "text")
      .map((b) => b.text ?? "")
      .join("\n");
  };
  // Request k + 1 is the one the planner gets after step k ran.
  const after = steps.map((_, k) => lastUserText(fake!.messageRequests[k + 1]!));
  const failed = (
    readTranscript(path.join(runDir, "transcript.jsonl")).events as Array<{ type: string; name?: string; isError?: boolean; result?: string }>
  ).filter((e) => e.type === "tool" && e.isError);
  expect(failed.map((e) => `${e.name}: ${e.result?.split("\n")[0]}`)).toEqual([]);
  return { after, runDir };
}

const setup = (method: "grpo" | "sft"): Step[] => [
  { name: "generate_synthetic", input: { task: "arithmetic", n: 96, seed: 1, difficulty: 1, format: method, output: "data/pool.jsonl" } },
  ...Object.entries(rewards).map(([name, content]) => ({ name: "write_file", input: { path: `rewards/${name}.py`, content } })),
  { name: method === "grpo" ? "init_grpo" : "init_sft", input: { base_model: MODEL, ...(method === "grpo" ? { group_size: 4 } : {}) } },
];
const train = (start: number, reward: keyof typeof rewards, extra: Record<string, unknown> = {}): Step => ({
  name: "train_grpo_step",
  input: {
    prompts: "data/pool.jsonl",
    start,
    limit: 8,
    reward_function: `rewards/${reward}.py`,
    learning_rate: 1e-4,
    warmup_ratio: 0,
    auto_checkpoint: false,
    ...extra,
  },
});

describe("feedback alerts fire on real server results", () => {
  it("GRPO: ALL-0, ALL-1, reward errors, truncation, a KL spike and no sample() each in the next request", { timeout: 900_000 }, async () => {
    const s = setup("grpo");
    const steps = [
      ...s,
      train(0, "zero"),
      train(8, "one"),
      train(16, "half"),
      train(24, "parity", { max_tokens: 1 }),
      train(32, "parity", { learning_rate: 1.0, max_tokens: 8, temperature: 1.0 }),
    ];
    const { after } = await run(steps);
    const at = (k: number) => after[s.length + k]!;
    expect(at(0)).toMatch(ALERTS.all_zero);
    expect(at(0)).toMatch(/took no optimizer step/);
    expect(at(0)).not.toMatch(/fix the (input|arguments)/);
    expect(at(0)).not.toMatch(ALERTS.all_one);
    expect(at(1)).toMatch(ALERTS.all_one);
    expect(at(1)).not.toMatch(ALERTS.all_zero);
    expect(at(2)).toMatch(ALERTS.reward_errors);
    expect(at(3)).toMatch(ALERTS.truncated);
    expect(at(4)).toMatch(ALERTS.kl_spike);
    expect(at(4)).toMatch(ALERTS.no_sample);
    expect(at(3)).not.toMatch(ALERTS.no_sample);
    for (const k of [0, 1, 2, 3]) expect(at(k)).not.toMatch(ALERTS.kl_spike);
    // The calls that took no step are counted, apart from the ones that trained.
    expect(at(1)).toMatch(/2 training call\(s\) \(0 trained, 2 without an optimizer step\)/);
  });

  it("SFT on a handful of examples for many epochs: validation loss rising while training loss falls", { timeout: 900_000 }, async () => {
    const s: Step[] = [
      { name: "generate_synthetic", input: { task: "arithmetic", n: 10, seed: 4, difficulty: 1, format: "sft", output: "data/tiny.jsonl" } },
      { name: "init_sft", input: { base_model: MODEL } },
    ];
    const sft = {
      name: "train_sft_step",
      input: { examples: "data/tiny.jsonl", num_epochs: 15, learning_rate: 0.02, batch_size: 8, validation_split: 0.3, warmup_ratio: 0 },
    };
    const { after } = await run([...s, sft, sft, sft, sft]);
    const fired = after.slice(s.length).map((t) => ALERTS.overfitting.test(t));
    expect(fired.slice(1)).toContain(true);
    expect(fired[0]).toBe(false);
  });

  it("a healthy control run raises none of them", { timeout: 900_000 }, async () => {
    const s = setup("grpo");
    const steps = [
      ...s,
      train(0, "exact"),
      { name: "sample", input: { prompts: "data/pool.jsonl", n: 1, temperature: 0, limit: 8, reward_function: "rewards/exact.py" } },
      train(8, "exact"),
    ];
    const sftSteps: Step[] = [
      { name: "generate_synthetic", input: { task: "arithmetic", n: 200, seed: 5, difficulty: 1, format: "sft", output: "data/sft.jsonl" } },
      { name: "init_sft", input: { base_model: MODEL } },
      { name: "train_sft_step", input: { examples: "data/sft.jsonl", num_epochs: 1, learning_rate: 1e-4, validation_split: 0.2 } },
      { name: "train_sft_step", input: { examples: "data/sft.jsonl", num_epochs: 1, learning_rate: 1e-4, validation_split: 0.2 } },
    ];
    const grpo = await run(steps);
    await fake!.close();
    fake = undefined;
    const sftRun = await run(sftSteps);
    for (const text of [...grpo.after, ...sftRun.after]) {
      for (const [id, re] of Object.entries(ALERTS)) expect(text, id).not.toMatch(re);
    }
    // The healthy run's blocks are there (the control is not vacuous).
    expect(grpo.after[s.length]).toMatch(/── training feedback after turn/);
    expect(sftRun.after.at(-1)).toMatch(/train loss\s+val loss/);
  });
});

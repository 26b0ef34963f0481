import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { TinkerBackend } from "../tools/tinker/backends/tinker/client.ts";
import { connectBundled, REPO, tempDir } from "./helpers.ts";

const FAKE_SDK = path.join(REPO, "test", "fakes", "tinker-sdk");
const MODEL = "meta-llama/Llama-3.2-1B";

function backend(extra: Record<string, string> = {}, opts: Partial<ConstructorParameters<typeof TinkerBackend>[0]> = {}) {
  const dir = tempDir("tl-tinker-");
  const log = path.join(dir, "calls.jsonl");
  const b = new TinkerBackend({
    env: { PATH: process.env.PATH, PYTHONPATH: FAKE_SDK, TINKER_API_KEY: "tml-fake-key-123", TINKER_FAKE_LOG: log, ANTHROPIC_API_KEY: "sk-ant-must-not-pass", ...extra },
    checkpointDir: path.join(dir, "ckpt"),
    ...opts,
  });
  const calls = () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l)) : []);
  return { b, calls, dir };
}

describe("Tinker backend through the Python worker (fake SDK)", () => {
  it("opens a LoRA training client with the registry's renderer", async () => {
    const { b, calls } = backend();
    const card = await b.open(MODEL, { loraRank: 16 });
    expect(card).toMatchObject({ baseModel: MODEL, backend: "tinker", loraRank: 16, renderer: "role_colon", stop: ["\n\nUser:"] });
    expect(calls().map((c) => c.call)).toEqual(["ServiceClient", "create_lora_training_client"]);
    expect(calls()[1]).toMatchObject({ base_model: MODEL, rank: 16 });
    await b.close();
  });

  it("trains SFT with cross_entropy datums shifted by one and masked to the response, then an Adam step", async () => {
    const { b, calls } = backend();
    await b.open(MODEL, { loraRank: 8 });
    const r = await b.trainSupervised([{ prompt: "Hi", response: "Yo" }], { learningRate: 2e-4 });
    const fb = calls().find((c) => c.call === "forward_backward");
    expect(fb.loss_fn).toBe("cross_entropy");
    const full = [..."User: Hi\n\nAssistant: Yo\n\nUser:"].map((c) => c.charCodeAt(0));
    const promptLen = "User: Hi\n\nAssistant:".length;
    const d = fb.datums[0];
    expect(d.model_input).toEqual(full.slice(0, -1));
    expect(d.loss_fn_inputs.target_tokens).toEqual({ dtype: "int64", data: full.slice(1) });
    expect(d.loss_fn_inputs.weights.data).toEqual(full.slice(1).map((_, i) => (i + 1 >= promptLen ? 1 : 0)));
    expect(calls().find((c) => c.call === "optim_step")).toMatchObject({ learning_rate: 2e-4, beta1: 0.9, beta2: 0.95 });
    expect(r.loss).toBeCloseTo(0.5);
    expect(r.tokens).toBe(full.length - promptLen);
    const before = calls().length;
    const e = await b.evalSupervised([{ prompt: "Hi", response: "Yo" }]);
    expect(e.loss).toBeCloseTo(0.51);
    expect(calls().slice(before).map((c) => c.call)).toEqual(["forward"]);
    await b.close();
  });

  it("samples with the renderer's stop sequence and trains the importance-sampling loss on padded datums", async () => {
    const { b, calls } = backend();
    await b.open(MODEL, { loraRank: 8 });
    const groups = await b.sample(["What is 2 + 2?"], 3, { temperature: 0.9, maxTokens: 12 });
    const s = calls().find((c) => c.call === "sample");
    expect(s).toMatchObject({ num_samples: 3, max_tokens: 12, temperature: 0.9, stop: ["\n\nUser:"] });
    expect(groups[0]!.map((c) => c.text)).toEqual(["4", "5", "6"]);
    const c = groups[0]![0]!;
    const pg = await b.trainPolicy([{ prompt: "What is 2 + 2?", tokens: c.tokens, logprobs: c.logprobs, advantage: 1.5 }], { learningRate: 1e-5 });
    const fb = calls().find((x) => x.call === "forward_backward");
    expect(fb.loss_fn).toBe("importance_sampling");
    const prompt = [..."User: What is 2 + 2?\n\nAssistant:"].map((ch) => ch.charCodeAt(0));
    const d = fb.datums[0];
    const pad = prompt.length - 1;
    expect(d.model_input).toEqual([...prompt, ...c.tokens.slice(0, -1)]);
    expect(d.loss_fn_inputs.target_tokens.data).toEqual([...Array(pad).fill(0), ...c.tokens]);
    expect(d.loss_fn_inputs.logprobs.data).toEqual([...Array(pad).fill(0), ...c.logprobs]);
    expect(d.loss_fn_inputs.advantages.data).toEqual([...Array(pad).fill(0), ...c.tokens.map(() => 1.5)]);
    expect(pg.kl).toBeCloseTo(-0.25 - -0.5);
    expect(pg.tokens).toBe(c.tokens.length);
    await b.close();
  });

  it("saves and loads state with the optimizer, and refuses a checkpoint of another base model", async () => {
    const { b, calls, dir } = backend();
    await b.open(MODEL, { loraRank: 8 });
    const saved = await b.saveState("step-3", { method: "grpo", counters: { grpoIterations: 3 } });
    expect(saved.path).toBe("tinker://fake-run/state/step-3");
    const loaded = await b.loadState(saved.path);
    expect(loaded.meta).toEqual({ method: "grpo", counters: { grpoIterations: 3 } });
    expect(calls().find((c) => c.call === "load_state_with_optimizer")).toMatchObject({ path: saved.path });
    const index = JSON.parse(fs.readFileSync(path.join(dir, "ckpt", "tinker-checkpoints.json"), "utf8"));
    index["tinker://other/state/x"] = { name: "x", baseModel: "Qwen/Qwen3-8B", meta: {} };
    fs.writeFileSync(path.join(dir, "ckpt", "tinker-checkpoints.json"), JSON.stringify(index));
    await expect(b.loadState("tinker://other/state/x")).rejects.toThrow(/made from Qwen\/Qwen3-8B/);
    await b.close();
    // A fresh worker (after a restart) restores by creating a training client from the state.
    const fresh = backend().b;
    (fresh as unknown as { opts: { env: Record<string, string> } }).opts.env.TINKER_FAKE_LOG = path.join(dir, "calls2.jsonl");
    (fresh as unknown as { opts: { checkpointDir: string } }).opts.checkpointDir = path.join(dir, "ckpt");
    const restored = await fresh.loadState(saved.path);
    expect(restored.card.baseModel).toBe(MODEL);
    expect(restored.meta).toEqual({ method: "grpo", counters: { grpoIterations: 3 } });
    const calls2 = fs.readFileSync(path.join(dir, "calls2.jsonl"), "utf8");
    expect(calls2).toContain('"call": "create_training_client_from_state_with_optimizer"');
    await fresh.sample(["x"], 1, { temperature: 1, maxTokens: 4 });
    await fresh.close();
  });

  it("passes only the variables the worker needs: no planner key reaches it", async () => {
    const { b } = backend();
    await b.open(MODEL, { loraRank: 4 });
    const pid = (b as unknown as { child: { pid: number } }).child.pid;
    const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    expect(environ.some((kv) => kv.startsWith("TINKER_API_KEY="))).toBe(true);
    expect(environ.some((kv) => kv.startsWith("ANTHROPIC_API_KEY="))).toBe(false);
    await b.close();
  });

  it("a worker that dies mid-call: a clear error, the session reported lost, a fresh worker on the next open", async () => {
    const { b } = backend({ TINKER_FAKE_MODE: "die_on_train" });
    await b.open(MODEL, { loraRank: 4 });
    await expect(b.trainSupervised([{ prompt: "a", response: "b" }], { learningRate: 1e-4 })).rejects.toThrow(/worker exited .*session was lost/);
    await expect(b.sample(["x"], 1, { temperature: 1, maxTokens: 4 })).rejects.toThrow(/session was lost.*load your last checkpoint/i);
    const card = await b.open(MODEL, { loraRank: 4 });
    expect(card.baseModel).toBe(MODEL);
    await b.close();
  });

  it("a call that times out is abandoned and the worker restarted", async () => {
    const { b } = backend({ TINKER_FAKE_MODE: "slow_sample" }, { timeouts: { sample: 1 } });
    await b.open(MODEL, { loraRank: 4 });
    const started = Date.now();
    await expect(b.sample(["x"], 1, { temperature: 1, maxTokens: 4 })).rejects.toThrow(/did not answer within 1s/);
    expect(Date.now() - started).toBeLessThan(5000);
    await expect(b.trainSupervised([{ prompt: "a", response: "b" }], { learningRate: 1e-4 })).rejects.toThrow(/session was lost/);
    await b.close();
  });

  it("malformed responses fail the call with a clear error", async () => {
    const dir = tempDir();
    const bad = path.join(dir, "bad_worker.py");
    fs.writeFileSync(bad, "import sys\nfor line in sys.stdin:\n    print('this is not json', flush=True)\n");
    const { b } = backend({}, { workerPath: bad });
    await expect(b.open(MODEL, { loraRank: 4 })).rejects.toThrow(/unreadable line \(this is not json\)/);
  });

  it("without the SDK installed, says how to install it", async () => {
    const { b } = backend({ PYTHONPATH: tempDir() });
    await expect(b.open(MODEL, { loraRank: 4 })).rejects.toThrow(/cannot be imported.*pip install -r tools\/tinker\/backends\/tinker\/requirements\.txt/);
    await b.close();
  });

  it("drives a GRPO step through the tinker MCP server for a Tinker model id", async () => {
    const dir = tempDir("tl-tinker-srv-");
    const s = await connectBundled("tinker", { PYTHONPATH: FAKE_SDK, TINKER_API_KEY: "tml-fake-key-123", TINKER_FAKE_LOG: path.join(dir, "calls.jsonl"), TINKERLOOP_CHECKPOINT_DIR: path.join(dir, "ckpt") });
    try {
      const init = await s.call("init_grpo", { base_model: MODEL });
      expect(init.isError, init.text).toBe(false);
      expect(init.structured).toMatchObject({ backend: "tinker", group_size: 4 });
      expect(init.text).toMatch(/Registry: Base model, Dense, 1B active parameters; recommended group_size 4; renderer role_colon/);
      const reward = "def compute_reward(completion, ground_truth):\n    return 1.0 if completion.strip() == ground_truth else 0.0\n";
      const r = await s.call("train_grpo_step", { prompts: [{ prompt: "What is 2 + 2?", ground_truth: "4" }, { prompt: "What is 2 + 3?", ground_truth: "5" }], reward_function: reward });
      expect(r.isError, r.text).toBe(false);
      const g = r.structured.iterations[0].groups;
      expect(g).toMatchObject({ total: 2, mixed: 2 });
      expect(r.structured.iterations[0].kl).not.toBeNull();
    } finally {
      await s.close();
    }
  });
});

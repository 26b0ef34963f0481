import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { TinkerBackend } from "../tools/tinker/backends/tinker/client.ts";
import { connectBundled, REPO, tempDir } from "./helpers.ts";

const FAKE_SDK = path.join(REPO, "test", "fakes", "tinker-sdk");
const MODEL = "meta-llama/Llama-3.2-1B";

/** The fake tokenizers' special tokens (their real ids); every other token is one character. */
const SPECIALS: Record<string, number> = {
  "<|begin_of_text|>": 128000,
  "<|start_header_id|>": 128006,
  "<|end_header_id|>": 128007,
  "<|eot_id|>": 128009,
  "<|im_start|>": 151644,
  "<|im_end|>": 151645,
  "<think>": 151667,
  "</think>": 151668,
};
const encode = (text: string): number[] => {
  const out: number[] = [];
  for (let i = 0; i < text.length; ) {
    const special = Object.keys(SPECIALS).find((s) => text.startsWith(s, i));
    if (special) {
      out.push(SPECIALS[special]!);
      i += special.length;
    } else {
      out.push(text.codePointAt(i)!);
      i += 1;
    }
  }
  return out;
};

/** How each renderer style lays out one exchange, and the stop it samples with. */
const FORMATS = [
  {
    renderer: "role_colon",
    model: "meta-llama/Llama-3.2-1B",
    prompt: (q: string) => `<|begin_of_text|>User: ${q}\n\nAssistant:`,
    answer: (a: string) => ` ${a}\n\nUser:`,
    stop: ["\n\nUser:"],
    samplerStop: ["\n\nUser:"],
  },
  {
    renderer: "llama3",
    model: "meta-llama/Llama-3.1-8B-Instruct",
    prompt: (q: string) => `<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n${q}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`,
    answer: (a: string) => `${a}<|eot_id|>`,
    stop: ["<|eot_id|>"],
    samplerStop: [128009],
  },
  {
    renderer: "qwen3",
    model: "Qwen/Qwen3-8B",
    prompt: (q: string) => `<|im_start|>user\n${q}<|im_end|>\n<|im_start|>assistant\n`,
    answer: (a: string) => `<think>\n\n</think>\n\n${a}<|im_end|>`,
    stop: ["<|im_end|>"],
    samplerStop: [151645],
  },
] as const;

function backend(extra: Record<string, string> = {}, opts: Partial<ConstructorParameters<typeof TinkerBackend>[0]> = {}) {
  const dir = tempDir("tl-tinker-");
  const log = path.join(dir, "calls.jsonl");
  const b = new TinkerBackend({
    env: {
      PATH: process.env.PATH,
      PYTHONPATH: FAKE_SDK,
      TINKER_API_KEY: "tml-fake-key-123",
      TINKER_FAKE_LOG: log,
      ANTHROPIC_API_KEY: "sk-ant-must-not-pass",
      ...extra,
    },
    checkpointDir: path.join(dir, "ckpt"),
    ...opts,
  });
  const calls = () =>
    fs.existsSync(log)
      ? fs
          .readFileSync(log, "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l))
      : [];
  return { b, calls, dir };
}

/** A second backend (a restarted worker, or another machine) over the same fake service. */
function freshBackend(checkpointDir: string, extra: Record<string, string> = {}) {
  const dir = tempDir("tl-tinker-fresh-");
  const log = path.join(dir, "calls.jsonl");
  const b = new TinkerBackend({
    env: { PATH: process.env.PATH, PYTHONPATH: FAKE_SDK, TINKER_API_KEY: "tml-fake-key-123", TINKER_FAKE_LOG: log, ...extra },
    checkpointDir,
  });
  const calls = () =>
    fs.existsSync(log)
      ? fs
          .readFileSync(log, "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l))
      : [];
  return { b, calls };
}

describe.each(FORMATS)("Tinker backend through the Python worker, $renderer renderer ($model, fake SDK)", (f) => {
  it("opens a LoRA training client with the registry's renderer and reports its stop", async () => {
    const { b, calls } = backend();
    const card = await b.open(f.model, { loraRank: 16 });
    expect(card).toMatchObject({ baseModel: f.model, backend: "tinker", loraRank: 16, renderer: f.renderer, stop: [...f.stop] });
    expect(calls().map((c) => c.call)).toEqual(["ServiceClient", "create_lora_training_client"]);
    expect(calls()[1]).toMatchObject({ base_model: f.model, rank: 16 });
    await b.close();
  });

  it("trains SFT with cross_entropy datums shifted by one and masked to the response, then an Adam step with the SDK's defaults", async () => {
    const { b, calls } = backend();
    await b.open(f.model, { loraRank: 8 });
    const r = await b.trainSupervised([{ prompt: "Hi", response: "Yo" }], { learningRate: 2e-4 });
    const fb = calls().find((c) => c.call === "forward_backward");
    expect(fb.loss_fn).toBe("cross_entropy");
    const prompt = encode(f.prompt("Hi"));
    const answer = encode(f.answer("Yo"));
    const full = [...prompt, ...answer];
    const d = fb.datums[0];
    expect(d.model_input).toEqual(full.slice(0, -1));
    expect(d.loss_fn_inputs.target_tokens).toEqual({ dtype: "int64", data: full.slice(1) });
    expect(d.loss_fn_inputs.weights).toEqual({ dtype: "float32", data: full.slice(1).map((_, i) => (i + 1 >= prompt.length ? 1 : 0)) });
    // Only what the step gives is sent: eps, weight decay and clipping keep the SDK's defaults.
    expect(calls().find((c) => c.call === "optim_step")).toEqual({
      call: "optim_step",
      learning_rate: 2e-4,
      beta1: 0.9,
      beta2: 0.95,
      eps: 1e-12,
      weight_decay: 0,
      grad_clip_norm: 0,
    });
    expect(r.loss).toBeCloseTo(0.5);
    expect(r.tokens).toBe(answer.length);
    const before = calls().length;
    const e = await b.evalSupervised([{ prompt: "Hi", response: "Yo" }]);
    expect(e.loss).toBeCloseTo(0.51);
    expect(
      calls()
        .slice(before)
        .map((c) => c.call),
    ).toEqual(["forward"]);
    await b.close();
  });

  it("samples with the renderer's stop and trains the importance-sampling loss on padded datums built from the kept rollout", async () => {
    const { b, calls } = backend();
    await b.open(f.model, { loraRank: 8 });
    const groups = await b.sample(["What is 2 + 2?"], 3, { temperature: 0.9, maxTokens: 64 });
    const s = calls().find((c) => c.call === "sample");
    expect(s).toMatchObject({ num_samples: 3, max_tokens: 64, temperature: 0.9, stop: [...f.samplerStop] });
    expect(s.prompt).toEqual(encode(f.prompt("What is 2 + 2?")));
    // The text is the answer only: stop sequence and any thinking are not part of it.
    expect(groups[0]!.map((c) => c.text)).toEqual(["4", "5", "6"]);
    expect(groups[0]!.map((c) => c.finishReason)).toEqual(["stop", "stop", "stop"]);
    const sampled = s.sequences[0] as { tokens: number[]; logprobs: number[] };
    const c = groups[0]![0]!;
    expect(c.tokenCount).toBe(sampled.tokens.length);
    const pg = await b.trainPolicy([{ rolloutId: c.rolloutId, advantage: 1.5 }], { learningRate: 1e-5 });
    const fb = calls().find((x) => x.call === "forward_backward");
    expect(fb.loss_fn).toBe("importance_sampling");
    const prompt = encode(f.prompt("What is 2 + 2?"));
    const d = fb.datums[0];
    const pad = prompt.length - 1;
    expect(d.model_input).toEqual([...prompt, ...sampled.tokens.slice(0, -1)]);
    expect(d.loss_fn_inputs.target_tokens).toEqual({ dtype: "int64", data: [...Array(pad).fill(0), ...sampled.tokens] });
    expect(d.loss_fn_inputs.logprobs.data).toEqual([...Array(pad).fill(0), ...sampled.logprobs]);
    expect(d.loss_fn_inputs.advantages.data).toEqual([...Array(pad).fill(0), ...sampled.tokens.map(() => 1.5)]);
    expect(pg.kl).toBeCloseTo(-0.25 - -0.5);
    expect(pg.tokens).toBe(sampled.tokens.length);
    await b.close();
  });

  it("a stop string ends the completion: the text is cut before it, the finish reason is 'stop', the tokens end where it was completed", async () => {
    const { b, calls } = backend({ TINKER_FAKE_TEXT: "{n} ### and more text" });
    await b.open(f.model, { loraRank: 8 });
    const groups = await b.sample(["Count"], 2, { temperature: 1, maxTokens: 64, stop: ["###"] });
    expect(groups[0]!.map((c) => c.text)).toEqual(["4 ", "5 "]);
    expect(groups[0]!.map((c) => c.finishReason)).toEqual(["stop", "stop"]);
    // Token-id stops and strings never share one SamplingParams (the real SDK refuses the mix).
    const stop = calls().find((c) => c.call === "sample").stop;
    expect(stop).toEqual(typeof f.samplerStop[0] === "number" ? [...f.samplerStop] : [...f.samplerStop, "###"]);
    // The kept rollout ends with the tokens that completed the stop, as a sampler's stop would have left it.
    const kept = groups[0]![0]!;
    await b.trainPolicy([{ rolloutId: kept.rolloutId, advantage: 1 }], { learningRate: 1e-5 });
    const targets: number[] = calls().find((c) => c.call === "forward_backward").datums[0].loss_fn_inputs.target_tokens.data;
    expect(targets.slice(-3)).toEqual(encode("###"));
    expect(targets.filter((t) => t !== 0)).toHaveLength(kept.tokenCount);
    // A stop that never appears changes nothing.
    const free = await b.sample(["Count"], 1, { temperature: 1, maxTokens: 64, stop: ["@@"] });
    expect(free[0]![0]!.text).toBe("4 ### and more text");
    await b.close();
  });

  it("counts the tokens each operation processed, by the meters the service bills: prefill (cache hits apart), sampled, trained", async () => {
    const { b, calls } = backend();
    await b.open(f.model, { loraRank: 8 });
    const prompts = ["What is 2 + 2?", "And 3 + 4?"];
    const first = await b.sample(prompts, 3, { temperature: 1, maxTokens: 32 });
    const lengths = prompts.map((q) => encode(f.prompt(q)).length);
    const sampled = (gs: typeof first) => gs.flat().reduce((n, c) => n + c.tokenCount, 0);
    // A prompt read once at the full rate; its other two samples share it from the prefix cache.
    expect(b.usage).toEqual({ prefill: lengths[0]! + lengths[1]!, cachedPrefill: 2 * (lengths[0]! + lengths[1]!), sampled: sampled(first), trained: 0 });
    const again = await b.sample(prompts, 3, { temperature: 1, maxTokens: 32 });
    // The service has these prompts in its prefix cache now: no full-rate prefill.
    expect(
      calls()
        .filter((c) => c.call === "sample")
        .slice(-2)
        .map((c) => c.prompt_cache_hit_tokens),
    ).toEqual(lengths);
    expect(b.usage).toMatchObject({
      prefill: lengths[0]! + lengths[1]!,
      cachedPrefill: 5 * (lengths[0]! + lengths[1]!),
      sampled: sampled(first) + sampled(again),
    });
    await b.trainPolicy(
      again[0]!.map((c, i) => ({ rolloutId: c.rolloutId, advantage: i - 1 })),
      { learningRate: 1e-5 },
    );
    const policy = calls()
      .filter((c) => c.call === "forward_backward")
      .at(-1).datums as Array<{ model_input: number[] }>;
    const afterPolicy = b.usage.trained;
    expect(afterPolicy).toBe(policy.reduce((n, d) => n + d.model_input.length, 0));
    await b.trainSupervised([{ prompt: "Hi", response: "Yo" }], { learningRate: 1e-4 });
    const sft = calls()
      .filter((c) => c.call === "forward_backward")
      .at(-1).datums[0].model_input.length;
    expect(b.usage.trained).toBe(afterPolicy + sft);
    const prefillBefore = b.usage.prefill;
    await b.evalSupervised([{ prompt: "Hi", response: "Yo" }]);
    // A forward pass without backward is billed as prefill.
    expect(b.usage.prefill).toBe(prefillBefore + sft);
    expect(b.usage.trained).toBe(afterPolicy + sft);
    await b.close();
  });

  it("saves and restores state: in the same worker, and in a fresh one with or without the checkpoint's record", async () => {
    const { b, calls, dir } = backend();
    await b.open(f.model, { loraRank: 8 });
    const saved = await b.saveState("step-3", { method: "grpo", counters: { grpoIterations: 3 } });
    expect(saved.path).toMatch(/^tinker:\/\/.+\/weights\/step-3$/);
    const loaded = await b.loadState(saved.path);
    expect(loaded.meta).toEqual({ method: "grpo", counters: { grpoIterations: 3 } });
    expect(calls().find((c) => c.call === "load_state_with_optimizer")).toMatchObject({ path: saved.path });
    await b.close();

    // A restarted worker that has the checkpoint's record (the index beside the run).
    const withIndex = freshBackend(path.join(dir, "ckpt"));
    const restored = await withIndex.b.loadState(saved.path);
    expect(restored.card).toMatchObject({ baseModel: f.model, renderer: f.renderer, stop: [...f.stop], loraRank: 8 });
    expect(restored.meta).toEqual({ method: "grpo", counters: { grpoIterations: 3 } });
    expect(withIndex.calls().map((c) => c.call)).toContain("create_training_client_from_state_with_optimizer");
    expect((await withIndex.b.sample(["What is 2 + 2?"], 1, { temperature: 1, maxTokens: 64 }))[0]![0]!.text).toBe("4");
    await withIndex.b.close();

    // Another machine: no record of the path, so the service says which model it holds.
    const elsewhere = freshBackend(tempDir("tl-tinker-other-ckpt-"));
    const there = await elsewhere.b.loadState(saved.path);
    expect(there.card).toMatchObject({ baseModel: f.model, renderer: f.renderer, stop: [...f.stop], loraRank: 8 });
    expect(there.meta).toEqual({});
    expect((await elsewhere.b.sample(["What is 2 + 2?"], 1, { temperature: 1, maxTokens: 64 }))[0]![0]!.text).toBe("4");
    const st = await elsewhere.b.trainSupervised([{ prompt: "Hi", response: "Yo" }], { learningRate: 1e-4 });
    expect(st.tokens).toBe(encode(f.answer("Yo")).length);
    await elsewhere.b.close();
  });
});

describe("Tinker backend: replacing rolling resume points", () => {
  it("lists the run's saved states from its index and deletes one by its path through the SDK, with no session open", async () => {
    const { b, dir } = backend();
    await b.open(MODEL, { loraRank: 8 });
    const older = await b.saveState("resume-iter3-turn9", {});
    const newer = await b.saveState("resume-iter6-turn15", {});
    expect((await b.listStates()).sort()).toEqual([older.path, newer.path].sort());
    await b.close();
    // A fresh worker (after a crash): only the index beside the run knows the checkpoints.
    const fresh = freshBackend(path.join(dir, "ckpt"));
    await fresh.b.deleteState(older.path);
    expect(fresh.calls().filter((c) => c.call === "delete_checkpoint_from_tinker_path")).toEqual([
      { call: "delete_checkpoint_from_tinker_path", path: older.path },
    ]);
    expect(await fresh.b.listStates()).toEqual([newer.path]);
    await expect(fresh.b.deleteState("/etc/passwd")).rejects.toThrow(/tinker:\/\/ path/);
    await fresh.b.close();
  });
});

describe("Tinker backend through the Python worker (fake SDK)", () => {
  it("refuses a checkpoint of another base model, whether or not it is in the index, and keeps the open session", async () => {
    const { b, dir } = backend();
    await b.open("Qwen/Qwen3-8B", { loraRank: 8 });
    const qwen = await b.saveState("q", {});
    await b.close();
    const { b: llama } = backend();
    const card = await llama.open(MODEL, { loraRank: 8 });
    // Not in this run's index (another machine's path): the worker asks the service and refuses.
    await expect(llama.loadState(qwen.path)).rejects.toThrow(/made from Qwen\/Qwen3-8B, but this session trains meta-llama\/Llama-3\.2-1B/);
    // In the index: refused before the worker is asked.
    fs.mkdirSync(path.join(dir, "ckpt"), { recursive: true });
    const index = { [qwen.path]: { name: "q", baseModel: "Qwen/Qwen3-8B", meta: {} } };
    fs.writeFileSync(path.join(dir, "ckpt", "tinker-checkpoints.json"), JSON.stringify(index));
    const indexed = new TinkerBackend({
      env: { PATH: process.env.PATH, PYTHONPATH: FAKE_SDK, TINKER_API_KEY: "tml-fake-key-123" },
      checkpointDir: path.join(dir, "ckpt"),
    });
    await indexed.open(MODEL, { loraRank: 8 });
    await expect(indexed.loadState(qwen.path)).rejects.toThrow(/made from Qwen\/Qwen3-8B/);
    await indexed.close();
    // The session that refused is untouched.
    expect((await llama.sample(["What is 2 + 2?"], 1, { temperature: 1, maxTokens: 64 }))[0]![0]!.text).toBe("4");
    expect(card.baseModel).toBe(MODEL);
    await llama.close();
  });

  it("a load that fails leaves no half-set state: the next load works", async () => {
    const { b } = backend();
    await b.open(MODEL, { loraRank: 4 });
    const saved = await b.saveState("good", {});
    await b.close();
    const { b: fresh } = freshBackend(tempDir("tl-tinker-none-"));
    await expect(fresh.loadState("tinker://no-such-run/weights/x")).rejects.toThrow(/not found/);
    await expect(fresh.sample(["x"], 1, { temperature: 1, maxTokens: 8 })).rejects.toThrow(/No model is open/);
    const ok = await fresh.loadState(saved.path);
    expect(ok.card).toMatchObject({ baseModel: MODEL, renderer: "role_colon" });
    expect((await fresh.sample(["What is 2 + 2?"], 1, { temperature: 1, maxTokens: 64 }))[0]![0]!.text).toBe("4");
    await fresh.close();
  });

  it("an open that fails (no renderer for the model) leaves the previous session working", async () => {
    const { b } = backend();
    await b.open(MODEL, { loraRank: 4 });
    await expect(b.request("open", { base_model: "acme/Unknown-1B", rank: 4 })).rejects.toThrow(/no renderer for 'acme\/Unknown-1B'/);
    expect((await b.sample(["What is 2 + 2?"], 1, { temperature: 1, maxTokens: 64 }))[0]![0]!.text).toBe("4");
    await b.close();
  });

  it("passes weight decay and gradient clipping to AdamParams when a step sets them", async () => {
    const { b, calls } = backend();
    await b.open(MODEL, { loraRank: 4 });
    await b.trainSupervised([{ prompt: "a", response: "b" }], { learningRate: 1e-4, eps: 1e-8, weightDecay: 0.01, gradClipNorm: 1 });
    expect(calls().find((c) => c.call === "optim_step")).toEqual({
      call: "optim_step",
      learning_rate: 1e-4,
      beta1: 0.9,
      beta2: 0.95,
      eps: 1e-8,
      weight_decay: 0.01,
      grad_clip_norm: 1,
    });
    await b.close();
  });

  it("when a server-side filter drops the per-token log-probs: SFT loss from the loss:sum metric, policy step without a KL", async () => {
    const normal = backend();
    await normal.b.open(MODEL, { loraRank: 4 });
    const expected = await normal.b.trainSupervised([{ prompt: "Hi", response: "Yo" }], { learningRate: 1e-4 });
    await normal.b.close();
    const { b } = backend({ TINKER_FAKE_MODE: "drop_logprobs" });
    await b.open(MODEL, { loraRank: 4 });
    const sft = await b.trainSupervised([{ prompt: "Hi", response: "Yo" }], { learningRate: 1e-4 });
    expect(sft.loss).toBeCloseTo(expected.loss);
    expect(sft.tokens).toBe(expected.tokens);
    const c = (await b.sample(["What is 2 + 2?"], 1, { temperature: 1, maxTokens: 64 }))[0]![0]!;
    const pg = await b.trainPolicy([{ rolloutId: c.rolloutId, advantage: 1 }], { learningRate: 1e-5 });
    expect(pg).toMatchObject({ kl: null, klSquared: null, tokens: c.tokenCount });
    expect(pg.loss).toBeCloseTo(-Math.exp(-0.51 - -0.25));
    await b.close();
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

  it("a line longer than the limit fails the call without being assembled, and the worker is restarted", async () => {
    const dir = tempDir();
    const big = path.join(dir, "big_worker.py");
    // Answers in 64 KiB writes that never end the line: the client must give up at its limit, not buffer it all.
    fs.writeFileSync(big, "import sys\nfor line in sys.stdin:\n    for _ in range(64):\n        sys.stdout.write('x' * 65536)\n        sys.stdout.flush()\n");
    const { b } = backend({}, { workerPath: big, maxLineBytes: 1024 * 1024 });
    await expect(b.open(MODEL, { loraRank: 4 })).rejects.toThrow(/a line of more than \d+ bytes \(limit 1048576\)/);
    const child = (b as unknown as { child?: { killed: boolean } }).child;
    expect(child === undefined || child.killed).toBe(true);
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

  it("requirements.txt pins the SDK and the cookbook to the versions test:real-sdk verifies", () => {
    const req = fs.readFileSync(path.join(REPO, "tools", "tinker", "backends", "tinker", "requirements.txt"), "utf8");
    const lines = req.split("\n").filter((l) => l.trim() && !l.startsWith("#"));
    expect(lines).toContain("tinker==0.25.0");
    expect(lines.some((l) => /^tinker-cookbook @ git\+https:\/\/github\.com\/thinking-machines-lab\/tinker-cookbook@[0-9a-f]{7,40}$/.test(l))).toBe(true);
  });

  it("drives a GRPO step and a sample with a stop string through the tinker MCP server for a Tinker model id", async () => {
    const dir = tempDir("tl-tinker-srv-");
    const s = await connectBundled("tinker", {
      PYTHONPATH: FAKE_SDK,
      TINKER_API_KEY: "tml-fake-key-123",
      TINKER_FAKE_LOG: path.join(dir, "calls.jsonl"),
      TINKERLOOP_CHECKPOINT_DIR: path.join(dir, "ckpt"),
      TINKER_FAKE_TEXT: "{n}. Done.",
    });
    try {
      const init = await s.call("init_grpo", { base_model: "meta-llama/Llama-3.1-8B-Instruct" });
      expect(init.isError, init.text).toBe(false);
      expect(init.structured).toMatchObject({ backend: "tinker", group_size: 16 });
      expect(init.text).toMatch(/Registry: Instruction model, Dense, 8B active parameters; recommended group_size 16; renderer llama3/);
      const reward = "def compute_reward(completion, ground_truth):\n    return 1.0 if completion.startswith(ground_truth) else 0.0\n";
      const r = await s.call("train_grpo_step", {
        prompts: [
          { prompt: "What is 2 + 2?", ground_truth: "4" },
          { prompt: "What is 2 + 3?", ground_truth: "5" },
        ],
        reward_function: reward,
      });
      expect(r.isError, r.text).toBe(false);
      const g = r.structured.iterations[0].groups;
      expect(g).toMatchObject({ total: 2, mixed: 2 });
      expect(r.structured.iterations[0].kl).not.toBeNull();
      const plain = await s.call("sample", { prompt: "What is 2 + 2?", n: 1 });
      expect(plain.structured.completions[0]).toMatchObject({ text: "4. Done.", finish_reason: "stop" });
      const stopped = await s.call("sample", { prompt: "What is 2 + 2?", n: 1, stop: ["."] });
      expect(stopped.structured.completions[0]).toMatchObject({ text: "4", finish_reason: "stop" });
    } finally {
      await s.close();
    }
  });
});

/** Datums and results recorded by the client that still sent tokens and log-probs from TypeScript (see _about in the file). */
const BEFORE = JSON.parse(fs.readFileSync(path.join(REPO, "test", "fixtures", "tinker-policy-datums.json"), "utf8")) as Record<
  string,
  { forwardBackward: string; result: Record<string, number> }
>;

describe("rollouts stay in the worker: only ids, texts, finish reasons and counts cross the pipe", () => {
  it.each(FORMATS)("policy datums built in the worker equal, byte for byte, the ones the client built from sent tokens ($renderer)", async (f) => {
    const { b, dir } = backend({ TINKER_FAKE_TEXT: "{n} apples" });
    await b.open(f.model, { loraRank: 8 });
    const prompts = ["What is 2 + 2?", "Name a color."];
    const groups = await b.sample(prompts, 2, { temperature: 1, maxTokens: 64 });
    const adv = [1.5, -0.5, 0.25, 1.0];
    const res = await b.trainPolicy(
      groups.flat().map((c, k) => ({ rolloutId: c.rolloutId, advantage: adv[k]! })),
      { learningRate: 1e-5 },
    );
    await b.close();
    const line = fs
      .readFileSync(path.join(dir, "calls.jsonl"), "utf8")
      .split("\n")
      .find((l) => l.startsWith('{"call": "forward_backward"'));
    expect(line).toBe(BEFORE[f.model]!.forwardBackward);
    // The step's own figures are unchanged; how far it moved the policy is measured after it, with a forward pass.
    const { klAfter, ...figures } = res;
    expect(figures).toEqual(BEFORE[f.model]!.result);
    expect(klAfter).toEqual(expect.any(Number));
  });

  it("refuses stale and unknown rollout ids with the reason, and a batch is used once", async () => {
    const { b } = backend();
    await b.open(MODEL, { loraRank: 4 });
    const step = (ids: string[]) =>
      b.trainPolicy(
        ids.map((rolloutId) => ({ rolloutId, advantage: 1 })),
        { learningRate: 1e-5 },
      );
    const first = (await b.sample(["What is 2 + 2?"], 2, { temperature: 1, maxTokens: 64 }))[0]!.map((c) => c.rolloutId);
    const second = (await b.sample(["What is 2 + 2?"], 2, { temperature: 1, maxTokens: 64 }))[0]!.map((c) => c.rolloutId);
    await expect(step(first)).rejects.toThrow(/stale_rollout.*is stale.*a later sample call replaced them/);
    // The refused step consumed the batch too: sample again.
    await expect(step(second)).rejects.toThrow(/stale_rollout/);
    const third = (await b.sample(["What is 2 + 2?"], 2, { temperature: 1, maxTokens: 64 }))[0]!.map((c) => c.rolloutId);
    await expect(step([third[0]!, third[0]!])).rejects.toThrow(/bad_rollout.*listed twice/);
    const fourth = (await b.sample(["What is 2 + 2?"], 2, { temperature: 1, maxTokens: 64 }))[0]!.map((c) => c.rolloutId);
    expect((await step(fourth)).tokens).toBeGreaterThan(0);
    await expect(step(fourth)).rejects.toThrow(/is stale.*a training step changed the weights/);
    const fifth = (await b.sample(["What is 2 + 2?"], 2, { temperature: 1, maxTokens: 64 }))[0]!.map((c) => c.rolloutId);
    await b.trainSupervised([{ prompt: "a", response: "b" }], { learningRate: 1e-4 });
    await expect(step(fifth)).rejects.toThrow(/is stale.*a training step changed the weights/);
    await expect(step(["r-1-0"])).rejects.toThrow(/unknown_rollout.*Unknown rollout id|unknown rollout id "r-1-0"/);
    await expect(step(["abcdef-1-0"])).rejects.toThrow(/sampled by another worker process/);
    const sixth = (await b.sample(["What is 2 + 2?"], 2, { temperature: 1, maxTokens: 64 }))[0]!.map((c) => c.rolloutId);
    const saved = await b.saveState("s", {});
    await b.loadState(saved.path);
    await expect(step(sixth)).rejects.toThrow(/is stale.*opened or loaded again/);
    await b.close();
  });

  it("a GRPO-sized batch sends texts one group a line, and the policy step sends ids and advantages only", async () => {
    const tokens = 3000;
    const { b } = backend({ TINKER_FAKE_SAMPLE_TOKENS: String(tokens) });
    await b.open(MODEL, { loraRank: 4 });
    const pid = (b as unknown as { child: { pid: number } }).child.pid;
    const io = () => {
      const text = fs.readFileSync(`/proc/${pid}/io`, "utf8");
      const get = (k: string) => Number(new RegExp(`^${k}: (\\d+)$`, "m").exec(text)?.[1] ?? NaN);
      return { rchar: get("rchar"), wchar: get("wchar") };
    };
    const prompts = Array.from({ length: 8 }, (_, i) => `Prompt ${i}`);
    const before = io();
    const groups = await b.sample(prompts, 4, { temperature: 1, maxTokens: tokens });
    const afterSample = io();
    const textBytes = groups.flat().reduce((n, c) => n + Buffer.byteLength(JSON.stringify(c.text)), 0);
    expect(groups.flat().every((c) => c.tokenCount === tokens)).toBe(true);
    // Out: the texts and a few bytes per completion; no token ids or log-probs (they would be ~10x the texts).
    expect(afterSample.wchar - before.wchar).toBeLessThan(textBytes + 200 * 32);
    const res = await b.trainPolicy(
      groups.flat().map((c, k) => ({ rolloutId: c.rolloutId, advantage: k % 2 ? 1 : -1 })),
      { learningRate: 1e-5 },
    );
    expect(res.tokens).toBe(32 * tokens);
    // In: ids and advantages, about 60 bytes a rollout.
    expect(io().rchar - afterSample.rchar).toBeLessThan(32 * 100 + 500);
    await b.close();
  });
});

describe("the fake SDK is at least as strict as tinker 0.25", () => {
  it("refuses what the real SDK refuses (mixed stop lists, floats and arrays as token ids, TensorData without dtype, unknown list keys in a Datum, unknown AdamParams fields)", () => {
    const out = execFileSync("python3", [path.join(FAKE_SDK, "strictness_probe.py")], {
      env: { PATH: process.env.PATH, PYTHONPATH: FAKE_SDK, TINKER_API_KEY: "tml-fake" },
      encoding: "utf8",
    });
    const verdicts = JSON.parse(out) as Record<string, "accepted" | "refused">;
    // Case names say what the real SDK does (test:real-sdk checks them against it); the fake refuses those and the stricter ones.
    const refused = Object.entries(verdicts)
      .filter(([, v]) => v === "refused")
      .map(([k]) => k);
    expect(refused.sort()).toEqual(
      Object.keys(verdicts)
        .filter((k) => !k.startsWith("accept:"))
        .sort(),
    );
    expect(Object.keys(verdicts).filter((k) => k.startsWith("refuse:")).length).toBeGreaterThanOrEqual(12);
  });
});

import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { TinkerBackend } from "../../tools/tinker/backends/tinker/client.ts";
import { tempDir } from "../helpers.ts";
import { FORMATS, backend, FAKE_SDK } from "./tinker-fake-backend.ts";

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

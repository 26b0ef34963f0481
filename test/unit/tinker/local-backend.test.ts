import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../../tools/tinker/backends/local/backend.ts";
import { DEFAULT_MODELS_DIR } from "../../../lib/package-paths.ts";
import { tempDir } from "../../helpers.ts";

const MODEL = "local/tiny-arith";
const adam = (lr: number) => ({ learningRate: lr });

let backend: LocalBackend;
let checkpoints: string;

beforeAll(async () => {
  checkpoints = tempDir("tl-ckpt-");
  backend = new LocalBackend({ checkpointDir: checkpoints });
  await backend.open(MODEL, { loraRank: 8, seed: 1 });
});
afterAll(async () => {
  await backend.close();
});

const sftSet = [
  { prompt: "Say hi", response: "hello there" },
  { prompt: "Colour of sky?", response: "blue, mostly" },
  { prompt: "Name a fruit", response: "a ripe mango" },
  { prompt: "Capital of Oslo land?", response: "Norway has Oslo" },
];

describe("local CPU backend", () => {
  it("opens a shipped model and reports its card", async () => {
    const b = new LocalBackend({ checkpointDir: tempDir() });
    const card = await b.open(MODEL, { loraRank: 4 });
    // The base model's size as its manifest declares it; the adapter's, counted here from the
    // shapes LoRA adds (A: in × rank, B: rank × out) to each layer's qkv, output and MLP weights.
    const manifest = JSON.parse(fs.readFileSync(path.join(DEFAULT_MODELS_DIR, "tiny-arith", "manifest.json"), "utf8"));
    const { dModel: d, dFF: ff, nLayers } = manifest.config;
    const lora = nLayers * 4 * (d + 3 * d + (d + d) + (d + ff) + (ff + d));
    expect(card).toMatchObject({ baseModel: MODEL, backend: "local", loraRank: 4, parameters: manifest.parameters, trainableParameters: lora });
    expect(card.parameters).toBeGreaterThan(50_000);
    await b.close();
    await expect(b.open("local/no-such-model", { loraRank: 4 })).rejects.toThrow(/no local model 'local\/no-such-model'.*tiny-arith/i);
  });

  it("ships a model whose arithmetic holdout accuracy starts between 5% and 40%, with its manifest's figure", async () => {
    const { generate } = await import("../../../lib/generators/generate.ts");
    const manifest = JSON.parse(fs.readFileSync(path.join(DEFAULT_MODELS_DIR, "tiny-arith", "manifest.json"), "utf8"));
    const holdout = generate("arithmetic", { n: 200, seed: 2, difficulty: 1, split: "eval" }).items;
    const groups = await backend.sample(
      holdout.map((h) => h.prompt),
      8,
      { temperature: 1, maxTokens: 8, seed: 11 },
    );
    const right = groups.reduce((n, g, i) => n + g.filter((c) => c.text.trim() === holdout[i]!.ground_truth).length, 0);
    const accuracy = right / (holdout.length * 8);
    expect(accuracy).toBeGreaterThan(0.05);
    expect(accuracy).toBeLessThan(0.4);
    expect(manifest.baseline.sampledExactAccuracyT1x8).toBeGreaterThan(0.05);
    expect(manifest.baseline.sampledExactAccuracyT1x8).toBeLessThan(0.4);
  });

  it("samples deterministically at temperature 0, honours stop sequences, and reports log-probs a full forward pass reproduces", async () => {
    const prompts = ["What is 21 + 34?", "JSON with name Bob, age 40"];
    const a = await backend.sample(prompts, 2, { temperature: 0, maxTokens: 12 });
    const b = await backend.sample(prompts, 2, { temperature: 0, maxTokens: 12, seed: 5 });
    expect(a.map((g) => g.map((c) => c.text))).toEqual(b.map((g) => g.map((c) => c.text)));
    expect(a[0]![0]!.text).toBe(a[0]![1]!.text);

    const free = await backend.sample(["Reverse: hello"], 1, { temperature: 0, maxTokens: 20, stop: [] });
    const text = free[0]![0]!.text;
    const stopAt = text.length > 2 ? text[1]! : undefined;
    if (stopAt) {
      const stopped = await backend.sample(["Reverse: hello"], 1, { temperature: 0, maxTokens: 20, stop: [stopAt] });
      expect(stopped[0]![0]!.finishReason).toBe("stop");
      expect(stopped[0]![0]!.text.length).toBeLessThan(text.length);
    }

    const hot = await backend.sample(["What is 45 + 17?", "Uppercase: abc"], 3, { temperature: 1, maxTokens: 10, seed: 7 });
    for (const [i, group] of hot.entries()) {
      for (const c of group) {
        const kept = backend.keptRollout(c.rolloutId)!;
        expect(kept.prompt).toBe(i === 0 ? "What is 45 + 17?" : "Uppercase: abc");
        expect(kept.tokens).toHaveLength(c.tokenCount);
        const recomputed = await backend.scoreTokens(kept.prompt, kept.tokens);
        expect(recomputed).toHaveLength(kept.logprobs.length);
        for (const [t, lp] of recomputed.entries()) expect(Math.abs(lp - kept.logprobs[t]!)).toBeLessThan(1e-3);
      }
    }
  });

  it("round-trips a saved state: same greedy samples and Adam state; refuses a foreign base model and a damaged file", async () => {
    const b = new LocalBackend({ checkpointDir: checkpoints });
    await b.open(MODEL, { loraRank: 8, seed: 11 });
    for (let i = 0; i < 3; i++) await b.trainSupervised(sftSet, adam(5e-3));
    const probe = ["Say hi", "What is 5 + 5?"];
    const want = await b.sample(probe, 1, { temperature: 0, maxTokens: 10 });
    const saved = await b.saveState("roundtrip", { method: "sft", steps: 3 });
    const optimizerFile = path.join(checkpoints, "roundtrip", "optimizer.bin");
    const optimizerBytes = fs.readFileSync(optimizerFile);
    for (let i = 0; i < 3; i++) await b.trainSupervised(sftSet, adam(5e-2));
    await b.close();

    const c = new LocalBackend({ checkpointDir: checkpoints });
    await c.open(MODEL, { loraRank: 8, seed: 99 });
    const { meta } = await c.loadState(saved.path);
    expect(meta).toEqual({ method: "sft", steps: 3 });
    expect((await c.sample(probe, 1, { temperature: 0, maxTokens: 10 })).map((g) => g[0]!.text)).toEqual(want.map((g) => g[0]!.text));
    const again = await c.saveState("roundtrip-again", {});
    expect(fs.readFileSync(path.join(checkpoints, again.path.slice(8), "optimizer.bin")).equals(optimizerBytes)).toBe(true);

    // A state claiming another base model is refused.
    const foreign = path.join(checkpoints, "foreign");
    fs.cpSync(path.join(checkpoints, "roundtrip"), foreign, { recursive: true });
    const st = JSON.parse(fs.readFileSync(path.join(foreign, "state.json"), "utf8"));
    fs.writeFileSync(path.join(foreign, "state.json"), JSON.stringify({ ...st, baseModel: "local/other-model" }));
    await expect(c.loadState("local://foreign")).rejects.toThrow(/made from local\/other-model/);

    // A flipped byte in the adapters is caught by the checksum.
    const damaged = path.join(checkpoints, "damaged");
    fs.cpSync(path.join(checkpoints, "roundtrip"), damaged, { recursive: true });
    const bytes = fs.readFileSync(path.join(damaged, "adapters.bin"));
    bytes[10] = bytes[10]! ^ 0xff;
    fs.writeFileSync(path.join(damaged, "adapters.bin"), bytes);
    await expect(c.loadState("local://damaged")).rejects.toThrow(/damaged.*corrupted/);
    await expect(c.loadState("local://never-saved")).rejects.toThrow(/No checkpoint/);
    await c.close();
  });

  it("samples on the adapters as they are now: the weights it keeps folded between calls are refolded after a step and after a load", async () => {
    const b = new LocalBackend({ checkpointDir: checkpoints });
    await b.open(MODEL, { loraRank: 8, seed: 21 });
    const draw = async (x: LocalBackend) =>
      (await x.sample(["What is 12 + 30?", "Say hi"], 2, { temperature: 1, maxTokens: 8, seed: 3 })).flat().map((c) => {
        const k = x.keptRollout(c.rolloutId)!;
        return { tokens: k.tokens, logprobs: k.logprobs };
      });
    const before = await draw(b);
    expect(await draw(b)).toEqual(before);
    const start = await b.saveState("fold-0", {});
    await b.trainSupervised(sftSet, adam(5e-2));
    const stepped = await b.saveState("fold-1", {});
    const after = await draw(b);
    expect(after.map((r) => r.logprobs)).not.toEqual(before.map((r) => r.logprobs));
    await b.loadState(start.path);
    expect(await draw(b)).toEqual(before);
    await b.close();
    // A backend that never sampled the old adapters draws what the stepped one drew.
    const fresh = new LocalBackend({ checkpointDir: checkpoints });
    await fresh.open(MODEL, { loraRank: 8, seed: 5 });
    await fresh.loadState(stepped.path);
    expect(await draw(fresh)).toEqual(after);
    await fresh.close();
  });

  it("refuses a corrupted base weight file with a clear error", async () => {
    const models = tempDir("tl-models-");
    fs.cpSync(path.join(DEFAULT_MODELS_DIR, "tiny-arith"), path.join(models, "tiny-arith"), { recursive: true });
    const file = path.join(models, "tiny-arith", "weights.bin");
    const bytes = fs.readFileSync(file);
    bytes[100] = bytes[100]! ^ 0x55;
    fs.writeFileSync(file, bytes);
    const b = new LocalBackend({ modelsDir: models, checkpointDir: tempDir() });
    await expect(b.open(MODEL, { loraRank: 4 })).rejects.toThrow(/corrupted.*SHA-256/);
  });

  it("keeps rollouts beside the model: a policy step on ids trains exactly what sending tokens trained, and stale or unknown ids are refused", async () => {
    const ids = new LocalBackend({ checkpointDir: tempDir() });
    const direct = new LocalBackend({ checkpointDir: tempDir() });
    await ids.open(MODEL, { loraRank: 4, seed: 3 });
    await direct.open(MODEL, { loraRank: 4, seed: 3 });
    const prompts = ["What is 2 + 5?", "What is 3 + 3?"];
    const a = await ids.sample(prompts, 2, { temperature: 1, maxTokens: 4, seed: 11 });
    const b = await direct.sample(prompts, 2, { temperature: 1, maxTokens: 4, seed: 11 });
    const adv = [1, -0.5, 0.25, -0.75];
    const viaIds = await ids.trainPolicy(
      a.flat().map((c, k) => ({ rolloutId: c.rolloutId, advantage: adv[k]! })),
      adam(1e-3),
    );
    // What trainPolicy did when the harness sent prompt, tokens and log-probs: the same sequences, built here from the kept rollouts.
    const kept = b.flat().map((c) => direct.keptRollout(c.rolloutId)!);
    const { rolloutSequence } = await import("../../../tools/tinker/backends/local/batch.ts");
    const engine = (direct as unknown as { session: { engine: { policy: (s: unknown[], o: unknown) => Promise<unknown> }; card: { contextLength: number } } })
      .session;
    const viaTokens = await engine.engine.policy(
      kept.map((r, k) => rolloutSequence(r.prompt, r.tokens, r.logprobs, adv[k]!, engine.card.contextLength)),
      { learningRate: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 },
    );
    expect(viaIds).toEqual(viaTokens);

    const step = (rolloutIds: string[]) =>
      ids.trainPolicy(
        rolloutIds.map((rolloutId) => ({ rolloutId, advantage: 1 })),
        adam(1e-3),
      );
    await expect(step([a[0]![0]!.rolloutId])).rejects.toThrow(/is stale.*a training step changed the weights/);
    const first = (await ids.sample(prompts, 2, { temperature: 1, maxTokens: 4 })).flat().map((c) => c.rolloutId);
    await ids.sample(prompts, 2, { temperature: 1, maxTokens: 4 });
    await expect(step(first)).rejects.toThrow(/is stale.*a later sample call replaced them/);
    await expect(step(["nope"])).rejects.toThrow(/Unknown rollout id "nope"/);
    const fresh = (await direct.sample(prompts, 1, { temperature: 1, maxTokens: 4 })).flat().map((c) => c.rolloutId);
    await expect(step(fresh)).rejects.toThrow(/sampled by another backend/);
    await ids.close();
    await direct.close();
  });
});

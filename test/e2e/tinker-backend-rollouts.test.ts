import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "../helpers.ts";
import { FORMATS, backend, FAKE_SDK } from "./tinker-fake-backend.ts";

const MODEL = "meta-llama/Llama-3.2-1B";

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

import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../tools/tinker/backends/local/backend.ts";
import { tf } from "../../tools/tinker/backends/local/tf-runtime.ts";
import { tempDir } from "../helpers.ts";

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
  it("cuts the response loss by at least a third in 40 SFT steps, and eval changes nothing", async () => {
    const b = new LocalBackend({ checkpointDir: tempDir() });
    await b.open(MODEL, { loraRank: 8, seed: 3 });
    const before = (await b.evalSupervised(sftSet)).loss;
    for (let i = 0; i < 40; i++) await b.trainSupervised(sftSet, adam(1e-2));
    const after = (await b.evalSupervised(sftSet)).loss;
    expect(after).toBeLessThan(before * (2 / 3));

    // evalSupervised leaves weights and optimizer state bit-identical.
    const s1 = await b.saveState("before-eval", {});
    await b.evalSupervised(sftSet);
    const s2 = await b.saveState("after-eval", {});
    const dir = (p: string) => path.join((b as unknown as { opts: { checkpointDir: string } }).opts.checkpointDir, p.slice("local://".length));
    for (const f of ["adapters.bin", "optimizer.bin"]) {
      expect(fs.readFileSync(path.join(dir(s2.path), f)).equals(fs.readFileSync(path.join(dir(s1.path), f)))).toBe(true);
    }
    await b.close();
  });

  it("raises the mean reward of a toy task with the policy-gradient loss", async () => {
    const b = new LocalBackend({ checkpointDir: tempDir() });
    await b.open(MODEL, { loraRank: 8, seed: 5 });
    const prompts = ["What is 3 + 4?", "What is 12 + 30?", "Reverse: abc", "JSON with name Ann"];
    // Reward: the completion starts with the character "7".
    const reward = (text: string): number => (text.startsWith("7") ? 1 : 0);
    const meanReward = async () => {
      const groups = await b.sample(prompts, 16, { temperature: 1, maxTokens: 4, seed: 99 });
      return groups.flat().reduce((a, c) => a + reward(c.text), 0) / (prompts.length * 16);
    };
    const start = await meanReward();
    for (let step = 0; step < 40; step++) {
      const groups = await b.sample(prompts, 8, { temperature: 1, maxTokens: 4, seed: 1000 + step });
      const rollouts = groups.flatMap((g, _i) => {
        const r = g.map((c) => reward(c.text));
        const mean = r.reduce((a, x) => a + x, 0) / r.length;
        return g.map((c, j) => ({ rolloutId: c.rolloutId, advantage: r[j]! - mean }));
      });
      await b.trainPolicy(rollouts, adam(3e-3));
    }
    const end = await meanReward();
    expect(end).toBeGreaterThan(start + 0.2);
    await b.close();
  });

  it("keeps the live tensor count flat over 200 mixed steps", async () => {
    const b = new LocalBackend({ checkpointDir: tempDir() });
    await b.open(MODEL, { loraRank: 4, seed: 2 });
    const mixed = async (i: number) => {
      if (i % 3 === 0) await b.trainSupervised(sftSet.slice(0, 2), adam(1e-3));
      else if (i % 3 === 1) await b.evalSupervised(sftSet.slice(0, 2));
      else {
        const g = await b.sample(["What is 1 + 2?"], 2, { temperature: 1, maxTokens: 3, seed: i });
        await b.trainPolicy(
          g[0]!.map((c, j) => ({ rolloutId: c.rolloutId, advantage: j === 0 ? 1 : -1 })),
          adam(1e-3),
        );
      }
    };
    // Everything a step makes must be released.
    const live = () => tf.memory().numTensors;
    for (let i = 0; i < 10; i++) await mixed(i);
    const baseline = live();
    for (let i = 10; i < 200; i++) await mixed(i);
    expect(live()).toBe(baseline);
    await b.close();
  });
});

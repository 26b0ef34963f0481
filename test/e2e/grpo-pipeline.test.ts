/**
 * Streamed and overlapped GRPO (issue 33) through the real client, Python worker and
 * reward sandbox over the fake Tinker SDK: which rollouts each step trains on, the
 * staleness limits, the same training as the sequential loop, a worker restart
 * mid-iteration; and the local backend, which runs the same arguments sequentially.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../tools/tinker/backends/local/backend.ts";
import { TinkerBackend } from "../../tools/tinker/backends/tinker/client.ts";
import { stagedResult } from "../../tools/tinker/backends/tinker/wire.ts";
import type { ArrivedGroup } from "../../tools/tinker/backend.ts";
import { runGrpo } from "../../tools/tinker/grpo.ts";
import type { GrpoArgs } from "../../tools/tinker/grpo.ts";
import { RewardSandbox } from "../../tools/tinker/reward/sandbox.ts";
import { TrainingSession } from "../../tools/tinker/session.ts";
import { REPO, tempDir } from "../helpers.ts";

const FAKE_SDK = path.join(REPO, "test", "fakes", "tinker-sdk");
const MODEL = "meta-llama/Llama-3.2-1B";
// The fake samples " 4", " 5", " 6", " 4", …: every group of 4 is mixed under an exact match of 4.
const REWARD = "def compute_reward(completion, ground_truth):\n    return 1.0 if completion.strip() == ground_truth else 0.0\n";
const PROMPTS = Array.from({ length: 8 }, (_, i) => ({ prompt: `What is ${i} + ${4 - i}?`, ground_truth: "4" }));

const sandbox = new RewardSandbox();
afterAll(() => sandbox.close());

type Call = { call: string; datums?: Array<{ model_input: number[]; loss_fn_inputs: Record<string, { data: number[] }> }>; prompt?: number[] };

function tinker(extra: Record<string, string> = {}) {
  const dir = tempDir("tl-grpo-pipe-");
  const log = path.join(dir, "calls.jsonl");
  const backend = new TinkerBackend({
    env: { PATH: process.env.PATH, PYTHONPATH: FAKE_SDK, TINKER_API_KEY: "tml-fake-key-123", TINKER_FAKE_LOG: log, ...extra },
    checkpointDir: path.join(dir, "ckpt"),
  });
  const calls = (): Call[] =>
    fs.existsSync(log)
      ? fs
          .readFileSync(log, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Call)
      : [];
  return { backend, calls, dir };
}

async function sessionOn(b: TinkerBackend | LocalBackend, model: string, dir: string, seed?: number): Promise<TrainingSession> {
  const s = new TrainingSession(dir);
  s.backend = b;
  s.card = await b.open(model, { loraRank: 4, ...(seed !== undefined ? { seed } : {}) });
  s.method = "grpo";
  s.groupSize = 4;
  return s;
}

const args = (o: Partial<GrpoArgs> = {}): GrpoArgs => ({
  prompts: PROMPTS,
  rewardFunction: REWARD,
  numIterations: 1,
  learningRate: 1e-5,
  warmupRatio: 0,
  scheduler: "constant",
  schedulerTotalSteps: undefined,
  temperature: 1,
  maxTokens: 16,
  autoCheckpoint: false,
  autoCheckpointThreshold: 1,
  autoCheckpointMinIterations: 0,
  normalizeAdvantages: true,
  ...o,
});

/** A policy datum as the service saw it, without the rollout id it came from. */
const datumKey = (d: NonNullable<Call["datums"]>[number]) => JSON.stringify([d.model_input, d.loss_fn_inputs]);
const trainedDatums = (calls: Call[]) =>
  calls
    .filter((c) => c.call === "forward_backward")
    .flatMap((c) => c.datums!.map(datumKey))
    .sort();

describe("streamed and overlapped GRPO on Tinker", () => {
  it("streamed minibatches train on exactly the rollouts of the groups with signal, as the sequential loop does, with one optimizer step", async () => {
    const seq = tinker();
    const streamed = tinker();
    const a = await runGrpo(await sessionOn(seq.backend, MODEL, seq.dir), sandbox, args(), () => undefined);
    const b = await runGrpo(await sessionOn(streamed.backend, MODEL, streamed.dir), sandbox, args({ streamMinibatches: 4 }), () => undefined);
    await seq.backend.close();
    await streamed.backend.close();
    const [x, y] = [a.iterations[0]!, b.iterations[0]!];
    expect(x.stepped && y.stepped).toBe(true);
    expect(y.minibatches).toBe(4);
    expect(x.minibatches).toBe(1);
    // Four forward-backward passes, then one optimizer step; the sequential loop made one pass.
    const ops = (calls: Call[]) => calls.filter((c) => ["forward_backward", "optim_step"].includes(c.call)).map((c) => c.call);
    expect(ops(streamed.calls())).toEqual(["forward_backward", "forward_backward", "forward_backward", "forward_backward", "optim_step"]);
    expect(ops(seq.calls())).toEqual(["forward_backward", "optim_step"]);
    // The same datums (tokens, old log-probs, advantages), only split differently.
    expect(trainedDatums(streamed.calls())).toEqual(trainedDatums(seq.calls()));
    expect(trainedDatums(seq.calls())).toHaveLength(x.samplesUsed);
    expect({ ...y, minibatches: 1, seconds: x.seconds }).toEqual({ ...x, loss: y.loss, kl: y.kl, klSampler: y.klSampler, klSquared: y.klSquared });
    expect(y.loss).toBeCloseTo(x.loss!, 10);
    expect(y.klSampler).toBeCloseTo(x.klSampler!, 10);
    expect(y.kl).toBeCloseTo(x.kl!, 10);
    expect(y.staleness).toEqual({ max: 0, mean: 0 });
  });

  it("on-policy, the next batch is requested with the step and sampled on the weights saved behind it", async () => {
    const t = tinker();
    const o = await runGrpo(await sessionOn(t.backend, MODEL, t.dir), sandbox, args({ numIterations: 3, streamMinibatches: 2 }), () => undefined);
    await t.backend.close();
    // The worker refuses a rollout staler than max_steps_off_policy (0): three steps means each batch was on-policy.
    expect(o.iterations.map((it) => [it.stepped, it.staleness?.max])).toEqual([
      [true, 0],
      [true, 0],
      [true, 0],
    ]);
    const seq = t.calls().map((c) => c.call);
    const steps = seq.flatMap((c, k) => (c === "optim_step" ? [k] : []));
    const saves = seq.flatMap((c, k) => (c === "save_weights_and_get_sampling_client" ? [k] : []));
    const samples = seq.flatMap((c, k) => (c === "sample" ? [k] : []));
    for (const [n, step] of steps.slice(0, 2).entries()) {
      const save = saves.find((k) => k > step)!;
      expect(save).toBeDefined();
      expect(samples[(n + 1) * PROMPTS.length]!).toBeGreaterThan(save);
    }
  });

  it("groups arrive one by one, each prompt's once, with ids the worker keeps", async () => {
    const t = tinker();
    await t.backend.open(MODEL, { loraRank: 4 });
    const got: ArrivedGroup[] = [];
    const r = await t.backend.pipeline.sampleAsCompleted(
      PROMPTS.map((p) => p.prompt),
      3,
      { temperature: 1, maxTokens: 16 },
      { keepSteps: 0, onGroup: (g) => got.push(g) },
    );
    expect(got.map((g) => g.index).sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const ids = got.flatMap((g) => g.completions.map((c) => c.rolloutId));
    expect(new Set(ids).size).toBe(24);
    expect(r.version).toBeGreaterThan(0);
    const pass = await t.backend.pipeline.forwardBackward(
      ids.map((rolloutId) => ({ rolloutId, advantage: 0.5 })),
      { maxStepsOffPolicy: 0 },
    );
    expect(pass.staleness).toEqual({ max: 0, mean: 0 });
    await t.backend.close();
  });

  it("staged advantages are only a cache: the step sends the datums it names, staged or not", async () => {
    const run = async (stage: Array<number | undefined>) => {
      const t = tinker();
      await t.backend.open(MODEL, { loraRank: 4 });
      const ids: string[] = [];
      await t.backend.pipeline.sampleAsCompleted(
        ["What is 2 + 2?"],
        4,
        { temperature: 1, maxTokens: 16 },
        {
          keepSteps: 0,
          onGroup: (g) => ids.push(...g.completions.map((c) => c.rolloutId)),
        },
      );
      const staged = ids.flatMap((rolloutId, k) => (stage[k] === undefined ? [] : [{ id: rolloutId, advantage: stage[k] }]));
      const r = await t.backend.call("stage_advantages", { rollouts: staged }, stagedResult);
      expect(r.staged).toBe(staged.length);
      await t.backend.pipeline.forwardBackward(
        ids.map((rolloutId, k) => ({ rolloutId, advantage: k % 2 ? -1 : 0.5 })),
        { maxStepsOffPolicy: 0 },
      );
      await t.backend.close();
      return t.calls().find((c) => c.call === "forward_backward")!.datums!;
    };
    const plain = await run([]);
    // Rollouts 0 and 1 staged with the step's advantages, 2 and 3 with others: the step's win.
    const cached = await run([0.5, -1, 2, 3]);
    expect(cached.map(datumKey)).toEqual(plain.map(datumKey));
    expect(cached.map((d) => Math.max(...d.loss_fn_inputs.advantages!.data.map(Math.abs)))).toEqual([0.5, 1, 0.5, 1]);
  });

  it("overlap k=1: the next batch is sampled while this one trains, trained one step later, never staler than allowed", async () => {
    const t = tinker();
    const o = await runGrpo(await sessionOn(t.backend, MODEL, t.dir), sandbox, args({ numIterations: 3, maxStepsOffPolicy: 1 }), () => undefined);
    await t.backend.close();
    expect(o.iterations.map((it) => it.stepped)).toEqual([true, true, true]);
    expect(o.iterations.map((it) => it.staleness?.max)).toEqual([0, 1, 1]);
    expect(o.iterations.map((it) => it.droppedStale)).toEqual([0, 0, 0]);
    // The order the service saw: batch 2 was requested before step 1, and trained after it.
    const seq = t.calls().map((c) => c.call);
    const samples = seq.flatMap((c, k) => (c === "sample" ? [k] : []));
    const steps = seq.flatMap((c, k) => (c === "optim_step" ? [k] : []));
    const fbs = seq.flatMap((c, k) => (c === "forward_backward" ? [k] : []));
    expect(samples).toHaveLength(3 * PROMPTS.length);
    expect(steps).toHaveLength(3);
    expect(samples[PROMPTS.length]!).toBeLessThan(steps[0]!);
    expect(fbs[1]!).toBeGreaterThan(steps[0]!);
    expect(samples[2 * PROMPTS.length]!).toBeLessThan(steps[1]!);
    // The KL of the step is the step's own move; the sampler's lag shows in kl_sampler.
    const [, second] = o.iterations;
    expect(second!.kl).toBeCloseTo(0.01, 6);
    expect(second!.klSampler).not.toBeCloseTo(o.iterations[0]!.klSampler!, 6);
  });

  it("staleness limits: a step refuses rollouts older than max_steps_off_policy, and a batch lives only as long as it asked", async () => {
    const t = tinker();
    await t.backend.open(MODEL, { loraRank: 4 });
    const ids: string[] = [];
    await t.backend.pipeline.sampleAsCompleted(
      ["What is 2 + 2?"],
      6,
      { temperature: 1, maxTokens: 16 },
      { keepSteps: 1, onGroup: (g) => ids.push(...g.completions.map((c) => c.rolloutId)) },
    );
    const pass = (some: string[], max: number) =>
      t.backend.pipeline.forwardBackward(
        some.map((rolloutId) => ({ rolloutId, advantage: 1 })),
        { maxStepsOffPolicy: max },
      );
    expect((await pass(ids.slice(0, 2), 0)).staleness.max).toBe(0);
    await t.backend.pipeline.optimStep({ learningRate: 1e-5 });
    await expect(pass(ids.slice(0, 1), 1)).rejects.toThrow(/already trained on it/);
    await expect(pass(ids.slice(2, 4), 0)).rejects.toThrow(/stale_rollout.*sampled 1 optimizer steps ago.*at most 0/);
    expect((await pass(ids.slice(2, 4), 1)).staleness).toEqual({ max: 1, mean: 1 });
    await t.backend.pipeline.optimStep({ learningRate: 1e-5 });
    await expect(pass(ids.slice(4, 6), 2)).rejects.toThrow(/is stale.*a training step changed the weights/);
    await t.backend.close();
  });

  it("survives a worker restart mid-iteration: the streamed call fails with the session lost, nothing dangles, and training resumes from the checkpoint", async () => {
    const t = tinker();
    const marker = path.join(t.dir, "die-once");
    const restarted = new TinkerBackend({
      env: { PATH: process.env.PATH, PYTHONPATH: FAKE_SDK, TINKER_API_KEY: "tml-fake-key-123", TINKER_FAKE_DIE_ONCE: marker },
      checkpointDir: path.join(t.dir, "ckpt"),
    });
    const s = await sessionOn(restarted, MODEL, t.dir);
    await runGrpo(s, sandbox, args({ streamMinibatches: 4 }), () => undefined);
    const saved = await restarted.saveState("before", { method: "grpo" });
    fs.writeFileSync(marker, "");
    await expect(runGrpo(s, sandbox, args({ numIterations: 2, streamMinibatches: 4, maxStepsOffPolicy: 1 }), () => undefined)).rejects.toThrow(
      /worker exited|session was lost|load your last checkpoint/i,
    );
    expect(fs.existsSync(marker)).toBe(false);
    await expect(restarted.pipeline.forwardBackward([{ rolloutId: "x", advantage: 1 }], { maxStepsOffPolicy: 0 })).rejects.toThrow(/session was lost/);
    await restarted.loadState(saved.path);
    const o = await runGrpo(s, sandbox, args({ numIterations: 2, streamMinibatches: 4, maxStepsOffPolicy: 1 }), () => undefined);
    expect(o.iterations.map((it) => it.stepped)).toEqual([true, true]);
    await restarted.close();
  });
});

describe("the local backend takes the same arguments and runs them sequentially", () => {
  it("gives the same result as without them, and says so", { timeout: 300_000 }, async () => {
    const run = async (o: Partial<GrpoArgs>) => {
      const b = new LocalBackend({ checkpointDir: tempDir() });
      const s = await sessionOn(b, "local/tiny-arith", tempDir(), 7);
      const out = await runGrpo(s, sandbox, args({ numIterations: 2, maxTokens: 6, learningRate: 1e-3, ...o }), () => undefined);
      await b.close();
      return out;
    };
    const plain = await run({});
    const asked = await run({ streamMinibatches: 4, maxStepsOffPolicy: 1 });
    const figures = (o: Awaited<ReturnType<typeof run>>) => o.iterations.map(({ seconds: _s, ...rest }) => rest);
    expect(figures(asked)).toEqual(figures(plain));
    expect(asked.warnings.join(" ")).toMatch(/runs GRPO sequentially/);
    expect(plain.warnings.join(" ")).not.toMatch(/sequentially/);
  });
});

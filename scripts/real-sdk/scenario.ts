/**
 * What `npm run test:real-sdk` checks for one model: the worker's calls on the real SDK,
 * from open to delete_state, each a line that passes or fails.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { modelInfo } from "../../tools/contracts/tinker-models.ts";
import { TinkerBackend } from "../../tools/tinker/backends/tinker/client.ts";
import { stagedResult } from "../../tools/tinker/backends/tinker/wire.ts";
import { LAUNCH } from "./chroot.ts";

export type Check = { ok: boolean; line: string };

export async function scenario(model: string, python: string, env: Record<string, string>, check: (ok: boolean, line: string) => void): Promise<void> {
  const backendIn = (checkpointDir: string) => new TinkerBackend({ env, checkpointDir, python, workerPath: LAUNCH });
  const step: Step = async <T>(what: string, fn: () => Promise<T>, verify: (r: T) => [boolean, string]): Promise<T | undefined> => {
    try {
      const r = await fn();
      const [ok, detail] = verify(r);
      check(ok, `${what}: ${detail}`);
      return r;
    } catch (err) {
      check(false, `${what}: ${(err as Error).message.split("\n")[0]}`);
      return undefined;
    }
  };
  const expected = modelInfo(model)?.renderer;
  const ckpt = fs.mkdtempSync(path.join(os.tmpdir(), "tl-real-sdk-ckpt-"));
  const b = backendIn(ckpt);
  let saved: { path: string } | undefined;
  try {
    await step(
      "open",
      () => b.open(model, { loraRank: 8 }),
      (c) => [
        c.renderer === expected && c.baseModel === model && c.loraRank === 8,
        `renderer ${c.renderer}, stop ${JSON.stringify(c.stop)}, rank ${c.loraRank}`,
      ],
    );
    const groups = await step(
      'sample, stop ["###"]',
      () => b.sample(["What is 2 + 2?"], 2, { temperature: 1, maxTokens: 64, stop: ["###"] }),
      (g) => {
        const texts = g[0]!.map((c) => c.text);
        return [
          JSON.stringify(texts) === JSON.stringify(["4 ", "5 "]) && g[0]!.every((c) => c.finishReason === "stop"),
          `${JSON.stringify(texts)} (${g[0]!.map((c) => `${c.finishReason}, ${c.tokenCount} tokens, ${c.rolloutId}`).join("; ")})`,
        ];
      },
    );
    // The prompt read once at the full rate, its second sample's copy from the prefix cache; every generated token (the stop string's too) sampled.
    const prompt = b.usage.prefill;
    await step(
      "  tokens counted",
      async () => ({ ...b.usage }),
      (u) => [
        u.prefill > 0 && u.cachedPrefill === prompt && u.sampled >= (groups?.[0] ?? []).reduce((n, c) => n + c.tokenCount, 0) && u.trained === 0,
        JSON.stringify(u),
      ],
    );
    await step(
      "train_supervised",
      () => b.trainSupervised([{ prompt: "What is 2 + 2?", response: "4" }], { learningRate: 1e-4 }),
      (r) => [
        Math.abs(r.loss - 0.5) < 1e-6 && r.tokens > 0 && b.usage.trained > r.tokens,
        `loss ${r.loss.toFixed(4)} over ${r.tokens} tokens; ${b.usage.trained} trained`,
      ],
    );
    const trained = b.usage.trained;
    await step(
      "eval_supervised",
      () => b.evalSupervised([{ prompt: "What is 2 + 2?", response: "4" }]),
      (r) => [
        Math.abs(r.loss - 0.51) < 1e-6 && b.usage.prefill === prompt + trained && b.usage.trained === trained,
        `loss ${r.loss.toFixed(4)} (after one step); a forward pass of ${b.usage.prefill - prompt} tokens billed as prefill`,
      ],
    );
    if (groups) {
      // SFT changed the weights, so the rollouts sampled before it are stale; the policy step needs a fresh sample.
      const stale = groups[0]!.map((c) => ({ rolloutId: c.rolloutId, advantage: 1 }));
      await step(
        "train_policy on rollouts from before the SFT step",
        () =>
          b.trainPolicy(stale, { learningRate: 1e-5 }).then(
            () => "accepted",
            (e: Error) => e.message,
          ),
        (m) => [/is stale/.test(m), m.split(":").slice(0, 2).join(":")],
      );
      const cachedBefore = b.usage.cachedPrefill;
      const prefillBefore = b.usage.prefill;
      const fresh = await b.sample(["What is 2 + 2?"], 2, { temperature: 1, maxTokens: 64 });
      await step(
        "  the same prompt again: served from the prefix cache",
        async () => ({ ...b.usage }),
        (u) => [u.prefill === prefillBefore && u.cachedPrefill === cachedBefore + 2 * prompt, JSON.stringify(u)],
      );
      const rollouts = fresh[0]!.map((c, j) => ({ rolloutId: c.rolloutId, advantage: j === 0 ? 1 : -0.5 }));
      const count = fresh[0]!.reduce((a, c) => a + c.tokenCount, 0);
      await step(
        "train_policy on kept rollouts",
        () => b.trainPolicy(rollouts, { learningRate: 1e-5 }),
        (r) => [r.kl !== null && r.loss !== null && r.tokens === count, `loss ${r.loss?.toFixed(4)}, KL ${r.kl?.toFixed(4)}, ${r.tokens} tokens`],
      );
    }
    await pipelined(b, step);
    saved = await step(
      "save_state",
      () => b.saveState("real-sdk", { method: "grpo", counters: { grpoIterations: 1 } }),
      (r) => [r.path.startsWith("tinker://"), r.path],
    );
    if (saved)
      await step(
        "load_state (same worker)",
        () => b.loadState(saved!.path),
        (r) => [r.card.baseModel === model, `${r.card.baseModel}, meta ${JSON.stringify(r.meta)}`],
      );
  } finally {
    await b.close();
  }
  if (!saved) return;
  const restored = async (what: string, checkpointDir: string) => {
    const fresh = backendIn(checkpointDir);
    try {
      await step(
        what,
        () => fresh.loadState(saved!.path),
        (r) => [r.card.baseModel === model && r.card.renderer === expected, `${r.card.baseModel}, renderer ${r.card.renderer}, rank ${r.card.loraRank}`],
      );
      await step(
        "  then sample",
        () => fresh.sample(["What is 2 + 2?"], 1, { temperature: 1, maxTokens: 64 }),
        (g) => [g[0]![0]!.text.startsWith("4"), JSON.stringify(g[0]![0]!.text)],
      );
    } finally {
      await fresh.close();
    }
  };
  await restored("load_state in a fresh worker, with base_model (the checkpoint index knows it)", ckpt);
  await restored("load_state in a fresh worker, without base_model (no record of the path)", fs.mkdtempSync(path.join(os.tmpdir(), "tl-real-sdk-other-")));
  // How a rolling resume point is replaced: deleted by its path, from a worker with no session open.
  const deleter = backendIn(ckpt);
  try {
    await step(
      "delete_state (no session open)",
      () => deleter.deleteState(saved!.path).then(() => "deleted"),
      (m) => [m === "deleted", m],
    );
    await step(
      "  then load_state refuses it",
      () =>
        deleter.loadState(saved!.path).then(
          () => "loaded",
          (e: Error) => e.message,
        ),
      (m) => [m !== "loaded", m.split(":").slice(0, 2).join(":")],
    );
  } finally {
    await deleter.close();
  }
}

type Step = <T>(what: string, fn: () => Promise<T>, verify: (r: T) => [boolean, string]) => Promise<T | undefined>;

/**
 * The calls streamed and overlapped GRPO make (issue 33): a sample whose groups come back
 * as they complete (the SDK's concurrent futures) and is kept for a step, forward-backward
 * per minibatch, the optimizer step with the KL probe and the next sampler's save behind
 * it, a minibatch one step off-policy, the staleness limit, and sampling on the saved sampler.
 */
async function pipelined(b: TinkerBackend, step: Step): Promise<void> {
  const prompts = ["What is 2 + 2?", "What is 3 + 1?"];
  const groups = new Map<number, string[]>();
  const sampled = await step(
    "sample as groups complete, kept for one step",
    () =>
      b.pipeline.sampleAsCompleted(
        prompts,
        2,
        { temperature: 1, maxTokens: 64 },
        {
          keepSteps: 1,
          onGroup: (g) =>
            groups.set(
              g.index,
              g.completions.map((c) => c.rolloutId),
            ),
        },
      ),
    (r) => [groups.size === 2 && [0, 1].every((i) => groups.get(i)?.length === 2), `groups ${[...groups.keys()].join(", ")} back, version ${r.version}`],
  );
  if (!sampled) return;
  const rollouts = (i: number) => groups.get(i)!.map((rolloutId, j) => ({ rolloutId, advantage: j === 0 ? 1 : -1 }));
  await step(
    "stage the first group's advantages (its datums built before the step)",
    () => b.call("stage_advantages", { rollouts: rollouts(0).map((r) => ({ id: r.rolloutId, advantage: r.advantage })) }, stagedResult),
    (r) => [r.staged === 2, `${r.staged} datums staged`],
  );
  await step(
    "forward_backward on the first group (a minibatch, on its staged datums)",
    () => b.pipeline.forwardBackward(rollouts(0), { maxStepsOffPolicy: 1 }),
    (r) => [
      r.kl !== null && r.loss !== null && r.staleness.max === 0 && r.tokens > 0,
      `loss ${r.loss?.toFixed(4)}, KL ${r.kl?.toFixed(4)}, staleness ${r.staleness.max}`,
    ],
  );
  await step(
    "optim_step, the KL probe and the next sampler's save behind it",
    () => b.pipeline.optimStep({ learningRate: 1e-5 }),
    (r) => [r.klAfter !== null && Math.abs(r.klAfter - 0.01) < 1e-4, `KL of the step ${r.klAfter?.toFixed(5)}, version ${r.version}`],
  );
  await step(
    "  the second group one step later, with max_steps_off_policy 0: refused",
    () =>
      b.pipeline.forwardBackward(rollouts(1), { maxStepsOffPolicy: 0 }).then(
        () => "accepted",
        (e: Error) => e.message,
      ),
    (m) => [/sampled 1 optimizer steps ago/.test(m), m.split(":").slice(0, 2).join(":")],
  );
  await step(
    "  with max_steps_off_policy 1: trained, one step stale",
    () => b.pipeline.forwardBackward(rollouts(1), { maxStepsOffPolicy: 1 }),
    (r) => [r.staleness.max === 1 && r.kl !== null && r.kl > 0, `staleness ${r.staleness.max}, KL sampler vs learner ${r.kl?.toFixed(4)} (the lag)`],
  );
  await step(
    "  optim_step",
    () => b.pipeline.optimStep({ learningRate: 1e-5 }),
    (r) => [r.klAfter !== null, `KL of the step ${r.klAfter?.toFixed(5)}`],
  );
  await step(
    "sample on the sampler saved behind the step",
    () => b.sample(["What is 2 + 2?"], 1, { temperature: 1, maxTokens: 64 }),
    (g) => [g[0]![0]!.text.startsWith("4"), JSON.stringify(g[0]![0]!.text)],
  );
}

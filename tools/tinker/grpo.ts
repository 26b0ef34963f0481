import type { Rollout } from "./backend.ts";
import { CHECKLIST } from "../contracts/checklist.ts";
import type { GrpoRecord } from "./data-input.ts";
import type { Isolation, RewardSandbox } from "./reward/sandbox.ts";
import { learningRateAt, scheduleForCall } from "./schedule.ts";
import type { Scheduler } from "./schedule.ts";
import type { TrainingSession } from "./session.ts";

export type GrpoArgs = {
  prompts: GrpoRecord[];
  rewardFunction: string;
  numIterations: number;
  learningRate: number;
  warmupRatio: number;
  scheduler: Scheduler;
  schedulerTotalSteps: number | undefined;
  temperature: number;
  maxTokens: number;
  autoCheckpoint: boolean;
  autoCheckpointThreshold: number;
  autoCheckpointMinIterations: number;
  normalizeAdvantages: boolean;
};

/** Group outcome counts; total = mixed + allZero + allOne + uniformOther + failed. */
export type GroupCounts = { total: number; mixed: number; allZero: number; allOne: number; uniformOther: number; failed: number };

export type IterationMetrics = {
  iteration: number;
  /** Whether an optimizer step was taken (no group with signal: none, and the iteration is not counted). */
  stepped: boolean;
  rewardMean: number;
  rewardStd: number;
  learningRate: number;
  groups: GroupCounts;
  samplesGenerated: number;
  samplesUsed: number;
  rewardErrors: number;
  /** How far the step moved the policy (sampler vs updated learner); null without a step. */
  kl: number | null;
  /** Sampler vs learner before the step (on-policy: about 0). */
  klSampler: number | null;
  klSquared: number | null;
  loss: number | null;
  tokensSampled: number;
  truncated: number;
  seconds: { sampling: number; reward: number; training: number; other: number };
};

export type GrpoOutcome = {
  iterations: IterationMetrics[];
  warnings: string[];
  autoCheckpoints: Array<{ name: string; path: string; rewardMean: number }>;
  horizon: number;
  effectiveWarmup: number;
  examples: Array<{ prompt: string; completion: string; reward: number }>;
  /** Set when an iteration could not update (every group unusable); no step was taken for it. */
  aborted?: string;
  /** Which sandbox scored the rewards. */
  isolation: Isolation;
};

const UNIFORM_EPS = 1e-6;

function meanStd(xs: number[]): { mean: number; std: number } {
  if (xs.length === 0) return { mean: 0, std: 0 };
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  return { mean, std };
}

/** Runs `numIterations` GRPO iterations on the open session. */
export async function runGrpo(session: TrainingSession, sandbox: RewardSandbox, a: GrpoArgs, onProgress: (msg: string) => void): Promise<GrpoOutcome> {
  const backend = session.backend!;
  const logs = session.logs;
  const start = session.counters.grpoIterations;
  const { warmup, horizon, warnings } = scheduleForCall({
    scheduler: a.scheduler,
    explicit: a.schedulerTotalSteps,
    warmupRatio: a.warmupRatio,
    stepsSoFar: start,
    stepsThisCall: a.numIterations,
    persisted: session.counters.grpoHorizon,
    unit: "iteration",
  });
  session.counters.grpoHorizon = Math.max(session.counters.grpoHorizon, horizon);
  logs.writeGradingFunction(a.rewardFunction);
  logs.write(
    "training_debug.log",
    `[START] train_grpo_step prompts=${a.prompts.length} iterations=${a.numIterations} group_size=${session.groupSize} lr=${a.learningRate} scheduler=${a.scheduler} horizon=${horizon}`,
  );

  const out: GrpoOutcome = { iterations: [], warnings, autoCheckpoints: [], horizon, effectiveWarmup: warmup, examples: [], isolation: sandbox.isolation };
  const G = session.groupSize;
  for (let it = 0; it < a.numIterations; it++) {
    const step = start + it;
    const lr = learningRateAt(step, horizon, a.learningRate, warmup, a.scheduler);
    onProgress(`GRPO iteration ${step + 1} (${it + 1}/${a.numIterations}): sampling ${a.prompts.length}×${G}`);
    const t0 = Date.now();
    const groups = await backend.sample(
      a.prompts.map((p) => p.prompt),
      G,
      { temperature: a.temperature, maxTokens: a.maxTokens },
    );
    const t1 = Date.now();
    const flat = groups.flatMap((g, i) => g.map((c) => ({ c, i })));
    const scored = await sandbox.score(
      a.rewardFunction,
      flat.map(({ c, i }) => ({ completion: c.text, ground_truth: a.prompts[i]!.ground_truth })),
    );
    const t2 = Date.now();
    let rewardErrors = 0;
    scored.errors.forEach((e, k) => {
      if (e) {
        rewardErrors++;
        if (rewardErrors <= 20) logs.write("reward_debug.log", `[REWARD ERROR] item ${k}: ${e}`);
      }
    });
    if (scored.output) logs.write("reward_debug.log", `[REWARD OUTPUT] ${scored.output.slice(0, 2000)}`);
    logs.write("reward_debug.log", `[REWARD] ${flat.length} completions scored in ${scored.ms} ms (${rewardErrors} errors, isolation ${scored.isolation})`);

    const counts: GroupCounts = { total: groups.length, mixed: 0, allZero: 0, allOne: 0, uniformOther: 0, failed: 0 };
    const rollouts: Rollout[] = [];
    const all: number[] = [];
    let tokensSampled = 0;
    let truncated = 0;
    let k = 0;
    groups.forEach((g, i) => {
      const rewards: number[] = [];
      const usable: Array<{ rolloutId: string; reward: number }> = [];
      for (const c of g) {
        const r = scored.scores[k++]!;
        tokensSampled += c.tokenCount;
        if (c.finishReason === "length") truncated++;
        all.push(r);
        if (c.tokenCount === 0) continue;
        rewards.push(r);
        usable.push({ rolloutId: c.rolloutId, reward: r });
      }
      if (i < 3) {
        logs.write("sampling_debug.log", `[SAMPLE] prompt ${i}: ${JSON.stringify(a.prompts[i]!.prompt.slice(0, 80))}`);
        for (const [j, c] of g.entries())
          logs.write(
            "sampling_debug.log",
            `  completion ${j} (${c.tokenCount} tokens, ${c.finishReason}, reward ${rewards[j]?.toFixed(2) ?? "-"}): ${JSON.stringify(c.text.slice(0, 120))}`,
          );
      }
      if (usable.length < 2) {
        counts.failed++;
        return;
      }
      const { mean, std } = meanStd(rewards);
      if (std < UNIFORM_EPS) {
        if (mean >= 0.9) counts.allOne++;
        else if (mean <= 0.1) counts.allZero++;
        else counts.uniformOther++;
        logs.write("training_debug.log", `[SKIP] prompt ${i}: uniform rewards (${mean.toFixed(2)})`);
        return;
      }
      counts.mixed++;
      for (const u of usable) {
        let adv = u.reward - mean;
        if (a.normalizeAdvantages) adv = Math.max(-5, Math.min(5, adv / (std + 1e-8)));
        rollouts.push({ rolloutId: u.rolloutId, advantage: adv });
      }
    });
    if (out.examples.length < 4 && groups[0]?.[0]) {
      const g0 = groups.map((g, i) => ({ prompt: a.prompts[i]!.prompt, completion: g[0]?.text ?? "", reward: scored.scores[i * G] ?? 0 }));
      out.examples = g0.slice(0, 4);
    }
    const { mean: rewardMean, std: rewardStd } = meanStd(all);
    const metrics: IterationMetrics = {
      iteration: step + 1,
      stepped: false,
      rewardMean,
      rewardStd,
      learningRate: lr,
      groups: counts,
      samplesGenerated: flat.length,
      samplesUsed: rollouts.length,
      rewardErrors,
      kl: null,
      klSampler: null,
      klSquared: null,
      loss: null,
      tokensSampled,
      truncated,
      seconds: { sampling: (t1 - t0) / 1000, reward: (t2 - t1) / 1000, training: 0, other: 0 },
    };

    if (rollouts.length === 0) {
      metrics.seconds.other = (Date.now() - t2) / 1000;
      out.iterations.push(metrics);
      out.aborted =
        `Iteration ${step + 1}: every group was unusable (${counts.allZero} all-0, ${counts.allOne} all-1, ${counts.uniformOther} other uniform, ` +
        `${counts.failed} failed) — no learning signal, so no optimizer step was taken and the iteration was not counted.`;
      logs.write("training_debug.log", `[ABORT] ${out.aborted}`);
      break;
    }
    const t3 = Date.now();
    const res = await backend.trainPolicy(rollouts, { learningRate: lr });
    const t4 = Date.now();
    metrics.stepped = true;
    metrics.kl = res.klAfter;
    metrics.klSampler = res.kl;
    metrics.klSquared = res.klSquared;
    metrics.loss = res.loss;
    metrics.seconds.training = (t4 - t3) / 1000;
    session.counters.grpoIterations = step + 1;
    session.unsavedSteps++;
    session.rewardHistory.push(rewardMean);
    logs.write(
      "training_debug.log",
      `[ITER ${step + 1}] reward=${rewardMean.toFixed(3)}±${rewardStd.toFixed(3)} lr=${lr.toExponential(2)} groups mixed/all0/all1/other/failed=${counts.mixed}/${counts.allZero}/${counts.allOne}/${counts.uniformOther}/${counts.failed} ` +
        `used=${rollouts.length}/${flat.length} loss=${res.loss?.toFixed(4) ?? "n/a"} kl(step)=${res.klAfter?.toFixed(5) ?? "n/a"} kl(sampler)=${res.kl?.toFixed(5) ?? "n/a"} tokens=${tokensSampled} ` +
        `time sample/reward/train=${metrics.seconds.sampling.toFixed(2)}/${metrics.seconds.reward.toFixed(2)}/${metrics.seconds.training.toFixed(2)}s`,
    );
    onProgress(`GRPO iteration ${step + 1} done: reward ${rewardMean.toFixed(3)}, mixed ${counts.mixed}/${counts.total} groups`);

    if (a.autoCheckpoint && rewardMean > a.autoCheckpointThreshold && step + 1 >= a.autoCheckpointMinIterations && rewardMean > session.bestAutoReward) {
      const name = `auto-iter${step + 1}-r${rewardMean.toFixed(2).replace(".", "_")}`;
      try {
        const saved = await backend.saveState(name, { method: "grpo", counters: { ...session.counters }, groupSize: session.groupSize });
        session.checkpoints.set(name, saved.path);
        session.bestAutoReward = rewardMean;
        session.unsavedSteps = 0;
        out.autoCheckpoints.push({ name, path: saved.path, rewardMean });
        logs.write("save_load_debug.log", `[AUTO-CHECKPOINT] ${name} -> ${saved.path}`);
      } catch (err) {
        warnings.push(`auto-checkpoint ${name} failed: ${(err as Error).message}`);
      }
    }
    metrics.seconds.other = (Date.now() - t4) / 1000 + (t3 - t2) / 1000;
    out.iterations.push(metrics);
  }
  return out;
}

export type Guidance = { verdict: string; next: string };

/** The decision text for a GRPO report, first matching rule wins. */
export function grpoGuidance(o: GrpoOutcome, history: number[]): Guidance {
  const last = o.iterations[o.iterations.length - 1];
  if (!last) return { verdict: "No iteration ran.", next: "Check the inputs and call train_grpo_step again." };
  const g = last.groups;
  const uniform = g.allZero + g.allOne + g.uniformOther;
  const noSignal = g.total > 0 ? (uniform + g.failed) / g.total : 0;
  const errRate = last.samplesGenerated > 0 ? last.rewardErrors / last.samplesGenerated : 0;
  const trunc = last.samplesGenerated > 0 ? last.truncated / last.samplesGenerated : 0;
  if (errRate >= CHECKLIST.rewardErrorShare)
    return {
      verdict: `PROBLEM: ${(errRate * 100).toFixed(0)}% of rewards failed with errors.`,
      next: "Fix the reward function (check_reward, reward_debug.log) before training further.",
    };
  if (noSignal >= CHECKLIST.uniformShare && g.allOne >= g.allZero)
    return {
      verdict: "CONVERGED OR TOO EASY: most groups score all 1.",
      next: "sample() the holdout; if it is good, save and finish, otherwise move to harder prompts.",
    };
  if (noSignal >= CHECKLIST.uniformShare) {
    const why = trunc > 0.3 ? ` ${Math.round(trunc * 100)}% of samples hit max_tokens: raise max_tokens.` : "";
    return {
      verdict: `NO SIGNAL: most groups score all 0 (too hard, reward too strict, or truncation).${why}`,
      next: "Use easier prompts, give partial credit, or raise temperature/max_tokens.",
    };
  }
  const recent = history.slice(-6);
  if (recent.length >= 4) {
    const first = recent.slice(0, recent.length / 2);
    const second = recent.slice(recent.length / 2);
    const delta = meanStd(second).mean - meanStd(first).mean;
    if (delta <= -CHECKLIST.rewardDrop)
      return { verdict: "DECLINING: reward is falling over recent iterations.", next: "Lower the learning rate 2-5x, or load the last good checkpoint." };
    if (Math.abs(delta) < 0.01 && history.length > 8)
      return {
        verdict: "PLATEAU: reward flat over recent iterations.",
        next: "sample() to check quality; if good, save. Otherwise try 2x learning rate or harder data.",
      };
  }
  if (last.kl !== null && last.kl >= CHECKLIST.kl) return { verdict: `UNSTABLE: KL ${last.kl.toFixed(3)} is high.`, next: "Lower the learning rate." };
  return {
    verdict: "HEALTHY: training has signal.",
    next: "Continue with train_grpo_step(num_iterations=1) on fresh prompts; sample the holdout every few calls.",
  };
}

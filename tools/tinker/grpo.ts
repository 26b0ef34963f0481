import type { Rollout, TrainingBackend } from "./backend.ts";
import { CHECKLIST } from "../contracts/checklist.ts";
import type { GrpoRecord } from "./data-input.ts";
import { IterationBatch, meanStd } from "./grpo-batch.ts";
import { autoCheckpoint, firstCompletions, iterationLogLine, tallyBatch } from "./grpo-iteration.ts";
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
  /** The caller's stop strings (as for `sample`): a completion ends before the first one, and trains as it was cut. */
  stop?: string[];
  autoCheckpoint: boolean;
  autoCheckpointThreshold: number;
  autoCheckpointMinIterations: number;
  normalizeAdvantages: boolean;
  /** Forward-backward on each of this many minibatches of scored groups as it fills, one optimizer step per iteration; 1: one pass on the whole batch. */
  streamMinibatches?: number;
  /** Sample iteration i+1 while iteration i trains, on weights up to this many steps old; 0: sample, then train (the default). */
  maxStepsOffPolicy?: number;
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
  /** How far the step moved the policy (learner before vs after the step, on a probe of the batch); null without a step. */
  kl: number | null;
  /** Sampler vs learner before the step (on-policy: about 0; off-policy it holds the lag). */
  klSampler: number | null;
  klSquared: number | null;
  loss: number | null;
  tokensSampled: number;
  truncated: number;
  /** Optimizer steps between sampling and training the rollouts used (0 on-policy); null without a step. */
  staleness: { max: number; mean: number } | null;
  /** Rollouts not trained on because they were more than max_steps_off_policy steps old. */
  droppedStale: number;
  /** Forward-backward passes the step was made of (1 unless streamed). */
  minibatches: number;
  /** Sampling: first request to last group back; training: first forward-backward submitted to the step's result (they overlap when streamed). */
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

/** A minibatch's figures, weighted by its tokens when a step is made of several. */
type Pass = { loss: number | null; kl: number | null; klSquared: number | null; tokens: number };

function tokenWeighted(passes: Pass[], key: "loss" | "kl" | "klSquared"): number | null {
  const known = passes.filter((p) => p[key] !== null);
  if (known.length === 0) return null;
  const w = known.reduce((a, p) => a + Math.max(1, p.tokens), 0);
  return known.reduce((a, p) => a + p[key]! * Math.max(1, p.tokens), 0) / w;
}

/** One iteration under way: its batch (sampling and scoring) and, when streamed, the minibatches already submitted. */
type Started = {
  batch: IterationBatch;
  t0: number;
  /** Optimizer steps the loop had submitted when this batch's sampling began (its staleness is counted from there). */
  stepsAtSample: number;
  passes: Array<Promise<Pass & { staleness: { max: number; mean: number } }>>;
  firstPass: number;
  /** Scored groups with signal not yet in a submitted minibatch. */
  waiting: Rollout[];
  dropped: number;
  /** Streamed: submits the scored groups waiting, as one forward-backward pass. */
  flush?: () => void;
};

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
  const pipeline = backend.pipeline;
  const minibatches = pipeline ? Math.max(1, Math.min(a.streamMinibatches ?? 1, a.prompts.length)) : 1;
  const offPolicy = pipeline ? Math.max(0, a.maxStepsOffPolicy ?? 0) : 0;
  const split = minibatches > 1 || offPolicy > 0;
  if (!pipeline && ((a.streamMinibatches ?? 1) > 1 || (a.maxStepsOffPolicy ?? 0) > 0))
    warnings.push(
      "This backend runs GRPO sequentially: stream_minibatches and max_steps_off_policy have no effect here (the result is the same as without them).",
    );
  logs.write(
    "training_debug.log",
    `[START] train_grpo_step prompts=${a.prompts.length} iterations=${a.numIterations} group_size=${session.groupSize} lr=${a.learningRate} scheduler=${a.scheduler} horizon=${horizon}` +
      (split ? ` stream_minibatches=${minibatches} max_steps_off_policy=${offPolicy}` : ""),
  );

  const out: GrpoOutcome = { iterations: [], warnings, autoCheckpoints: [], horizon, effectiveWarmup: warmup, examples: [], isolation: sandbox.isolation };
  const G = session.groupSize;
  const perMinibatch = Math.ceil(a.prompts.length / minibatches);
  let stepsSubmitted = 0;

  const begin = (): Started =>
    startIteration({ backend, sandbox, a, logs, groupSize: G, minibatches, perMinibatch, offPolicy, split, stepsSubmitted: () => stepsSubmitted });

  let next: Started | undefined;
  /**
   * On-policy, the next iteration's sampling is requested as soon as this step is: the
   * worker answers it on the sampler it saves behind the step (the step's weights), so the
   * service samples the moment they are ready instead of after a round trip through here.
   */
  const sampleAhead = (it: number) => {
    if (pipeline && offPolicy === 0 && it + 1 < a.numIterations) next = begin();
  };
  try {
    for (let it = 0; it < a.numIterations; it++) {
      const step = start + it;
      const lr = learningRateAt(step, horizon, a.learningRate, warmup, a.scheduler);
      onProgress(`GRPO iteration ${step + 1} (${it + 1}/${a.numIterations}): sampling ${a.prompts.length}×${G}`);
      const cur = next ?? begin();
      next = undefined;
      await cur.batch.done;
      const batch = cur.batch;
      const t1 = batch.lastArrival || Date.now();
      const t2 = Date.now();

      const { counts, rollouts, all, tokensSampled, truncated } = tallyBatch(batch, a.prompts, logs);
      if (out.examples.length < 4 && batch.groups[0]?.[0]) out.examples = firstCompletions(batch, a.prompts);
      const { mean: rewardMean, std: rewardStd } = meanStd(all);
      const metrics: IterationMetrics = {
        iteration: step + 1,
        stepped: false,
        rewardMean,
        rewardStd,
        learningRate: lr,
        groups: counts,
        samplesGenerated: all.length,
        samplesUsed: rollouts.length,
        rewardErrors: batch.rewardErrors,
        kl: null,
        klSampler: null,
        klSquared: null,
        loss: null,
        tokensSampled,
        truncated,
        staleness: null,
        droppedStale: 0,
        minibatches: 0,
        seconds: { sampling: (t1 - cur.t0) / 1000, reward: batch.rewardMs / 1000, training: 0, other: 0 },
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
      // Off-policy overlap: the next iteration samples now, on the weights this one trains from
      // (only once this one is sure to step: a streamed minibatch of the next batch must not
      // leave its gradient to a later call's step).
      if (offPolicy > 0 && it + 1 < a.numIterations) next = begin();
      const t3 = Date.now();
      const res = await trainIteration(cur, rollouts, metrics, {
        backend,
        split,
        minibatches,
        learningRate: lr,
        submitted: () => {
          stepsSubmitted++;
          sampleAhead(it);
        },
      });
      if (res === "all-stale") {
        metrics.seconds.other = (Date.now() - t2) / 1000;
        out.iterations.push(metrics);
        out.aborted = `Iteration ${step + 1}: all ${cur.dropped} rollouts were more than max_steps_off_policy=${offPolicy} steps old — no optimizer step was taken.`;
        logs.write("training_debug.log", `[ABORT] ${out.aborted}`);
        break;
      }
      const t4 = Date.now();
      metrics.stepped = true;
      metrics.kl = res.klAfter;
      metrics.klSampler = res.kl;
      metrics.klSquared = res.klSquared;
      metrics.loss = res.loss;
      session.counters.grpoIterations = step + 1;
      session.unsavedSteps++;
      session.rewardHistory.push(rewardMean);
      logs.write("training_debug.log", iterationLogLine(metrics, split));
      onProgress(`GRPO iteration ${step + 1} done: reward ${rewardMean.toFixed(3)}, mixed ${counts.mixed}/${counts.total} groups`);

      if (a.autoCheckpoint && rewardMean > a.autoCheckpointThreshold && step + 1 >= a.autoCheckpointMinIterations && rewardMean > session.bestAutoReward)
        await autoCheckpoint(session, step + 1, rewardMean, out);
      metrics.seconds.other = Math.max(0, (Date.now() - t4) / 1000 + (t3 - t2) / 1000);
      out.iterations.push(metrics);
    }
  } finally {
    // An overlapped batch nobody will train on (the call ended early): let its sampling finish, unused.
    if (next) await next.batch.done.catch(() => undefined);
  }
  return out;
}

/** What starting an iteration's sampling needs from its call. */
type IterationContext = {
  backend: TrainingBackend;
  sandbox: RewardSandbox;
  a: GrpoArgs;
  logs: TrainingSession["logs"];
  groupSize: number;
  minibatches: number;
  perMinibatch: number;
  offPolicy: number;
  split: boolean;
  /** Optimizer steps the call has submitted so far (read when sampling starts and when a minibatch is submitted). */
  stepsSubmitted: () => number;
};

/** Starts an iteration's sampling; with a pipelined backend, groups are scored (and, streamed, trained on) as they arrive. */
function startIteration(c: IterationContext): Started {
  const { backend, a, minibatches, perMinibatch, offPolicy } = c;
  const pipeline = backend.pipeline;
  const sampling = { temperature: a.temperature, maxTokens: a.maxTokens, ...(a.stop ? { stop: a.stop } : {}) };
  // Each scored group's advantages go to the backend at once, so its training data is built
  // while the rest samples; streamed, each minibatch's worth of scored groups goes to a forward-backward pass.
  const batch = new IterationBatch(a.prompts, c.sandbox, a.rewardFunction, a.normalizeAdvantages, c.logs, (_i, o) => {
    pipeline?.stageAdvantages(o.rollouts);
    if (minibatches <= 1) return;
    st.waiting.push(...o.rollouts);
    if (batch.scored % perMinibatch === 0) submit();
  });
  const st: Started = { batch, t0: Date.now(), stepsAtSample: c.stepsSubmitted(), passes: [], firstPass: 0, waiting: [], dropped: 0 };
  const submit = () => {
    if (st.waiting.length === 0 || !pipeline) return;
    const stale = c.stepsSubmitted() - st.stepsAtSample;
    const rollouts = st.waiting;
    st.waiting = [];
    if (stale > offPolicy) {
      st.dropped += rollouts.length;
      return;
    }
    st.firstPass ||= Date.now();
    const pass = pipeline.forwardBackward(rollouts, { maxStepsOffPolicy: offPolicy });
    pass.catch(() => undefined);
    st.passes.push(pass);
  };
  if (c.split) st.flush = submit;
  const prompts = a.prompts.map((p) => p.prompt);
  if (pipeline) {
    pipeline
      .sampleAsCompleted(prompts, c.groupSize, sampling, { keepSteps: offPolicy, onGroup: (g) => batch.arrive(g) })
      .catch((err: Error) => batch.fail(err));
  } else {
    backend.sample(prompts, c.groupSize, sampling).then(
      (groups) => batch.arrive(...groups.map((completions, index) => ({ index, completions }))),
      (err: Error) => batch.fail(err),
    );
  }
  return st;
}

type StepFigures = { loss: number | null; kl: number | null; klSquared: number | null; klAfter: number | null };

/**
 * Trains on one iteration's rollouts: streamed (the minibatches not yet submitted, then the
 * optimizer step right behind them, on one clock cycle) or whole (one policy step). Fills the
 * iteration's training figures; `submitted` is told as soon as the step is submitted (the
 * next batch may be requested then). "all-stale": every rollout was too old, no step taken.
 */
async function trainIteration(
  cur: Started,
  rollouts: Rollout[],
  metrics: IterationMetrics,
  o: { backend: TrainingBackend; split: boolean; minibatches: number; learningRate: number; submitted: () => void },
): Promise<StepFigures | "all-stale"> {
  const t3 = Date.now();
  const pipeline = o.backend.pipeline;
  if (!o.split || !pipeline) {
    const training = o.backend.trainPolicy(rollouts, { learningRate: o.learningRate });
    training.catch(() => undefined);
    o.submitted();
    const res = await training;
    metrics.staleness = { max: 0, mean: 0 };
    metrics.minibatches = 1;
    metrics.seconds.training = (Date.now() - t3) / 1000;
    return res;
  }
  // The rest of the batch, then the optimizer step right behind it (one clock cycle).
  if (o.minibatches <= 1) cur.waiting.push(...rollouts);
  cur.flush!();
  if (cur.passes.length === 0) {
    metrics.droppedStale = cur.dropped;
    return "all-stale";
  }
  const optim = pipeline.optimStep({ learningRate: o.learningRate });
  optim.catch(() => undefined);
  o.submitted();
  const passes = await Promise.all(cur.passes);
  const stepped = await optim;
  const st = passes.map((p) => p.staleness);
  metrics.staleness = {
    max: Math.max(...st.map((x) => x.max)),
    mean:
      tokenWeighted(
        passes.map((p, k) => ({ ...p, loss: st[k]!.mean })),
        "loss",
      ) ?? 0,
  };
  metrics.droppedStale = cur.dropped;
  metrics.minibatches = passes.length;
  metrics.samplesUsed = rollouts.length - cur.dropped;
  metrics.seconds.training = (Date.now() - (cur.firstPass || t3)) / 1000;
  return { loss: tokenWeighted(passes, "loss"), kl: tokenWeighted(passes, "kl"), klSquared: tokenWeighted(passes, "klSquared"), klAfter: stepped.klAfter };
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

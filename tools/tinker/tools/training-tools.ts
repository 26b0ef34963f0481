import { z } from "zod";
import { loadRecords, toGrpoPrompts, toSftExamples } from "../data-input.ts";
import { defaultMaxTokens } from "../generation-defaults.ts";
import { grpoGuidance, runGrpo } from "../grpo.ts";
import { grpoReport, sftReport } from "../reports.ts";
import { SCHEDULERS } from "../schedule.ts";
import { runSft, sftGuidance } from "../sft.ts";
import { failIn, asToolHandler, ok, records, rewardSource, sessionProblem } from "../tool-context.ts";
import type { ToolContext } from "../tool-context.ts";
import { grpoStepResult, sftStepResult } from "../../contracts/tinker-results.ts";
import { windowOf } from "../../contracts/sft-split.ts";
import { stopStrings } from "./sampling-tools.ts";
import type { GrpoStepResult } from "../../contracts/tinker-results.ts";

const windowArgs = {
  start: z.number().int().min(0).optional(),
  limit: z.number().int().min(1).max(100_000).optional(),
};

const scheduleArgs = {
  warmup_ratio: z.number().min(0).max(1).default(0.1),
  lr_scheduler: z.enum(SCHEDULERS).default("constant"),
  scheduler_total_steps: z.number().int().min(0).default(0),
};

const sftStepInput = {
  examples: records,
  num_epochs: z.number().int().min(1).max(100).default(1),
  learning_rate: z.number().positive().max(1).default(1e-4),
  batch_size: z.number().int().min(1).max(4096).default(128),
  validation_split: z.number().min(0).max(0.5).default(0.1),
  ...windowArgs,
  ...scheduleArgs,
};

const grpoStepInput = {
  prompts: records,
  reward_function: z.string().min(1),
  num_iterations: z.number().int().min(1).max(100).default(1),
  learning_rate: z.number().positive().max(1).default(4e-5),
  temperature: z.number().min(0).max(2).default(0.7),
  max_tokens: z.number().int().min(1).max(32768).optional(),
  stop: stopStrings,
  auto_checkpoint: z.boolean().default(true),
  auto_checkpoint_reward_threshold: z.number().min(0).default(0.3),
  auto_checkpoint_min_iterations: z.number().int().min(0).default(3),
  normalize_advantages: z.boolean().default(true),
  stream_minibatches: z
    .number()
    .int()
    .min(1)
    .max(64)
    .default(1)
    .describe("Train on the batch in this many minibatches, each as soon as its groups are scored (one optimizer step per iteration). 1: one pass."),
  max_steps_off_policy: z
    .number()
    .int()
    .min(0)
    .max(4)
    .default(0)
    .describe("Sample the next iteration while this one trains, on weights up to this many steps old (needs num_iterations ≥ 2). 0: on-policy."),
  ...windowArgs,
  ...scheduleArgs,
};

/** train_sft_step and train_grpo_step. */
export function registerTrainingTools(ctx: ToolContext): void {
  const { session, sandbox } = ctx;
  ctx.server.registerTool(
    "train_sft_step",
    {
      description:
        "Train on examples ({prompt, response} or {input, output}) given as a JSON array or a path to a .json/.jsonl file. " +
        "Reports train and validation loss per epoch; validation never changes the weights.",
      inputSchema: sftStepInput,
      outputSchema: sftStepResult,
    },
    asToolHandler(ctx, "train_sft_step", async (a: z.infer<z.ZodObject<typeof sftStepInput>>, progress) => {
      const problem = sessionProblem(session, "sft");
      if (problem) return failIn(session, problem);
      const { records: recs, source } = loadRecords(a.examples, "examples");
      const { examples: all, skipped } = toSftExamples(recs);
      const examples = windowOf(all, a.start, a.limit);
      if (examples.length === 0) return failIn(session, `Error: no usable examples in ${source} (${skipped} skipped for an empty prompt or response).`);
      const o = await runSft(
        session,
        {
          examples,
          numEpochs: a.num_epochs,
          learningRate: a.learning_rate,
          batchSize: a.batch_size,
          warmupRatio: a.warmup_ratio,
          scheduler: a.lr_scheduler,
          schedulerTotalSteps: a.scheduler_total_steps || undefined,
          validationSplit: a.validation_split,
        },
        progress,
      );
      const g = sftGuidance(o, session.sftHistory);
      return ok(sftReport(o, session.counters, g, session.logs.dir), {
        session_dir: session.logs.dir,
        method: "sft",
        train_examples: o.train,
        validation_examples: o.validation,
        skipped_examples: skipped,
        epochs: o.epochs.map((e) => ({ epoch: e.epoch, train_loss: e.trainLoss, val_loss: e.valLoss })),
        overfitting: o.overfitting,
        cumulative_epochs: session.counters.sftEpochs,
        cumulative_steps: session.counters.sftSteps,
        learning_rate: o.lastLearningRate,
        scheduler_total_steps: o.horizon,
        tokens: o.tokens,
        seconds: o.seconds,
        verdict: g.verdict,
        next_step: g.next,
        warnings: o.warnings,
      });
    }),
  );

  ctx.server.registerTool(
    "train_grpo_step",
    {
      description:
        "Run GRPO iterations: sample group_size completions per prompt, score them with reward_function " +
        "(Python source defining compute_reward(completion, ground_truth) -> float, or a path to a .py file), " +
        "and update on groups with reward variance. prompts: [{prompt, ground_truth}] as JSON or a .jsonl path; " +
        "start/limit pick a window of a pool file (wrapping around) so each call trains on fresh prompts.",
      inputSchema: grpoStepInput,
      outputSchema: grpoStepResult,
    },
    asToolHandler(ctx, "train_grpo_step", async (a: z.infer<z.ZodObject<typeof grpoStepInput>>, progress) => {
      const problem = sessionProblem(session, "grpo");
      if (problem) return failIn(session, problem);
      const prompts = windowOf(toGrpoPrompts(loadRecords(a.prompts, "prompts").records), a.start, a.limit);
      if (prompts.length === 0) return failIn(session, "Error: the prompt list is empty.");
      const code = rewardSource(a.reward_function);
      const maxTokens: number = a.max_tokens ?? defaultMaxTokens(session.card!).tokens;
      const invalid = await sandbox.check(code);
      if (invalid)
        return failIn(
          session,
          `Error: the reward function was refused: ${invalid}.\nDefine exactly one top-level function:\n\ndef compute_reward(completion: str, ground_truth: str) -> float:\n    ...`,
        );
      const o = await runGrpo(
        session,
        sandbox,
        {
          prompts,
          rewardFunction: code,
          numIterations: a.num_iterations,
          learningRate: a.learning_rate,
          warmupRatio: a.warmup_ratio,
          scheduler: a.lr_scheduler,
          schedulerTotalSteps: a.scheduler_total_steps || undefined,
          temperature: a.temperature,
          maxTokens,
          ...(a.stop ? { stop: a.stop } : {}),
          autoCheckpoint: a.auto_checkpoint,
          autoCheckpointThreshold: a.auto_checkpoint_reward_threshold,
          autoCheckpointMinIterations: a.auto_checkpoint_min_iterations,
          normalizeAdvantages: a.normalize_advantages,
          streamMinibatches: a.stream_minibatches,
          maxStepsOffPolicy: a.max_steps_off_policy,
        },
        progress,
      );
      const g = grpoGuidance(o, session.rewardHistory);
      const text = grpoReport(o, prompts.length, session.groupSize, maxTokens, session.counters, g, session.logs.dir);
      // No learning signal is a result, not an error: the call did what it could, and the
      // numbers (ALL-0 / ALL-1 / failed groups) are what the planner needs to react.
      const result: GrpoStepResult = {
        session_dir: session.logs.dir,
        method: "grpo",
        prompts: prompts.length,
        group_size: session.groupSize,
        max_tokens: maxTokens,
        sandbox: o.isolation,
        cumulative_iterations: session.counters.grpoIterations,
        optimizer_steps: o.iterations.filter((it) => it.stepped).length,
        iterations: o.iterations.map((it) => ({
          iteration: it.iteration,
          stepped: it.stepped,
          reward_mean: it.rewardMean,
          reward_std: it.rewardStd,
          learning_rate: it.learningRate,
          groups: {
            total: it.groups.total,
            mixed: it.groups.mixed,
            all_zero: it.groups.allZero,
            all_one: it.groups.allOne,
            uniform_other: it.groups.uniformOther,
            failed: it.groups.failed,
          },
          samples_generated: it.samplesGenerated,
          samples_used: it.samplesUsed,
          reward_errors: it.rewardErrors,
          kl: it.kl,
          kl_sampler: it.klSampler,
          kl_squared: it.klSquared,
          loss: it.loss,
          tokens_sampled: it.tokensSampled,
          truncated: it.truncated,
          staleness: it.staleness,
          dropped_stale: it.droppedStale,
          minibatches: it.minibatches,
          seconds: it.seconds,
        })),
        auto_checkpoints: o.autoCheckpoints.map((c) => ({ name: c.name, path: c.path, reward_mean: c.rewardMean })),
        scheduler_total_steps: o.horizon,
        verdict: g.verdict,
        next_step: g.next,
        warnings: o.warnings,
      };
      return ok(text, result);
    }),
  );
}

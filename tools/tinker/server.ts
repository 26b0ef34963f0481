/**
 * The tinker MCP server (stdio): SFT and GRPO training sessions over a pluggable
 * training backend, a reward sandbox, and per-session logs. One session per process;
 * calls are serialized.
 */
import fs from "node:fs";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { BackendError } from "./backend.ts";
import { backendForCheckpoint, createBackend, defaultMaxTokens } from "./backends/select.ts";
import { InputError, loadRecords, toGrpoPrompts, toSftExamples } from "./data-input.ts";
import { grpoGuidance, runGrpo } from "./grpo.ts";
import { grpoReport, initReport, logsFooter, sftReport } from "./reports.ts";
import { RewardSandbox } from "./reward/sandbox.ts";
import { HorizonError, SCHEDULERS } from "./schedule.ts";
import { CallLock, TrainingSession } from "./session.ts";
import { defaultGroupSize, modelInfo } from "./models.ts";
import type { Method } from "./session.ts";
import { runSft, sftGuidance } from "./sft.ts";

const session = new TrainingSession();
const sandbox = new RewardSandbox();
const lockTimeoutSec = Number(process.env.TINKERLOOP_TOOL_LOCK_TIMEOUT_SECONDS ?? "10");
const lock = new CallLock(Number.isFinite(lockTimeoutSec) ? lockTimeoutSec * 1000 : 10_000);
const server = new McpServer({ name: "tinker", version: "0.1.0" });

const CHECKPOINT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const HEARTBEAT_MS = Number(process.env.TINKERLOOP_HEARTBEAT_MS ?? 20_000);

function ok(text: string, structured: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text }], structuredContent: structured };
}
function fail(text: string): CallToolResult {
  return { content: [{ type: "text", text: `${text}${logsFooter(session.logs.dir)}` }], isError: true };
}

type Extra = { _meta?: { progressToken?: string | number }; sendNotification: (n: any) => Promise<void> };

/** Runs a tool body under the session lock, turning known errors into instructive isError results. */
function guarded<A>(name: string, body: (args: A, progress: (msg: string) => void) => Promise<CallToolResult>) {
  return async (args: A, extra: Extra): Promise<CallToolResult> =>
    lock.run(
      async () => {
        let n = 0;
        const token = extra?._meta?.progressToken;
        const progress = (message: string) => {
          session.logs.progress(message);
          if (token !== undefined) {
            extra.sendNotification({ method: "notifications/progress", params: { progressToken: token, progress: ++n, message } }).catch(() => {});
          }
        };
        // A heartbeat while the call runs: keeps the client's watchdog from firing and
        // shows in progress.txt that the server is alive.
        const started = Date.now();
        const beat = setInterval(() => progress(`${name} still running (${Math.round((Date.now() - started) / 1000)}s)`), HEARTBEAT_MS);
        try {
          return await body(args, progress);
        } catch (err) {
          if (err instanceof InputError || err instanceof HorizonError) return fail(`Error: ${err.message}`);
          if (err instanceof BackendError) return fail(`Error (${err.code}): ${err.message}`);
          session.logs.write("training_debug.log", `[ERROR] ${name} failed: ${(err as Error).stack ?? err}`);
          return fail(`Error in ${name}: ${(err as Error).message}. Details are in training_debug.log.`);
        } finally {
          clearInterval(beat);
        }
      },
      () => fail(`Error: another tinker call is still running (calls run one at a time). Retry ${name} when it has finished.`),
    );
}

function needSession(method?: Method): string | undefined {
  if (!session.backend || !session.method) {
    return "Error: no training session is open. Call init_grpo(base_model=...) for verifiable tasks or init_sft(base_model=...) for example-based ones first.";
  }
  if (method && session.method !== method) {
    return `Error: this session was opened with init_${session.method}, not init_${method}. Call init_${method}(...) to switch method (unsaved training is lost), or use train_${session.method}_step.`;
  }
  return undefined;
}

async function openSession(method: Method, baseModel: string, loraRank: number, groupSize: number, progress: (m: string) => void): Promise<CallToolResult> {
  progress(`Initializing ${method.toUpperCase()} session: ${baseModel}`);
  session.logs.write("init_debug.log", `[START] init_${method} model=${baseModel} lora_rank=${loraRank}${method === "grpo" ? ` group_size=${groupSize}` : ""}`);
  const backend = createBackend(baseModel, process.env, TrainingSession.checkpointDir());
  const card = await backend.open(baseModel, { loraRank });
  await session.backend?.close();
  session.backend = backend;
  session.card = card;
  session.method = method;
  session.groupSize = groupSize;
  session.counters = { sftEpochs: 0, sftSteps: 0, grpoIterations: 0, sftHorizon: 0, grpoHorizon: 0 };
  session.unsavedSteps = 0;
  session.sftHistory = [];
  session.rewardHistory = [];
  session.bestAutoReward = -Infinity;
  session.logs.write("init_debug.log", `[DONE] ${JSON.stringify(card)}`);
  const maxTokens = defaultMaxTokens(card);
  const info = modelInfo(baseModel);
  const registry = info
    ? `\nRegistry: ${info.type} model, ${info.architecture}, ${info.activeParams} active parameters; recommended group_size ${info.recommendedGroupSize}; renderer ${info.renderer}.${info.type !== "Base" ? " Base models usually give steadier post-training signals." : ""}`
    : "";
  return ok(initReport(method, card, groupSize, maxTokens, session.logs.dir) + registry, {
    session_dir: session.logs.dir,
    method,
    base_model: card.baseModel,
    backend: card.backend,
    parameters: card.parameters,
    trainable_parameters: card.trainableParameters,
    lora_rank: card.loraRank,
    group_size: method === "grpo" ? groupSize : null,
    context_length: card.contextLength,
    default_max_tokens: maxTokens,
  });
}

const initOutput = z.object({
  session_dir: z.string(),
  method: z.enum(["sft", "grpo"]),
  base_model: z.string(),
  backend: z.string(),
  parameters: z.number(),
  trainable_parameters: z.number(),
  lora_rank: z.number(),
  group_size: z.number().nullable(),
  context_length: z.number(),
  default_max_tokens: z.number(),
});

server.registerTool(
  "init_sft",
  {
    description: "Open a supervised fine-tuning session (LoRA) on base_model. Use the run's MODEL exactly.",
    inputSchema: { base_model: z.string().min(1), lora_rank: z.number().int().min(1).max(256).default(16) },
    outputSchema: initOutput,
  },
  guarded("init_sft", async (a: { base_model: string; lora_rank: number }, progress) => openSession("sft", a.base_model, a.lora_rank, 0, progress)),
);

server.registerTool(
  "init_grpo",
  {
    description: "Open a GRPO (reinforcement learning with a reward function) session (LoRA) on base_model. Use the run's MODEL exactly.",
    inputSchema: {
      base_model: z.string().min(1),
      lora_rank: z.number().int().min(1).max(256).default(32),
      group_size: z.number().int().min(2).max(64).optional().describe("samples per prompt; default: the model's recommendation"),
    },
    outputSchema: initOutput,
  },
  guarded("init_grpo", async (a: { base_model: string; lora_rank: number; group_size?: number }, progress) =>
    openSession("grpo", a.base_model, a.lora_rank, a.group_size ?? defaultGroupSize(a.base_model), progress),
  ),
);

const records = z.union([z.string(), z.array(z.record(z.string(), z.unknown()))]);
/** Optional window over a pool file, wrapping around, so planners can rotate prompts without writing files. */
const windowArgs = {
  start: z.number().int().min(0).optional(),
  limit: z.number().int().min(1).max(100_000).optional(),
};

function windowOf<T>(items: T[], start: number | undefined, limit: number | undefined): T[] {
  if (start === undefined && limit === undefined) return items;
  const n = items.length;
  if (n === 0) return items;
  const from = (start ?? 0) % n;
  const count = Math.min(limit ?? n, n);
  return Array.from({ length: count }, (_, i) => items[(from + i) % n]!);
}

const scheduleArgs = {
  warmup_ratio: z.number().min(0).max(1).default(0.1),
  lr_scheduler: z.enum(SCHEDULERS).default("constant"),
  scheduler_total_steps: z.number().int().min(0).default(0),
};

server.registerTool(
  "train_sft_step",
  {
    description:
      "Train on examples ({prompt, response} or {input, output}) given as a JSON array or a path to a .json/.jsonl file. " +
      "Reports train and validation loss per epoch; validation never changes the weights.",
    inputSchema: {
      examples: records,
      num_epochs: z.number().int().min(1).max(100).default(1),
      learning_rate: z.number().positive().max(1).default(1e-4),
      batch_size: z.number().int().min(1).max(4096).default(128),
      validation_split: z.number().min(0).max(0.5).default(0.1),
      ...windowArgs,
      ...scheduleArgs,
    },
    outputSchema: z.object({
      session_dir: z.string(),
      method: z.literal("sft"),
      train_examples: z.number(),
      validation_examples: z.number(),
      skipped_examples: z.number(),
      epochs: z.array(z.object({ epoch: z.number(), train_loss: z.number(), val_loss: z.number().nullable() })),
      overfitting: z.boolean(),
      cumulative_epochs: z.number(),
      cumulative_steps: z.number(),
      learning_rate: z.number(),
      scheduler_total_steps: z.number(),
      tokens: z.number(),
      seconds: z.number(),
      verdict: z.string(),
      next_step: z.string(),
      warnings: z.array(z.string()),
    }),
  },
  guarded("train_sft_step", async (a: any, progress) => {
    const problem = needSession("sft");
    if (problem) return fail(problem);
    const { records: recs, source } = loadRecords(a.examples, "examples");
    const { examples: all, skipped } = toSftExamples(recs);
    const examples = windowOf(all, a.start, a.limit);
    if (examples.length === 0) return fail(`Error: no usable examples in ${source} (${skipped} skipped for an empty prompt or response).`);
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

const groupsShape = z.object({ total: z.number(), mixed: z.number(), all_zero: z.number(), all_one: z.number(), uniform_other: z.number(), failed: z.number() });

/** Reads reward code given inline or as a path to a .py file. */
function rewardSource(s: string): string {
  const t = s.trim();
  if (t.endsWith(".py") && !t.includes("\n") && fs.existsSync(t)) return fs.readFileSync(t, "utf8");
  return s;
}

server.registerTool(
  "train_grpo_step",
  {
    description:
      "Run GRPO iterations: sample group_size completions per prompt, score them with reward_function " +
      "(Python source defining compute_reward(completion, ground_truth) -> float, or a path to a .py file), " +
      "and update on groups with reward variance. prompts: [{prompt, ground_truth}] as JSON or a .jsonl path; " +
      "start/limit pick a window of a pool file (wrapping around) so each call trains on fresh prompts.",
    inputSchema: {
      prompts: records,
      reward_function: z.string().min(1),
      num_iterations: z.number().int().min(1).max(100).default(1),
      learning_rate: z.number().positive().max(1).default(4e-5),
      temperature: z.number().min(0).max(2).default(0.7),
      max_tokens: z.number().int().min(1).max(32768).optional(),
      auto_checkpoint: z.boolean().default(true),
      auto_checkpoint_reward_threshold: z.number().min(0).default(0.3),
      auto_checkpoint_min_iterations: z.number().int().min(0).default(3),
      normalize_advantages: z.boolean().default(true),
      ...windowArgs,
      ...scheduleArgs,
    },
    outputSchema: z.object({
      session_dir: z.string(),
      method: z.literal("grpo"),
      prompts: z.number(),
      group_size: z.number(),
      cumulative_iterations: z.number(),
      iterations: z.array(
        z.object({
          iteration: z.number(),
          reward_mean: z.number(),
          reward_std: z.number(),
          learning_rate: z.number(),
          groups: groupsShape,
          samples_generated: z.number(),
          samples_used: z.number(),
          reward_errors: z.number(),
          kl: z.number().nullable(),
          kl_squared: z.number().nullable(),
          loss: z.number().nullable(),
          tokens_sampled: z.number(),
          truncated: z.number(),
          seconds: z.object({ sampling: z.number(), reward: z.number(), training: z.number(), other: z.number() }),
        }),
      ),
      auto_checkpoints: z.array(z.object({ name: z.string(), path: z.string(), reward_mean: z.number() })),
      scheduler_total_steps: z.number(),
      verdict: z.string(),
      next_step: z.string(),
      warnings: z.array(z.string()),
    }),
  },
  guarded("train_grpo_step", async (a: any, progress) => {
    const problem = needSession("grpo");
    if (problem) return fail(problem);
    const prompts = windowOf(toGrpoPrompts(loadRecords(a.prompts, "prompts").records), a.start, a.limit);
    if (prompts.length === 0) return fail("Error: the prompt list is empty.");
    const code = rewardSource(a.reward_function);
    const invalid = await sandbox.check(code);
    if (invalid) return fail(`Error: the reward function was refused: ${invalid}.\nDefine exactly one top-level function:\n\ndef compute_reward(completion: str, ground_truth: str) -> float:\n    ...`);
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
        maxTokens: a.max_tokens ?? defaultMaxTokens(session.card!),
        autoCheckpoint: a.auto_checkpoint,
        autoCheckpointThreshold: a.auto_checkpoint_reward_threshold,
        autoCheckpointMinIterations: a.auto_checkpoint_min_iterations,
        normalizeAdvantages: a.normalize_advantages,
      },
      progress,
    );
    const g = grpoGuidance(o, session.rewardHistory);
    const text = grpoReport(o, prompts.length, session.groupSize, session.counters, g, session.logs.dir);
    if (o.aborted) return { content: [{ type: "text", text: `${text}\n\nError: no optimizer step was taken. Use prompts the model sometimes gets right, add partial credit, or raise temperature.` }], isError: true };
    return ok(text, {
      session_dir: session.logs.dir,
      method: "grpo",
      prompts: prompts.length,
      group_size: session.groupSize,
      cumulative_iterations: session.counters.grpoIterations,
      iterations: o.iterations.map((it) => ({
        iteration: it.iteration,
        reward_mean: it.rewardMean,
        reward_std: it.rewardStd,
        learning_rate: it.learningRate,
        groups: { total: it.groups.total, mixed: it.groups.mixed, all_zero: it.groups.allZero, all_one: it.groups.allOne, uniform_other: it.groups.uniformOther, failed: it.groups.failed },
        samples_generated: it.samplesGenerated,
        samples_used: it.samplesUsed,
        reward_errors: it.rewardErrors,
        kl: it.kl,
        kl_squared: it.klSquared,
        loss: it.loss,
        tokens_sampled: it.tokensSampled,
        truncated: it.truncated,
        seconds: it.seconds,
      })),
      auto_checkpoints: o.autoCheckpoints.map((c) => ({ name: c.name, path: c.path, reward_mean: c.rewardMean })),
      scheduler_total_steps: o.horizon,
      verdict: g.verdict,
      next_step: g.next,
      warnings: o.warnings,
    });
  }),
);

server.registerTool(
  "sample",
  {
    description:
      "Generate from the current weights. Either one prompt, or prompts (a JSON array or .jsonl path of {prompt, ground_truth}) " +
      "to sample a holdout; with reward_function, every completion is scored and the mean reported.",
    inputSchema: {
      prompt: z.string().optional(),
      prompts: records.optional(),
      n: z.number().int().min(1).max(64).default(1),
      max_tokens: z.number().int().min(1).max(32768).optional(),
      temperature: z.number().min(0).max(2).default(0.7),
      reward_function: z.string().optional(),
      limit: z.number().int().min(1).max(2000).default(200),
    },
    outputSchema: z.object({
      session_dir: z.string(),
      completions: z.array(z.object({ prompt: z.string(), text: z.string(), reward: z.number().nullable(), finish_reason: z.string() })),
      mean_reward: z.number().nullable(),
      scored: z.number(),
      temperature: z.number(),
    }),
  },
  guarded("sample", async (a: any, progress) => {
    const problem = needSession();
    if (problem) return fail(problem);
    if ((a.prompt === undefined) === (a.prompts === undefined)) return fail("Error: pass exactly one of prompt (a string) or prompts (a list or file of {prompt, ground_truth}).");
    const items = a.prompt !== undefined ? [{ prompt: a.prompt as string, ground_truth: "" }] : toGrpoPrompts(loadRecords(a.prompts, "prompts").records).slice(0, a.limit);
    if (items.length === 0) return fail("Error: no prompts to sample.");
    progress(`Sampling ${items.length}×${a.n}`);
    const maxTokens = a.max_tokens ?? defaultMaxTokens(session.card!);
    const groups = await session.backend!.sample(items.map((i) => i.prompt), a.n, { temperature: a.temperature, maxTokens });
    const flat = groups.flatMap((g, i) => g.map((c) => ({ prompt: items[i]!.prompt, ground_truth: items[i]!.ground_truth, c })));
    let rewards: Array<number | null> = flat.map(() => null);
    let mean: number | null = null;
    if (a.reward_function) {
      const code = rewardSource(a.reward_function);
      const invalid = await sandbox.check(code);
      if (invalid) return fail(`Error: the reward function was refused: ${invalid}.`);
      const scored = await sandbox.score(code, flat.map((f) => ({ completion: f.c.text, ground_truth: f.ground_truth })));
      rewards = scored.scores;
      mean = scored.scores.reduce((x, y) => x + y, 0) / Math.max(1, scored.scores.length);
    }
    for (const f of flat.slice(0, 50)) session.logs.write("sampling_debug.log", `[SAMPLE] ${JSON.stringify(f.prompt.slice(0, 100))} → ${JSON.stringify(f.c.text.slice(0, 200))}`);
    const shown = flat.slice(0, 20).map((f, i) => `[${i}]${rewards[i] === null ? "" : ` reward ${rewards[i]!.toFixed(2)}`} ${JSON.stringify(f.prompt.slice(0, 80))}\n    → ${JSON.stringify(f.c.text.slice(0, 300))}`);
    const head = mean === null ? `${flat.length} completion(s) at temperature ${a.temperature}` : `${flat.length} completions at temperature ${a.temperature}: mean reward ${mean.toFixed(3)}`;
    return ok([head, ...shown, flat.length > 20 ? `… ${flat.length - 20} more in the structured result` : ""].filter(Boolean).join("\n") + logsFooter(session.logs.dir), {
      session_dir: session.logs.dir,
      completions: flat.map((f, i) => ({ prompt: f.prompt, text: f.c.text, reward: rewards[i] ?? null, finish_reason: f.c.finishReason })),
      mean_reward: mean,
      scored: mean === null ? 0 : flat.length,
      temperature: a.temperature,
    });
  }),
);

const countersShape = z.object({ sft_epochs: z.number(), sft_steps: z.number(), grpo_iterations: z.number() });

server.registerTool(
  "save",
  {
    description: "Save the current weights and optimizer state under a descriptive name (letters, digits, . _ -).",
    inputSchema: { name: z.string() },
    outputSchema: z.object({ session_dir: z.string(), name: z.string(), path: z.string(), method: z.string(), base_model: z.string(), counters: countersShape }),
  },
  guarded("save", async (a: { name: string }) => {
    const problem = needSession();
    if (problem) return fail(problem);
    if (!CHECKPOINT_NAME.test(a.name)) return fail(`Error: invalid checkpoint name '${a.name}': use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit.`);
    if (session.checkpoints.has(a.name)) return fail(`Error: a checkpoint named '${a.name}' already exists in this session; choose another name.`);
    const meta = { method: session.method, counters: { ...session.counters }, groupSize: session.groupSize };
    const saved = await session.backend!.saveState(a.name, meta);
    session.checkpoints.set(a.name, saved.path);
    session.unsavedSteps = 0;
    session.logs.write("save_load_debug.log", `[SAVE] ${a.name} -> ${saved.path}`);
    const c = session.counters;
    return ok(`Saved '${a.name}' → ${saved.path}\nState: SFT epochs ${c.sftEpochs}, SFT steps ${c.sftSteps}, GRPO iterations ${c.grpoIterations}.\nLoad it later with load("${a.name}").${logsFooter(session.logs.dir)}`, {
      session_dir: session.logs.dir,
      name: a.name,
      path: saved.path,
      method: session.method!,
      base_model: session.card!.baseModel,
      counters: { sft_epochs: c.sftEpochs, sft_steps: c.sftSteps, grpo_iterations: c.grpoIterations },
    });
  }),
);

server.registerTool(
  "load",
  {
    description: "Restore a checkpoint (a name saved in this session, or its path): weights, optimizer state and counters, so the LR schedule continues without a new warmup.",
    inputSchema: { path: z.string().min(1) },
    outputSchema: z.object({ session_dir: z.string(), path: z.string(), base_model: z.string(), method: z.string(), counters: countersShape }),
  },
  guarded("load", async (a: { path: string }, progress) => {
    const resolved = session.checkpoints.get(a.path) ?? (a.path.includes("://") || a.path.includes("/") ? a.path : `local://${a.path}`);
    // Before any init (e.g. after a restart), the checkpoint's backend opens its own base model.
    session.backend ??= backendForCheckpoint(resolved, process.env, TrainingSession.checkpointDir());
    progress(`Loading ${resolved}`);
    const { card, meta } = await session.backend.loadState(resolved);
    const m = meta as { method?: Method; counters?: typeof session.counters; groupSize?: number };
    session.card = card;
    if (m.method) session.method = m.method;
    session.method ??= "sft";
    if (m.counters) session.counters = { ...session.counters, ...m.counters };
    if (m.groupSize) session.groupSize = m.groupSize;
    session.unsavedSteps = 0;
    session.logs.write("save_load_debug.log", `[LOAD] ${a.path} -> ${resolved}`);
    const c = session.counters;
    return ok(`Loaded ${resolved} (${card.baseModel}, method ${session.method}).\nRestored: SFT epochs ${c.sftEpochs}, SFT steps ${c.sftSteps}, GRPO iterations ${c.grpoIterations}; the LR schedule continues (set warmup_ratio=0).${logsFooter(session.logs.dir)}`, {
      session_dir: session.logs.dir,
      path: resolved,
      base_model: card.baseModel,
      method: session.method,
      counters: { sft_epochs: c.sftEpochs, sft_steps: c.sftSteps, grpo_iterations: c.grpoIterations },
    });
  }),
);

server.registerTool(
  "finish",
  {
    description: "End the training session: summary, backend closed, a fresh log directory for any next session.",
    inputSchema: {},
    outputSchema: z.object({ session_dir: z.string(), new_session_dir: z.string(), method: z.string().nullable(), base_model: z.string().nullable(), counters: countersShape, checkpoints: z.array(z.object({ name: z.string(), path: z.string() })), unsaved_steps: z.number() }),
  },
  guarded("finish", async () => {
    const c = session.counters;
    const summary = {
      method: session.method ?? null,
      base_model: session.card?.baseModel ?? null,
      counters: { sft_epochs: c.sftEpochs, sft_steps: c.sftSteps, grpo_iterations: c.grpoIterations },
      checkpoints: [...session.checkpoints].map(([name, path]) => ({ name, path })),
      unsaved_steps: session.unsavedSteps,
    };
    const old = await session.reset();
    const lines = [
      "Session finished.",
      summary.method ? `Method ${summary.method} on ${summary.base_model}: SFT epochs ${c.sftEpochs}, GRPO iterations ${c.grpoIterations}.` : "No training recorded.",
      summary.checkpoints.length ? `Checkpoints: ${summary.checkpoints.map((x) => `${x.name} (${x.path})`).join(", ")}` : "No checkpoints saved.",
      summary.unsaved_steps ? `Note: ${summary.unsaved_steps} training step(s) after the last save were not saved.` : "",
      `Logs kept at ${old}/`,
    ].filter(Boolean);
    return ok(lines.join("\n"), { session_dir: old, new_session_dir: session.logs.dir, ...summary });
  }),
);

server.registerTool(
  "check_reward",
  {
    description:
      "Run a reward function on hand-made cases in the sandbox and show each score, error and mismatch with `expected`. " +
      "Use it before training: a right answer should score 1, a wrong one 0, garbage 0.",
    inputSchema: {
      reward_function: z.string().min(1),
      cases: z.array(z.object({ completion: z.string(), ground_truth: z.string(), expected: z.number().optional() })).min(1).max(1000),
    },
    outputSchema: z.object({
      session_dir: z.string(),
      cases: z.array(z.object({ completion: z.string(), ground_truth: z.string(), score: z.number(), error: z.string().nullable(), expected: z.number().nullable(), matches: z.boolean().nullable() })),
      errors: z.number(),
      mismatches: z.number(),
      ok: z.boolean(),
    }),
  },
  guarded("check_reward", async (a: { reward_function: string; cases: Array<{ completion: string; ground_truth: string; expected?: number }> }) => {
    const code = rewardSource(a.reward_function);
    const invalid = await sandbox.check(code);
    if (invalid) return fail(`Error: the reward function was refused: ${invalid}.`);
    const r = await sandbox.score(code, a.cases);
    session.logs.writeGradingFunction(code);
    const rows = a.cases.map((c, i) => {
      const score = r.scores[i]!;
      const expected = c.expected ?? null;
      return { completion: c.completion, ground_truth: c.ground_truth, score, error: r.errors[i] ?? null, expected, matches: expected === null ? null : Math.abs(score - expected) < 1e-6 };
    });
    const errors = rows.filter((x) => x.error).length;
    const mismatches = rows.filter((x) => x.matches === false).length;
    const lines = rows.map((x, i) => `  [${i}] score ${x.score.toFixed(3)}${x.expected === null ? "" : ` (expected ${x.expected}${x.matches ? ", ok" : ", MISMATCH"})`}${x.error ? ` error: ${x.error}` : ""} · ${JSON.stringify(x.completion.slice(0, 60))} vs ${JSON.stringify(x.ground_truth.slice(0, 40))}`);
    const verdict = errors || mismatches ? `NOT READY: ${errors} error(s), ${mismatches} mismatch(es). Fix the reward before training.` : "OK: every case scored as expected.";
    if (r.output) session.logs.write("reward_debug.log", `[CHECK OUTPUT] ${r.output.slice(0, 2000)}`);
    return ok([`Reward check (${r.isolation} sandbox, ${r.ms} ms):`, ...lines, verdict, r.loadError ? `The module failed to load: ${r.loadError}` : ""].filter(Boolean).join("\n") + logsFooter(session.logs.dir), {
      session_dir: session.logs.dir,
      cases: rows,
      errors,
      mismatches,
      ok: errors === 0 && mismatches === 0,
    });
  }),
);

await server.connect(new StdioServerTransport());
process.stderr.write(`tinker server ready (logs in ${session.logs.dir})\n`);

import path from "node:path";
import fs from "node:fs";
import { z } from "zod";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { backendForCheckpoint, createBackend } from "../backends/select.ts";
import { CHECKPOINT_NAME, checkpointNameOf, isResumePointName, LOCAL_CHECKPOINT_PREFIX, RESUME_POINT_PREFIX } from "../../contracts/checkpoint-names.ts";
import { defaultMaxTokens } from "../generation-defaults.ts";
import { defaultGroupSize, MAX_GROUP_SIZE, modelInfo } from "../../contracts/tinker-models.ts";
import { initReport, logsFooter } from "../reports.ts";
import { TrainingSession } from "../session.ts";
import type { Method } from "../session.ts";
import { failIn, asToolHandler, ok, sessionProblem } from "../tool-context.ts";
import type { ToolContext } from "../tool-context.ts";
import { finishResult, initResult, loadResult, saveResult } from "../../contracts/tinker-results.ts";

/** The run's MODEL when a harness started this server: nothing else is opened, whatever a call or a checkpoint says. */
const runModel = (): string | undefined => process.env.TINKERLOOP_MODEL || undefined;
const otherModelRefusal = (what: string, model: string, run: string) =>
  `Refused: ${what} ${model}, but this run trains ${run} only. Use base_model="${run}" or a checkpoint made from ${run}.`;

/**
 * The predecessor's W&B arguments. The harness logs the run to W&B when the user turned
 * it on, and then names the W&B project and run after these; otherwise they are unused.
 */
const wandbArgs = {
  wandb_project: z.string().min(1).max(128).optional().describe("Weights & Biases project for this session's metrics (used only when the user turned W&B on)"),
  wandb_run_name: z.string().min(1).max(128).optional().describe("Weights & Biases run name (used only when W&B is on)"),
};

/**
 * A checkpoint folder of this server's own checkpoint folder goes by `local://name`,
 * whatever path it was loaded by, so the harness sees one name for one checkpoint.
 */
function canonicalPath(p: string): string {
  if (!path.isAbsolute(p)) return p;
  const real = (x: string) => {
    try {
      return fs.realpathSync(x);
    } catch {
      return path.resolve(x);
    }
  };
  const name = path.basename(p);
  return CHECKPOINT_NAME.test(name) && path.dirname(real(p)) === real(TrainingSession.checkpointDir()) ? `${LOCAL_CHECKPOINT_PREFIX}${name}` : p;
}

/** The session counters as save, load and finish report them. */
const countersOut = (c: TrainingSession["counters"]) => ({ sft_epochs: c.sftEpochs, sft_steps: c.sftSteps, grpo_iterations: c.grpoIterations });

/** init_sft, init_grpo, save, load, finish: opening, persisting and closing the session. */
export function registerSessionTools(ctx: ToolContext): void {
  registerInitTools(ctx);
  registerSaveTool(ctx);
  registerLoadTool(ctx);
  registerFinishTool(ctx);
}

/** init_sft and init_grpo: a fresh session on the run's MODEL. */
function registerInitTools(ctx: ToolContext): void {
  const { session } = ctx;
  async function openSession(method: Method, baseModel: string, loraRank: number, groupSize: number, progress: (m: string) => void): Promise<CallToolResult> {
    const run = runModel();
    if (run && baseModel !== run) return failIn(session, otherModelRefusal("the call asks for", baseModel, run));
    progress(`Initializing ${method.toUpperCase()} session: ${baseModel}`);
    session.logs.write(
      "init_debug.log",
      `[START] init_${method} model=${baseModel} lora_rank=${loraRank}${method === "grpo" ? ` group_size=${groupSize}` : ""}`,
    );
    const backend = createBackend(baseModel, process.env, TrainingSession.checkpointDir());
    const card = await backend.open(baseModel, { loraRank });
    await session.backend?.close();
    session.backend = backend;
    session.card = card;
    session.method = method;
    session.groupSize = groupSize;
    session.clearProgress();
    session.logs.write("init_debug.log", `[DONE] ${JSON.stringify(card)}`);
    const generation = defaultMaxTokens(card);
    const maxTokens = generation.tokens;
    const info = modelInfo(baseModel);
    const registry = info
      ? `\nRegistry: ${info.type} model, ${info.architecture}, ${info.activeParams} active parameters; recommended group_size ${info.recommendedGroupSize}; renderer ${info.renderer}${info.thinks ? " (thinks before answering: leave max_tokens room for it)" : ""}.${info.kind !== "base" ? " Base models usually give steadier post-training signals." : ""}`
      : "";
    return ok(initReport(method, card, groupSize, generation, session.logs.dir) + registry, {
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

  ctx.server.registerTool(
    "init_sft",
    {
      description: "Open a supervised fine-tuning session (LoRA) on base_model. Use the run's MODEL exactly.",
      inputSchema: { base_model: z.string().min(1), lora_rank: z.number().int().min(1).max(256).default(16), ...wandbArgs },
      outputSchema: initResult,
    },
    asToolHandler(ctx, "init_sft", async (a: { base_model: string; lora_rank: number }, progress) =>
      openSession("sft", a.base_model, a.lora_rank, 0, progress),
    ),
  );

  ctx.server.registerTool(
    "init_grpo",
    {
      description: "Open a GRPO (reinforcement learning with a reward function) session (LoRA) on base_model. Use the run's MODEL exactly.",
      inputSchema: {
        base_model: z.string().min(1),
        lora_rank: z.number().int().min(1).max(256).default(32),
        group_size: z.number().int().min(2).max(MAX_GROUP_SIZE).optional().describe("samples per prompt; default: the model's recommendation"),
        ...wandbArgs,
      },
      outputSchema: initResult,
    },
    asToolHandler(ctx, "init_grpo", async (a: { base_model: string; lora_rank: number; group_size?: number }, progress) =>
      openSession("grpo", a.base_model, a.lora_rank, a.group_size ?? defaultGroupSize(a.base_model), progress),
    ),
  );
}

/** save: weights, optimizer and counters under a name (resume points replace each other). */
function registerSaveTool(ctx: ToolContext): void {
  const { session } = ctx;
  ctx.server.registerTool(
    "save",
    {
      description: "Save the current weights and optimizer state under a descriptive name (letters, digits, . _ -).",
      inputSchema: {
        name: z.string(),
        keep_resume_points: z
          .array(z.string().min(1))
          .max(16)
          .optional()
          .describe(
            `for the harness's rolling resume points only (a ${RESUME_POINT_PREFIX}* name): once this one is saved, every other ${RESUME_POINT_PREFIX}* checkpoint of the run except these (names or paths) is deleted`,
          ),
      },
      outputSchema: saveResult,
    },
    asToolHandler(ctx, "save", async (a: { name: string; keep_resume_points?: string[] }) => {
      const problem = sessionProblem(session);
      if (problem) return failIn(session, problem);
      if (!CHECKPOINT_NAME.test(a.name))
        return failIn(session, `Error: invalid checkpoint name '${a.name}': use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit.`);
      if (session.checkpoints.has(a.name)) return failIn(session, `Error: a checkpoint named '${a.name}' already exists in this session; choose another name.`);
      if (a.keep_resume_points !== undefined && !isResumePointName(a.name)) {
        return failIn(
          session,
          `Error: keep_resume_points is only for rolling resume points: '${a.name}' is not a ${RESUME_POINT_PREFIX}* name. Nothing was saved.`,
        );
      }
      const meta = { method: session.method, counters: { ...session.counters }, groupSize: session.groupSize };
      const backend = session.backend!;
      const saved = await backend.saveState(a.name, meta);
      session.checkpoints.set(a.name, saved.path);
      session.unsavedSteps = 0;
      session.logs.write("save_load_debug.log", `[SAVE] ${a.name} -> ${saved.path}`);
      // Only once the new resume point exists are the others deleted (and only resume points, never the planner's saves); a failed delete leaves one behind.
      const warnings: string[] = [];
      const replaced: string[] = [];
      if (a.keep_resume_points !== undefined) {
        const keep = new Set([saved.path, ...a.keep_resume_points.map((k) => session.checkpoints.get(k) ?? k)].map(checkpointNameOf));
        for (const p of await backend.listStates()) {
          const name = checkpointNameOf(p);
          if (!isResumePointName(name) || keep.has(name)) continue;
          try {
            await backend.deleteState(p);
            replaced.push(p);
            session.checkpoints.delete(name);
            session.logs.write("save_load_debug.log", `[DELETE] ${p} (replaced by ${a.name})`);
          } catch (err) {
            warnings.push(`could not delete the earlier resume point ${p}: ${(err as Error).message}`);
          }
        }
      }
      const c = session.counters;
      return ok(
        `Saved '${a.name}' → ${saved.path}\nState: SFT epochs ${c.sftEpochs}, SFT steps ${c.sftSteps}, GRPO iterations ${c.grpoIterations}.${replaced.length ? `\nReplaced (deleted): ${replaced.join(", ")}.` : ""}${warnings.map((w) => `\nWarning: ${w}`).join("")}\nLoad it later with load("${a.name}").${logsFooter(session.logs.dir)}`,
        {
          session_dir: session.logs.dir,
          name: a.name,
          path: saved.path,
          method: session.method!,
          base_model: session.card!.baseModel,
          counters: countersOut(c),
          ...(a.keep_resume_points !== undefined ? { replaced } : {}),
          ...(warnings.length ? { warnings } : {}),
        },
      );
    }),
  );
}

/** load: a checkpoint of the run's MODEL, restored with its optimizer and counters. */
function registerLoadTool(ctx: ToolContext): void {
  const { session } = ctx;
  ctx.server.registerTool(
    "load",
    {
      description:
        "Restore a checkpoint (a name saved in this session, or its path): weights, optimizer state and counters, so the LR schedule continues without a new warmup.",
      inputSchema: { path: z.string().min(1) },
      outputSchema: loadResult,
    },
    asToolHandler(ctx, "load", async (a: { path: string }, progress) => {
      const resolved = session.checkpoints.get(a.path) ?? (a.path.includes("://") || a.path.includes("/") ? a.path : `${LOCAL_CHECKPOINT_PREFIX}${a.path}`);
      // Before any init (e.g. after a restart), the checkpoint's backend opens its own base model.
      const fresh = session.backend === undefined;
      const backend = session.backend ?? backendForCheckpoint(resolved, process.env, TrainingSession.checkpointDir());
      progress(`Loading ${resolved}`);
      const { card, meta } = await backend.loadState(resolved);
      const run = runModel();
      if (run && card.baseModel !== run) {
        // The checkpoint's own record decides; nothing of it stays open.
        await backend.close();
        if (!fresh) await session.reset();
        return failIn(
          session,
          otherModelRefusal(`checkpoint '${a.path}' was made from`, card.baseModel, run) +
            (fresh ? "" : " The session was closed: call init_* or load a checkpoint of the run's model."),
        );
      }
      session.backend = backend;
      const m = meta as { method?: Method; counters?: typeof session.counters; groupSize?: number };
      session.card = card;
      if (m.method) session.method = m.method;
      session.method ??= "sft";
      if (m.counters) session.counters = { ...session.counters, ...m.counters };
      if (m.groupSize) session.groupSize = m.groupSize;
      session.unsavedSteps = 0;
      session.logs.write("save_load_debug.log", `[LOAD] ${a.path} -> ${resolved}`);
      const c = session.counters;
      const named = canonicalPath(resolved);
      return ok(
        `Loaded ${named} (${card.baseModel}, method ${session.method}).\nRestored: SFT epochs ${c.sftEpochs}, SFT steps ${c.sftSteps}, GRPO iterations ${c.grpoIterations}; the LR schedule continues (set warmup_ratio=0).${logsFooter(session.logs.dir)}`,
        {
          session_dir: session.logs.dir,
          path: named,
          base_model: card.baseModel,
          method: session.method,
          counters: countersOut(c),
          group_size: session.method === "grpo" ? (session.groupSize ?? null) : null,
          default_max_tokens: defaultMaxTokens(card).tokens,
        },
      );
    }),
  );
}

/** finish: closes the session and reports what was saved and what was not. */
function registerFinishTool(ctx: ToolContext): void {
  const { session } = ctx;
  ctx.server.registerTool(
    "finish",
    {
      description: "End the training session: summary, backend closed, a fresh log directory for any next session.",
      inputSchema: {},
      outputSchema: finishResult,
    },
    asToolHandler(ctx, "finish", async () => {
      const c = session.counters;
      const summary = {
        method: session.method ?? null,
        base_model: session.card?.baseModel ?? null,
        counters: countersOut(c),
        checkpoints: [...session.checkpoints].map(([name, path]) => ({ name, path })),
        unsaved_steps: session.unsavedSteps,
      };
      const old = await session.reset();
      // The next session gets a fresh reward worker (nothing a reward left behind carries over).
      ctx.sandbox.close();
      const lines = [
        "Session finished.",
        summary.method
          ? `Method ${summary.method} on ${summary.base_model}: SFT epochs ${c.sftEpochs}, GRPO iterations ${c.grpoIterations}.`
          : "No training recorded.",
        summary.checkpoints.length ? `Checkpoints: ${summary.checkpoints.map((x) => `${x.name} (${x.path})`).join(", ")}` : "No checkpoints saved.",
        summary.unsaved_steps ? `Note: ${summary.unsaved_steps} training step(s) after the last save were not saved.` : "",
        `Logs kept at ${old}/`,
      ].filter(Boolean);
      return ok(lines.join("\n"), { session_dir: old, new_session_dir: session.logs.dir, ...summary });
    }),
  );
}

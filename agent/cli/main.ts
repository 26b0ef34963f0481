import path from "node:path";
import { Command, CommanderError, Option } from "commander";
import { z } from "zod";
import {
  loadEnv,
  mcpConfigFor,
  parseBashEnv,
  parseThresholds,
  resolveRunConfig,
  RUN_DEFAULTS,
  spendFlagsShape,
  spendSettings,
  splitList,
} from "../config/run-config.ts";
import type { RunFlags } from "../config/run-config.ts";
import { MIN_THINKING_BUDGET, REASONING_EFFORTS } from "../config/planner-depth.ts";
import { UserError } from "../core/errors.ts";
import { EXIT } from "../core/run-end.ts";
import { recipeHelp } from "../config/recipes.ts";
import type { RunIO } from "../session/execute-run.ts";
import { GATEWAY_DEFAULT_PORT, TOKEN_ENV } from "../gateway/defaults.ts";
import { loadRecording } from "../transcript/recording.ts";
import { renderTranscript } from "../replay/view.ts";
import { terminalSafe } from "./terminal.ts";
import { writeCompare } from "../report/compare.ts";
import { liveOptionsFrom, LIVE_DEFAULTS, startLiveServer } from "../report/live-server.ts";
import { readRunTranscript, writeReport } from "../report/report.ts";
import { runTarget } from "../transcript/recording.ts";
import { WandbLogger, wandbRequested } from "../wandb/logger.ts";
import type { SweepFlags } from "../sweep/spec.ts";

// The commands' code (SDKs, MCP, the training stack) loads when a command runs, so --help
// and a usage error answer at once.
const runCode = () => import("../session/execute-run.ts");
const replayCode = () => Promise.all([import("../replay/cassette.ts"), import("../resume/resume-and-fork.ts"), import("../replay/execute.ts")]);
const gatewayCode = () => import("../gateway/gateway.ts");
const sweepCode = () => import("../sweep/sweep.ts");
const doctorCode = () => import("./doctor.ts");

// Output piped into `head` and the like: stop quietly when the reader goes away.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw err;
});

/** Everything the CLI prints goes through here: no control character from a transcript or a tool reaches the terminal raw. */
const print = (text: string): void => void process.stdout.write(terminalSafe(text));
const printErr = (text: string): void => void process.stderr.write(terminalSafe(text));

const program = new Command();

// Usage errors (unknown option, bad choice, missing argument) are bad input: exit 2.
program.exitOverride();

program
  .name("tinkerloop")
  .description("Run an unattended post-training research run: a planner model trains a base model through guarded MCP tools.")
  .showHelpAfterError("(run with --help for usage)")
  .addHelpText(
    "after",
    `
Exit codes:
  0    the planner finished the run (finish() succeeded)
  1    the run ended without finishing (turn/time/budget limit, or the planner went quiet)
  2    bad input (missing prompt or model, bad template, unreadable file, missing key)
  3    a tool server could not start
  4    the planner failed for good (refused key, bad request, retries spent)
  130  interrupted (Ctrl-C)

Examples:
  tinkerloop run --recipe addition                   (offline: scripted planner, local CPU model, ~2 min)
  tinkerloop run --model local/tiny-arith --prompt "Teach it two-digit addition"
  tinkerloop run --planner anthropic:claude-sonnet-5-5 --model Qwen/Qwen3-8B --prompt-file objective.md
  tinkerloop run --recipe arithmetic --serve         (watch it at http://127.0.0.1:${LIVE_DEFAULTS.port}/)
  tinkerloop report runs/<id>                        (runs/<id>/report.html, also written when a run ends)
  tinkerloop compare runs/<a> runs/<b>               (compare.html and a table)
  tinkerloop sweep --planner scripted --planner anthropic --recipe arithmetic --seeds 3   (a leaderboard)
  tinkerloop mcp --recipe arithmetic                 (the guarded tools for your own agent, over stdio)
  tinkerloop doctor`,
  );

program
  .command("run")
  .description("start a research run; everything it does lands in runs/<run-id>/")
  .option("--model <name>", "base model the planner must post-train (the template's MODEL)")
  .option("--prompt <text>", "the research objective (the template's PROMPT)")
  .option("--prompt-file <file>", "read the research objective from a file (a --- front-matter block gives the scripted planner hints)")
  .option("--recipe <name>", "a built-in recipe from prompts/recipes/ (listed below): prompt, model and hints")
  .option("--planner <spec>", "anthropic:<model>, openai:<model>, scripted or replay:<run>; default: anthropic when ANTHROPIC_API_KEY is set, else scripted")
  .option("--template <file>", "system prompt template with <<PROMPT>> and <<MODEL>> (default: prompts/system.md)")
  .option("--mcp-config <file>", "MCP servers in Claude Code's .mcp.json format (default: ./.mcp.json, else the bundled one)")
  .option("--run-dir <dir>", "where to write the transcript and files (default: runs/<run-id>)")
  .addOption(new Option("--max-turns <n>", "stop after this many planner turns").default(String(RUN_DEFAULTS.maxTurns)))
  .addOption(new Option("--max-minutes <n>", "stop after this much wall time").default(String(RUN_DEFAULTS.maxMinutes)))
  .addOption(new Option("--max-nudges <n>", "turns without a tool call tolerated before stopping").default(String(RUN_DEFAULTS.maxNudges)))
  .addOption(
    new Option("--tool-timeout <seconds>", "watchdog for one tool call: abandoned after this long without progress").default(
      String(RUN_DEFAULTS.toolTimeoutSec),
    ),
  )
  .addOption(
    new Option("--on-wrong-model <policy>", "a call with another base_model: rewrite it to MODEL, or reject it")
      .choices(["rewrite", "reject"])
      .default(RUN_DEFAULTS.onWrongModel),
  )
  .option("--max-train-calls <n>", "budget: training calls; past it, training is refused (save and finish)")
  .option(
    "--max-cost <usd>",
    "budget: US dollars for the whole run, planner and Tinker together; a training or sampling call estimated not to fit is refused before it runs",
  )
  .option("--max-planner-cost <usd>", "budget: US dollars for the planner's requests")
  .option("--max-training-cost <usd>", "budget: US dollars for training and sampling (Tinker)")
  .option("--prices <file>", "a prices file laid over the built-in table (same shape as agent/spend/prices.json; also TINKERLOOP_PRICES)")
  .option(
    "--thinking <tokens>",
    `anthropic planners: extended thinking, this many tokens a turn, interleaved with tool calls (at least ${MIN_THINKING_BUDGET})`,
  )
  .option("--reasoning-effort <level>", `openai planners: reasoning effort (${REASONING_EFFORTS.join(", ")})`)
  .option(
    "--guard-off <rules>",
    "comma-separated guard rules to switch off (malformed-args, unknown-tool, schema, base-model, reward-code, large-inline, workflow, budget)",
  )
  .option("--guard-rule <file...>", "extra guard rule modules (default export {name, check(call, ctx)})")
  .addOption(
    new Option("--max-context-tokens <n>", "above this estimated size, older tool results are elided from the conversation").default(
      String(RUN_DEFAULTS.maxContextTokens),
    ),
  )
  .addOption(
    new Option("--inline-limit-kb <n>", "inline prompts/examples above this size are moved to a file by the guard").default(String(RUN_DEFAULTS.inlineLimitKb)),
  )
  .addOption(
    new Option(
      "--resume-every <calls>",
      "the harness keeps a rolling resume point every this many training calls, so a crash loses at most that many (0: off)",
    ).default(String(RUN_DEFAULTS.resumeEvery)),
  )
  .option("--alert-thresholds <json>", `override feedback alert thresholds, e.g. '{"uniformShare":0.5}'`)
  .option("--bash-env <names>", "comma-separated environment variables the bash tool's sandbox may see (never secrets; default: only PATH, HOME, LANG, TMPDIR)")
  .option("--seed <n>", "the run's seed: the local backend's adapter initialisation and sampling (a sweep gives each cell one)")
  .option(
    "--exam <spec>",
    "the exam the harness sits (hidden from the planner): generator:<task> | hub:<dataset>[@<config>]:<split> | jsonl:<file>, then ,scorer=NAME,items=N[,template=…,temperature=…,max_tokens=…,samples=…]; 'none': ungraded (default: the recipe's)",
  )
  .option("--exam-every <calls>", "also sit the exam every this many training calls (report curves only; the planner never sees them)")
  .option("--serve [port]", `serve a live view of the run on 127.0.0.1 (default port ${LIVE_DEFAULTS.port}; 0 picks a free one)`)
  .option("--host <address>", "with --serve: listen on this address instead of loopback (e.g. 0.0.0.0 to be reachable from other machines)")
  .option(
    "--wandb <project>",
    "log metrics, config and summary to Weights & Biases (needs the Python wandb package; also on with WANDB_PROJECT and WANDB_API_KEY)",
  )
  .addHelpText("after", () => `\nRecipes (--recipe NAME; method, model, what it needs beyond this machine):\n${recipeHelp()}`)
  .action(async (flags: RunFlags & WatcherFlags) => {
    const cwd = process.cwd();
    const env = loadEnv(cwd);
    const cfg = resolveRunConfig(flags, cwd, env);
    const { executeRun } = await runCode();
    const { exitCode } = await withWatchers(cfg.runDir, flags, env, () => executeRun(cfg, env, stdoutIO(interruptible())));
    process.exitCode = exitCode;
  });

type WatcherFlags = { serve?: string | boolean; host?: string; wandb?: string };

/**
 * Runs `body` with what watches a run from outside its loop: the live view and W&B,
 * each following the transcript. Both are checked before the run starts; neither can fail it.
 */
async function withWatchers<T>(runDir: string, flags: WatcherFlags, env: Record<string, string | undefined>, body: () => Promise<T>): Promise<T> {
  const live = liveOptionsFrom(flags);
  const wandb = wandbRequested(flags.wandb, env);
  const server = live ? await startLiveServer({ runDir, ...live }) : undefined;
  if (server) print(`live view: ${server.url}\n`);
  const logger = wandb ? WandbLogger.start({ runDir, choice: wandb, env, out: (l) => print(`${l}\n`) }) : undefined;
  try {
    return await body();
  } finally {
    await logger?.finish();
    await server?.close();
  }
}

/** An abort signal that the first Ctrl-C trips; a second one exits at once. */
function interruptible(): AbortSignal {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) {
      printErr("second interrupt: exiting now; the transcript is intact up to the last event.\n");
      process.exit(EXIT.interrupted);
    }
    printErr(`${sig}: stopping after the current step (interrupt again to exit at once)\n`);
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return controller.signal;
}

const stdoutIO = (signal: AbortSignal): RunIO => ({ out: (l) => print(`${l}\n`), signal });

const positiveInt = (flag: string) =>
  z.coerce
    .number({ error: `${flag} must be a number` })
    .int(`${flag} must be a whole number`)
    .positive(`${flag} must be above 0`);

const replayFlagsShape = z.object({
  bashEnv: z.string().optional(),
  full: z.boolean().optional(),
  view: z.boolean().optional(),
  cassette: z.boolean().optional(),
  execute: z.boolean().optional(),
  fork: positiveInt("--fork").optional(),
  planner: z.string().optional(),
  runDir: z.string().optional(),
  mcpConfig: z.string().optional(),
  onWrongModel: z.enum(["rewrite", "reject"]).optional(),
  guardOff: z.string().optional(),
  guardRule: z.array(z.string()).optional(),
  alertThresholds: z.string().optional(),
  ...spendFlagsShape,
});

const resumeFlagsShape = z.object({
  bashEnv: z.string().optional(),
  guardOff: z.string().optional(),
  serve: z.union([z.string(), z.boolean()]).optional(),
  host: z.string().optional(),
  wandb: z.string().optional(),
  planner: z.string().optional(),
  mcpConfig: z.string().optional(),
  guardRule: z.array(z.string()).optional(),
  maxTurns: positiveInt("--max-turns").optional(),
  maxMinutes: z.coerce.number({ error: "--max-minutes must be a number" }).positive("--max-minutes must be above 0").optional(),
  ...spendFlagsShape,
});

/** Validates a command's flags; a bad value is a one-line usage error. */
function parseFlags<T>(shape: z.ZodType<T>, flags: unknown): T {
  const r = shape.safeParse(flags);
  if (r.success) return r.data;
  throw new UserError(r.error.issues[0]?.message ?? "invalid options", "See --help.");
}

const collect = (value: string, previous: string[]) => [...previous, value];

program
  .command("sweep")
  .description("planners side by side: a matrix of planners × recipes or prompt files × models × seeds, each cell a tinkerloop run, and a leaderboard")
  .argument("[file]", "a sweep file (JSON or YAML) giving the matrix instead of the flags")
  .option("--planner <spec>", "a planner to compare (repeat for each): anthropic:<model>, openai:<model>, scripted, replay:<run>", collect, [])
  .option("--recipe <name>", "a built-in recipe (repeatable)", collect, [])
  .option("--prompt-file <file>", "a research objective file (repeatable)", collect, [])
  .option("--model <name>", "a base model (repeatable; default: each prompt's own)", collect, [])
  .option("--seeds <n>", "seeds 1..n for every combination (default 1)")
  .option("--name <id>", "the sweep's id (default: derived from the matrix, so the same command continues the same sweep)")
  .option("--dir <dir>", "the sweep directory (default: sweeps/<id>); with --collect, where the merged leaderboard goes (default: the first directory)")
  .option("--concurrency <n>", "cells at a time (default: one per core when every model is local; more for Tinker)")
  .option("--shard <i/n>", "run only cells i, i+n, i+2n, … of the fixed order (Slurm: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)")
  .option("--dry-run", "list the cells this invocation would run, and exit")
  .option("--status <dir>", "show a sweep's cells and its leaderboard so far (runs nothing)")
  .option("--collect <dirs...>", "merge the cells of sweep directories (the shards of one sweep) into one leaderboard")
  .option("--max-turns <n>", "every cell: turn limit")
  .option("--max-minutes <n>", "every cell: time limit")
  .option("--max-train-calls <n>", "every cell: training-call budget")
  .option("--max-cost <usd>", "every cell: spend budget, US dollars (planner and training)")
  .option("--max-planner-cost <usd>", "every cell: planner spend budget")
  .option("--max-training-cost <usd>", "every cell: training spend budget")
  .option("--prices <file>", "every cell: a prices file laid over the built-in table")
  .option("--thinking <tokens>", "every cell with an anthropic planner: extended thinking budget")
  .option("--reasoning-effort <level>", "every cell with an openai planner: reasoning effort")
  .option("--tool-timeout <seconds>", "every cell: tool call watchdog")
  .option("--on-wrong-model <policy>", "every cell: rewrite or reject")
  .option("--guard-off <rules>", "every cell: guard rules switched off")
  .option("--mcp-config <file>", "every cell: the MCP servers")
  .addHelpText(
    "after",
    `
Each cell is an ordinary \`tinkerloop run\` in sweeps/<id>/<cell>/ (its output in logs/<cell>.log), and
sweep.json records every cell's state. Running the same command again continues the sweep:
finished cells are kept, interrupted ones resumed, failed ones retried once. Ctrl-C stops every
cell gracefully (emergency saves); run the command again to continue. At the end: the leaderboard
(printed, leaderboard.json, compare.html). Exit codes: 0 every cell ended on its own, 1 some did
not, 2 bad input, 130 interrupted. A sweep file (YAML or JSON):
  name: arith-planners
  planners: [scripted, "anthropic:claude-sonnet-5-5", { spec: "replay:runs/abc", label: recorded }]
  recipes: [arithmetic]
  seeds: 3
  concurrency: 2
  run: { maxMinutes: 30, maxTurns: 60 }
Examples:
  tinkerloop sweep --planner scripted --planner openai:qwen3-32b --recipe arithmetic --seeds 3
  tinkerloop sweep sweep.yaml --shard 0/4          (one Slurm array task or Kubernetes Indexed Job pod)
  tinkerloop sweep --collect sweeps/arith-planners  (the merged leaderboard)
  tinkerloop sweep --status sweeps/arith-planners`,
  )
  .action(
    async (
      file: string | undefined,
      f: SweepFlags & { concurrency?: string; shard?: string; dir?: string; dryRun?: boolean; status?: string; collect?: string[] },
    ) => {
      const cwd = process.cwd();
      const out = (l: string) => print(`${l}\n`);
      const { collectSweeps, runSweep, sweepStatus } = await sweepCode();
      if (f.status !== undefined) {
        process.exitCode = sweepStatus(f.status, { cwd, out });
        return;
      }
      if (f.collect !== undefined) {
        process.exitCode = collectSweeps(f.collect, f.dir, { cwd, out });
        return;
      }
      const { stop, hardStop } = sweepSignals();
      const { concurrency, shard, dir, dryRun, status: _s, collect: _c, ...flags } = f;
      process.exitCode = await runSweep(
        {
          ...(file ? { file } : {}),
          flags,
          ...(concurrency ? { concurrency } : {}),
          ...(shard ? { shard } : {}),
          ...(dir ? { dir } : {}),
          ...(dryRun ? { dryRun } : {}),
        },
        { cwd, env: loadEnv(cwd), out, stop, hardStop },
      );
    },
  );

/** The first Ctrl-C asks every cell to stop gracefully; the second asks again (they exit at once); the third exits. */
function sweepSignals(): { stop: AbortSignal; hardStop: AbortSignal } {
  const stop = new AbortController();
  const hardStop = new AbortController();
  let n = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    n++;
    if (n === 1) {
      printErr(`${sig}: stopping every running cell gracefully (their emergency saves happen); interrupt again to stop them at once\n`);
      stop.abort();
    } else if (n === 2) {
      printErr(`${sig}: stopping every running cell now\n`);
      hardStop.abort();
    } else process.exit(EXIT.interrupted);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return { stop: stop.signal, hardStop: hardStop.signal };
}

program
  .command("mcp")
  .description(
    "serve the guarded tools as one MCP server for your own agent (Claude Code, Codex CLI, …): a run dir like run's, MODEL fixed, feedback in training results",
  )
  .option("--model <name>", "the base model the agent must post-train (fixed: other base models are rewritten or refused)")
  .option("--prompt <text>", "the research objective, for the seed prompt the agent gets as instructions")
  .option("--prompt-file <file>", "read the research objective from a file")
  .option("--recipe <name>", "a built-in recipe: objective and model")
  .option("--template <file>", "system prompt template with <<PROMPT>> and <<MODEL>> (default: prompts/system.md)")
  .option("--mcp-config <file>", "MCP servers to put behind the gateway (default: ./.mcp.json, else the bundled tinker and hf-datasets)")
  .option("--run-dir <dir>", "where to write the transcript and files (default: runs/<run-id>)")
  .option(
    "--http [port]",
    `serve Streamable HTTP on 127.0.0.1 (default port ${GATEWAY_DEFAULT_PORT}; 0 picks a free one) with a bearer token, instead of stdio`,
  )
  .option("--print-prompt", "print the seed prompt (the agent's instructions) to stdout and exit")
  .addOption(
    new Option("--max-minutes <n>", "time budget: past it training is refused; after a grace period the run ends").default(String(RUN_DEFAULTS.maxMinutes)),
  )
  .addOption(new Option("--tool-timeout <seconds>", "watchdog for one tool call").default(String(RUN_DEFAULTS.toolTimeoutSec)))
  .addOption(
    new Option("--on-wrong-model <policy>", "a call with another base_model: rewrite it to MODEL, or reject it")
      .choices(["rewrite", "reject"])
      .default(RUN_DEFAULTS.onWrongModel),
  )
  .option("--max-train-calls <n>", "budget: training calls")
  .option(
    "--max-cost <usd>",
    "budget: US dollars of training and sampling (your agent's own model is not the gateway's to count); a call that would not fit is refused before it runs",
  )
  .option("--prices <file>", "a prices file laid over the built-in table (same shape as agent/spend/prices.json)")
  .option("--guard-off <rules>", "comma-separated guard rules to switch off")
  .option("--guard-rule <file...>", "extra guard rule modules")
  .addOption(
    new Option("--inline-limit-kb <n>", "inline prompts/examples above this size are moved to a file by the guard").default(String(RUN_DEFAULTS.inlineLimitKb)),
  )
  .option("--alert-thresholds <json>", "override feedback alert thresholds")
  .option("--seed <n>", "the run's seed (local backend)")
  .option("--exam <spec>", "the exam the gateway sits at the start and at finish() (same form as run's --exam; default: the recipe's)")
  .option("--bash-env <names>", "comma-separated environment variables the bash tool's sandbox may see (never secrets)")
  .addHelpText(
    "after",
    `
Over stdio (the default) the agent starts the gateway itself; everything the gateway says goes
to stderr. With --http, it prints its URL and a bearer token (or uses ${TOKEN_ENV}); requests
without the token are refused, and a second agent is refused as busy: one gateway, one run.
The run ends when finish() succeeds (then every further call is refused), and otherwise when the
agent disconnects or on Ctrl-C (unsaved training is saved first). Examples:
  claude mcp add tinkerloop -- npx tinkerloop mcp --recipe arithmetic
  tinkerloop mcp --model local/tiny-arith --prompt "Teach one-digit addition" --http`,
  )
  .action(async (flags: RunFlags & { http?: string | boolean; printPrompt?: boolean }) => {
    const cwd = process.cwd();
    const env = loadEnv(cwd);
    const cfg = resolveRunConfig(flags, cwd, env);
    const { runGateway, seedPrompt } = await gatewayCode();
    if (flags.printPrompt) {
      print(`${seedPrompt(cfg).system}\n`);
      return;
    }
    const httpPort =
      flags.http === undefined || flags.http === false ? undefined : flags.http === true ? GATEWAY_DEFAULT_PORT : parsePort("--http", flags.http);
    process.exitCode = await runGateway(cfg, env, { ...(httpPort !== undefined ? { httpPort } : {}), out: (l) => printErr(`${l}\n`), signal: interruptible() });
  });

const portShape = z.coerce.number({ error: "must be a number" }).int("must be a whole number").min(0, "must be 0 to 65535").max(65535, "must be 0 to 65535");

function parsePort(flag: string, value: string): number {
  const r = portShape.safeParse(value);
  if (!r.success) throw new UserError(`${flag} ${value}: ${r.error.issues[0]?.message ?? "not a port"}.`, "e.g. --http 8766, or --http 0 for any free port.");
  return r.data;
}

program
  .command("replay")
  .description("show a recorded run, or re-run it: --cassette (no servers), --execute (live tools), --fork N (another planner from turn N)")
  .argument("<run>", "a run directory (runs/<id>) or a transcript.jsonl")
  .option("--view", "render the run in the terminal (default)")
  .option("--full", "with --view: print texts and results in full")
  .option("--cassette", "recorded planner turns and tool results, no servers; the guard and metrics run again and differences are printed")
  .option("--execute", "recorded planner turns against live tools; prints where results diverge")
  .option("--fork <turn>", "replay up to this turn, then continue live with --planner into a new run directory")
  .option("--planner <spec>", "with --fork: anthropic:<model>, openai:<model>, scripted")
  .option("--run-dir <dir>", "with --fork: the new run's directory")
  .option("--mcp-config <file>", "with --execute/--fork: MCP servers (default: ./.mcp.json, else the bundled one; never the recorded config)")
  .addOption(new Option("--on-wrong-model <policy>", "with --cassette: replay under this base-model policy").choices(["rewrite", "reject"]))
  .option("--guard-off <rules>", "with --cassette: switch guard rules off")
  .option("--guard-rule <file...>", "with --cassette/--execute/--fork: add guard rule modules (never taken from the transcript)")
  .option("--bash-env <names>", "with --execute/--fork: environment variables the bash sandbox may see (never taken from the transcript)")
  .option("--alert-thresholds <json>", "with --cassette: replay under other feedback alert thresholds")
  .option("--max-cost <usd>", "with --fork: budget for the new run, US dollars (never taken from the transcript)")
  .option("--max-planner-cost <usd>", "with --fork: planner budget, US dollars")
  .option("--max-training-cost <usd>", "with --fork: training budget, US dollars")
  .option("--prices <file>", "with --fork: a prices file laid over the built-in table (never taken from the transcript)")
  .option("--thinking <tokens>", "with --fork: extended thinking for an anthropic planner")
  .option("--reasoning-effort <level>", "with --fork: reasoning effort for an openai planner")
  .action(async (target: string, flags: unknown) => {
    const f = parseFlags(replayFlagsShape, flags);
    const cwd = process.cwd();
    const guardRules = (f.guardRule ?? []).map((g) => path.resolve(cwd, g));
    const guardOff = f.guardOff === undefined ? undefined : splitList(f.guardOff);
    const [{ cassetteReplay }, { forkRun }, { executeReplay }] = await replayCode();
    if (f.cassette) {
      const { differences } = await cassetteReplay(target, {
        ...(f.onWrongModel ? { onWrongModel: f.onWrongModel } : {}),
        ...(guardOff ? { guardOff } : {}),
        guardRules,
        ...(f.alertThresholds ? { alertThresholds: parseThresholds(f.alertThresholds) } : {}),
      });
      print(
        differences.length
          ? `${differences.length} difference(s) from the recording:\n${differences.map((d) => `  ${d}`).join("\n")}\n`
          : "cassette replay: no differences from the recording.\n",
      );
      return;
    }
    const env = loadEnv(cwd);
    if (f.execute) {
      const { divergences } = await executeReplay(target, {
        env,
        mcpConfigPath: mcpConfigFor(f.mcpConfig, cwd),
        guardRules,
        ...(guardOff ? { guardOff } : {}),
        bashEnv: parseBashEnv(f.bashEnv),
        out: (l) => print(`${l}\n`),
      });
      print(
        divergences.length
          ? `${divergences.length} divergence(s) from the recording:\n${divergences.map((d) => `  ${d}`).join("\n")}\n`
          : "execute replay: live tools reproduced every recorded result.\n",
      );
      return;
    }
    if (f.fork !== undefined) {
      if (!f.planner) throw new UserError("--fork needs --planner: the planner that continues the run.", "e.g. --fork 3 --planner openai:gpt-5");
      const { exitCode } = await forkRun(target, f.fork, f.planner, {
        env,
        io: stdoutIO(interruptible()),
        ...(f.runDir ? { runDir: f.runDir } : {}),
        mcpConfigPath: mcpConfigFor(f.mcpConfig, cwd),
        guardRules,
        ...(guardOff ? { guardOff } : {}),
        bashEnv: parseBashEnv(f.bashEnv),
        spend: spendSettings(f, cwd, env),
      });
      process.exitCode = exitCode;
      return;
    }
    const rec = loadRecording(target, { tolerateDamage: true });
    print(`${renderTranscript(rec.read, { full: f.full ?? false }).join("\n")}\n`);
  });

program
  .command("resume")
  .description("continue a stopped or crashed run in its own directory: conversation rebuilt, training restored from the last save")
  .argument("<run-dir>", "the run directory (runs/<id>)")
  .option("--planner <spec>", "continue with another planner than the recorded one")
  .option("--mcp-config <file>", "MCP servers (default: ./.mcp.json, else the bundled one; never the recorded config)")
  .option("--guard-rule <file...>", "extra guard rule modules (never taken from the transcript)")
  .option("--guard-off <rules>", "guard rules to switch off (never taken from the transcript: a recorded --guard-off must be named again)")
  .option("--bash-env <names>", "environment variables the bash sandbox may see (never taken from the transcript)")
  .option("--max-turns <n>", "new turn limit (counts the turns already taken)")
  .option("--max-minutes <n>", "new time limit for the resumed part")
  .option("--max-cost <usd>", "budget for the run, US dollars, counting what it spent before (never taken from the transcript: name it again)")
  .option("--max-planner-cost <usd>", "planner budget, US dollars (never taken from the transcript)")
  .option("--max-training-cost <usd>", "training budget, US dollars (never taken from the transcript)")
  .option("--prices <file>", "a prices file laid over the built-in table (never taken from the transcript)")
  .option("--thinking <tokens>", "extended thinking for an anthropic planner (never taken from the transcript)")
  .option("--reasoning-effort <level>", "reasoning effort for an openai planner (never taken from the transcript)")
  .option("--serve [port]", `serve a live view on 127.0.0.1 (default port ${LIVE_DEFAULTS.port})`)
  .option("--host <address>", "with --serve: listen on this address instead of loopback")
  .option("--wandb <project>", "log to Weights & Biases (also on with WANDB_PROJECT and WANDB_API_KEY)")
  .action(async (runDir: string, flags: unknown) => {
    const f = parseFlags(resumeFlagsShape, flags);
    const cwd = process.cwd();
    const env = loadEnv(cwd);
    const { resumeRun } = await import("../resume/resume-and-fork.ts");
    const { exitCode } = await withWatchers(runTarget(runDir).runDir, f, env, () =>
      resumeRun(runDir, {
        env,
        io: stdoutIO(interruptible()),
        ...(f.planner ? { plannerSpec: f.planner } : {}),
        mcpConfigPath: mcpConfigFor(f.mcpConfig, cwd),
        guardRules: (f.guardRule ?? []).map((g) => path.resolve(cwd, g)),
        ...(f.guardOff !== undefined ? { guardOff: splitList(f.guardOff) } : {}),
        bashEnv: parseBashEnv(f.bashEnv),
        ...(f.maxTurns ? { maxTurns: f.maxTurns } : {}),
        ...(f.maxMinutes ? { maxMinutes: f.maxMinutes } : {}),
        spend: spendSettings(f, cwd, env),
      }),
    );
    process.exitCode = exitCode;
  });

program
  .command("report")
  .description("write runs/<id>/report.html: curves, timeline, samples and reward code in one offline page")
  .argument("<run>", "a run directory (runs/<id>) or its transcript.jsonl")
  .action((target: string) => {
    print(`${writeReport(target)}\n`);
  });

program
  .command("watch")
  .description("serve a run's report on 127.0.0.1, updated as the run goes (server-sent events); Ctrl-C stops")
  .argument("<run>", "a run directory (runs/<id>), running or finished")
  .option("--port <n>", `port to listen on (default ${LIVE_DEFAULTS.port}; 0 picks a free one)`)
  .option("--host <address>", "listen on this address instead of loopback (e.g. 0.0.0.0)")
  .action(async (target: string, f: { port?: string; host?: string }) => {
    const { runDir } = runTarget(target);
    readRunTranscript(runDir);
    const server = await startLiveServer({ runDir, ...liveOptionsFrom({ serve: true, ...f })! });
    print(`watching ${runDir}\nlive view: ${server.url}  (Ctrl-C to stop)\n`);
    await new Promise<void>((resolve) => interruptible().addEventListener("abort", () => resolve()));
    await server.close();
  });

program
  .command("compare")
  .description("overlay several runs' curves in compare.html and print a table: holdout lift, best, time, turns, tokens, cost, interventions")
  .argument("<runs...>", "two or more run directories")
  .option("--out <file>", "where to write the page", "compare.html")
  .action((targets: string[], f: { out: string }) => {
    const { file, table } = writeCompare(targets, f.out);
    print(`${table.join("\n")}\n\ncompare: ${file}\n`);
  });

program
  .command("models")
  .description("list the models a run can train: local CPU models (offline) and the Tinker lineup")
  .action(async () => {
    const { listLocalModels } = await import("../../tools/contracts/local-models.ts");
    const { TINKER_MODELS } = await import("../../tools/contracts/tinker-models.ts");
    print("Local models (CPU, no key needed):\n");
    for (const m of listLocalModels()) {
      const base = m.baseline as { greedyExactAccuracy?: number; task?: string } | undefined;
      print(
        `  ${m.id.padEnd(40)} ${m.parameters.toLocaleString("en-US")} parameters${base?.greedyExactAccuracy !== undefined ? ` · ${base.task ?? "holdout"}: ${(base.greedyExactAccuracy * 100).toFixed(1)}% (greedy)` : ""}\n    ${m.description}\n`,
      );
    }
    print("\nTinker models (need TINKER_API_KEY and the worker's Python packages):\n");
    for (const m of TINKER_MODELS) {
      const traits = [m.thinks ? "thinks" : "", m.vision ? "vision" : ""].filter(Boolean).join(", ");
      print(
        `  ${m.id.padEnd(50)} ${m.type.padEnd(11)} ${m.architecture.padEnd(5)} ${m.activeParams.padStart(5)} active · group ${String(m.recommendedGroupSize).padStart(2)} · ${m.renderer}${traits ? ` (${traits})` : ""}\n`,
      );
    }
  });

program
  .command("doctor")
  .description(
    "check Node, python3, API keys (never printed), the planner's model id against its provider's model list, and that every MCP server starts and lists its tools",
  )
  .option("--mcp-config <file>", "the MCP config to check")
  .option("--planner <spec>", "the planner to check (default: what a run would use); its model id is checked against the provider's model list")
  .action(async (flags: { mcpConfig?: string; planner?: string }) => {
    const cwd = process.cwd();
    const { runDoctor } = await doctorCode();
    const checks = await runDoctor(cwd, loadEnv(cwd), flags.mcpConfig, flags.planner);
    for (const c of checks) {
      const mark = c.ok ? "ok  " : c.required ? "FAIL" : "--  ";
      print(`${mark} ${c.name.padEnd(20)} ${c.detail}\n`);
    }
    const failed = checks.filter((c) => c.required && !c.ok);
    print(failed.length ? `\n${failed.length} check(s) failed.\n` : "\nall required checks passed.\n");
    process.exitCode = failed.length ? EXIT.setup : 0;
  });

try {
  if (process.argv.length <= 2) {
    printErr(program.helpInformation());
    throw new UserError("No command given.", "Run tinkerloop run --help, or tinkerloop --help for every command.");
  }
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander has printed its message; help and version are not errors.
    process.exitCode = ["commander.helpDisplayed", "commander.help", "commander.version"].includes(err.code) ? 0 : EXIT.usage;
  } else if (err instanceof UserError) {
    printErr(`error: ${err.message}\n`);
    if (err.hint) printErr(`  ${err.hint}\n`);
    process.exitCode = err.exitCode;
  } else {
    printErr(`tinkerloop failed unexpectedly: ${(err as Error).message}\n`);
    if (process.env.TINKERLOOP_DEBUG) printErr(`${(err as Error).stack}\n`);
    else printErr("  This is a bug; rerun with TINKERLOOP_DEBUG=1 for the stack trace and report it.\n");
    process.exitCode = 1;
  }
}

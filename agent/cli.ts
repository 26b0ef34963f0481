import { Command, Option } from "commander";
import { loadEnv, parseThresholds, resolveRunConfig, RUN_DEFAULTS } from "./config.ts";
import type { RunFlags } from "./config.ts";
import { runDoctor } from "./doctor.ts";
import { EXIT, UserError } from "./errors.ts";
import { executeRun } from "./run.ts";
import type { RunIO } from "./run.ts";
import { cassetteReplay, executeReplay, forkRun, loadRecording, resumeRun } from "./replay/replay-run.ts";
import { renderTranscript } from "./replay/view.ts";

// Output piped into `head` and the like: stop quietly when the reader goes away.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw err;
});

const program = new Command();

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
  tinkerloop run --recipe arithmetic                 (offline: scripted planner, local CPU model)
  tinkerloop run --model local/tiny-arith --prompt "Teach it two-digit addition"
  tinkerloop run --planner anthropic:claude-sonnet-5-5 --model Qwen/Qwen3-8B --prompt-file objective.md
  tinkerloop doctor`,
  );

program
  .command("run")
  .description("start a research run; everything it does lands in runs/<run-id>/")
  .option("--model <name>", "base model the planner must post-train (the template's MODEL)")
  .option("--prompt <text>", "the research objective (the template's PROMPT)")
  .option("--prompt-file <file>", "read the research objective from a file (a --- front-matter block gives the scripted planner hints)")
  .option("--recipe <name>", "a built-in recipe from prompts/recipes/ (arithmetic, countdown, format): prompt, model and hints")
  .option("--planner <spec>", "anthropic:<model>, openai:<model>, scripted or replay:<run>; default: anthropic when ANTHROPIC_API_KEY is set, else scripted")
  .option("--template <file>", "system prompt template with <<PROMPT>> and <<MODEL>> (default: prompts/system.md)")
  .option("--mcp-config <file>", "MCP servers in Claude Code's .mcp.json format (default: ./.mcp.json, else the bundled one)")
  .option("--run-dir <dir>", "where to write the transcript and files (default: runs/<run-id>)")
  .addOption(new Option("--max-turns <n>", "stop after this many planner turns").default(String(RUN_DEFAULTS.maxTurns)))
  .addOption(new Option("--max-minutes <n>", "stop after this much wall time").default(String(RUN_DEFAULTS.maxMinutes)))
  .addOption(new Option("--max-nudges <n>", "turns without a tool call tolerated before stopping").default(String(RUN_DEFAULTS.maxNudges)))
  .addOption(new Option("--tool-timeout <seconds>", "watchdog for one tool call: abandoned after this long without progress").default(String(RUN_DEFAULTS.toolTimeoutSec)))
  .addOption(new Option("--on-wrong-model <policy>", "a call with another base_model: rewrite it to MODEL, or reject it").choices(["rewrite", "reject"]).default(RUN_DEFAULTS.onWrongModel))
  .option("--max-train-calls <n>", "budget: training calls; past it, training is refused (save and finish)")
  .option("--max-planner-cost <usd>", "budget: estimated planner spend in US dollars")
  .option("--guard-off <rules>", "comma-separated guard rules to switch off (malformed-args, unknown-tool, schema, base-model, reward-code, large-inline, workflow, budget)")
  .option("--guard-rule <file...>", "extra guard rule modules (default export {name, check(call, ctx)})")
  .addOption(new Option("--max-context-tokens <n>", "above this estimated size, older tool results are elided from the conversation").default(String(RUN_DEFAULTS.maxContextTokens)))
  .addOption(new Option("--inline-limit-kb <n>", "inline prompts/examples above this size are moved to a file by the guard").default(String(RUN_DEFAULTS.inlineLimitKb)))
  .option("--alert-thresholds <json>", `override feedback alert thresholds, e.g. '{"uniformShare":0.5}'`)
  .option("--bash-env <names>", "comma-separated environment variables the bash tool's sandbox may see (never secrets; default: only PATH, HOME, LANG, TMPDIR)")
  .action(async (flags: RunFlags) => {
    const cwd = process.cwd();
    const env = loadEnv(cwd);
    const cfg = resolveRunConfig(flags, cwd, env);
    const { exitCode } = await executeRun(cfg, env, stdoutIO(interruptible()));
    process.exitCode = exitCode;
  });

/** An abort signal that the first Ctrl-C trips; a second one exits at once. */
function interruptible(): AbortSignal {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) {
      process.stderr.write("second interrupt: exiting now; the transcript is intact up to the last event.\n");
      process.exit(EXIT.interrupted);
    }
    process.stderr.write(`${sig}: stopping after the current step (interrupt again to exit at once)\n`);
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return controller.signal;
}

const stdoutIO = (signal: AbortSignal): RunIO => ({ out: (l) => process.stdout.write(l + "\n"), signal });

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
  .option("--mcp-config <file>", "with --execute/--fork: MCP servers to use instead of the recorded config")
  .addOption(new Option("--on-wrong-model <policy>", "with --cassette: replay under this base-model policy").choices(["rewrite", "reject"]))
  .option("--guard-off <rules>", "with --cassette: switch guard rules off")
  .option("--guard-rule <file...>", "with --cassette: add guard rules")
  .option("--alert-thresholds <json>", "with --cassette: replay under other feedback alert thresholds")
  .action(async (target: string, f: { full?: boolean; cassette?: boolean; execute?: boolean; fork?: string; planner?: string; runDir?: string; mcpConfig?: string; onWrongModel?: "rewrite" | "reject"; guardOff?: string; guardRule?: string[]; alertThresholds?: string }) => {
    const cwd = process.cwd();
    if (f.cassette) {
      const { differences } = await cassetteReplay(target, {
        ...(f.onWrongModel ? { onWrongModel: f.onWrongModel } : {}),
        ...(f.guardOff !== undefined ? { guardOff: f.guardOff.split(",").map((x) => x.trim()).filter(Boolean) } : {}),
        ...(f.guardRule ? { guardRules: f.guardRule } : {}),
        ...(f.alertThresholds ? { alertThresholds: parseThresholds(f.alertThresholds) } : {}),
      });
      process.stdout.write(differences.length ? `${differences.length} difference(s) from the recording:\n${differences.map((d) => `  ${d}`).join("\n")}\n` : "cassette replay: no differences from the recording.\n");
      return;
    }
    const env = loadEnv(cwd);
    if (f.execute) {
      const { divergences } = await executeReplay(target, { env, ...(f.mcpConfig ? { mcpConfigPath: f.mcpConfig } : {}), out: (l) => process.stdout.write(l + "\n") });
      process.stdout.write(divergences.length ? `${divergences.length} divergence(s) from the recording:\n${divergences.map((d) => `  ${d}`).join("\n")}\n` : "execute replay: live tools reproduced every recorded result.\n");
      return;
    }
    if (f.fork !== undefined) {
      if (!f.planner) throw new UserError("--fork needs --planner: the planner that continues the run.", "e.g. --fork 3 --planner openai:gpt-5");
      const { exitCode } = await forkRun(target, Number(f.fork), f.planner, { env, io: stdoutIO(interruptible()), ...(f.runDir ? { runDir: f.runDir } : {}), ...(f.mcpConfig ? { mcpConfigPath: f.mcpConfig } : {}) });
      process.exitCode = exitCode;
      return;
    }
    const rec = loadRecording(target);
    process.stdout.write(renderTranscript(rec.read, { full: f.full ?? false }).join("\n") + "\n");
  });

program
  .command("resume")
  .description("continue a stopped or crashed run in its own directory: conversation rebuilt, training restored from the last save")
  .argument("<run-dir>", "the run directory (runs/<id>)")
  .option("--planner <spec>", "continue with another planner than the recorded one")
  .option("--mcp-config <file>", "MCP servers to use instead of the recorded config")
  .option("--max-turns <n>", "new turn limit (counts the turns already taken)")
  .option("--max-minutes <n>", "new time limit for the resumed part")
  .action(async (runDir: string, f: { planner?: string; mcpConfig?: string; maxTurns?: string; maxMinutes?: string }) => {
    const env = loadEnv(process.cwd());
    const { exitCode } = await resumeRun(runDir, {
      env,
      io: stdoutIO(interruptible()),
      ...(f.planner ? { plannerSpec: f.planner } : {}),
      ...(f.mcpConfig ? { mcpConfigPath: f.mcpConfig } : {}),
      ...(f.maxTurns ? { maxTurns: Number(f.maxTurns) } : {}),
      ...(f.maxMinutes ? { maxMinutes: Number(f.maxMinutes) } : {}),
    });
    process.exitCode = exitCode;
  });

program
  .command("models")
  .description("list the models a run can train: local CPU models (offline) and the Tinker lineup")
  .action(async () => {
    const { listLocalModels } = await import("../tools/tinker/backends/local/backend.ts");
    const { TINKER_MODELS } = await import("../tools/tinker/models.ts");
    process.stdout.write("Local models (CPU, no key needed):\n");
    for (const m of listLocalModels()) {
      const base = m.baseline as { greedyExactAccuracy?: number } | undefined;
      process.stdout.write(`  ${m.id.padEnd(40)} ${m.parameters.toLocaleString("en-US")} parameters${base?.greedyExactAccuracy !== undefined ? ` · arithmetic holdout ${(base.greedyExactAccuracy * 100).toFixed(1)}% (greedy)` : ""}\n    ${m.description}\n`);
    }
    process.stdout.write("\nTinker models (need TINKER_API_KEY and the worker's Python packages):\n");
    for (const m of TINKER_MODELS) process.stdout.write(`  ${m.id.padEnd(40)} ${m.type.padEnd(11)} ${m.architecture.padEnd(5)} ${m.activeParams.padStart(6)} active · group ${String(m.recommendedGroupSize).padStart(2)} · ${m.renderer}\n`);
  });

program
  .command("doctor")
  .description("check Node, python3, API keys (never printed) and that every MCP server starts and lists its tools")
  .option("--mcp-config <file>", "the MCP config to check")
  .action(async (flags: { mcpConfig?: string }) => {
    const cwd = process.cwd();
    const checks = await runDoctor(cwd, loadEnv(cwd), flags.mcpConfig);
    for (const c of checks) {
      const mark = c.ok ? "ok  " : c.required ? "FAIL" : "--  ";
      process.stdout.write(`${mark} ${c.name.padEnd(20)} ${c.detail}\n`);
    }
    const failed = checks.filter((c) => c.required && !c.ok);
    process.stdout.write(failed.length ? `\n${failed.length} check(s) failed.\n` : "\nall required checks passed.\n");
    process.exitCode = failed.length ? EXIT.setup : 0;
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof UserError) {
    process.stderr.write(`error: ${err.message}\n`);
    if (err.hint) process.stderr.write(`  ${err.hint}\n`);
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`tinkerloop failed unexpectedly: ${(err as Error).message}\n`);
    if (process.env.TINKERLOOP_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    else process.stderr.write("  This is a bug; rerun with TINKERLOOP_DEBUG=1 for the stack trace and report it.\n");
    process.exitCode = 1;
  }
}

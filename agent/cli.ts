import { Command, Option } from "commander";
import { loadEnv, resolveRunConfig } from "./config.ts";
import type { RunFlags } from "./config.ts";
import { runDoctor } from "./doctor.ts";
import { EXIT, UserError } from "./errors.ts";
import { executeRun } from "./run.ts";

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
  1    the run ended without finishing (turn/time limit, planner error or silence)
  2    bad input (missing prompt or model, bad template, unreadable file, missing key)
  3    a tool server could not start
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
  .option("--planner <spec>", "anthropic:<model> or scripted; default: anthropic when ANTHROPIC_API_KEY is set, else scripted")
  .option("--template <file>", "system prompt template with <<PROMPT>> and <<MODEL>> (default: prompts/system.md)")
  .option("--mcp-config <file>", "MCP servers in Claude Code's .mcp.json format (default: ./.mcp.json, else the bundled one)")
  .option("--run-dir <dir>", "where to write the transcript and files (default: runs/<run-id>)")
  .addOption(new Option("--max-turns <n>", "stop after this many planner turns").default("200"))
  .addOption(new Option("--max-minutes <n>", "stop after this much wall time").default("240"))
  .addOption(new Option("--max-nudges <n>", "turns without a tool call tolerated before stopping").default("3"))
  .addOption(new Option("--tool-timeout <seconds>", "default timeout of one tool call").default("1800"))
  .addOption(new Option("--on-wrong-model <policy>", "a call with another base_model: rewrite it to MODEL, or reject it").choices(["rewrite", "reject"]).default("rewrite"))
  .option("--max-train-calls <n>", "budget: training calls; past it, training is refused (save and finish)")
  .option("--max-planner-cost <usd>", "budget: estimated planner spend in US dollars")
  .option("--guard-off <rules>", "comma-separated guard rules to switch off (unknown-tool, schema, base-model, reward-code, large-inline, workflow, budget)")
  .option("--guard-rule <file...>", "extra guard rule modules (default export {name, check(call, ctx)})")
  .action(async (flags: RunFlags) => {
    const cwd = process.cwd();
    const env = loadEnv(cwd);
    const cfg = resolveRunConfig(flags, cwd, env);
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
    const { exitCode } = await executeRun(cfg, env, { out: (l) => process.stdout.write(l + "\n"), signal: controller.signal });
    process.exitCode = exitCode;
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

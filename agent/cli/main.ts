import path from "node:path";
import { COMMANDS } from "./commands/index.ts";
import { Command, CommanderError } from "commander";
import { refuseFromRunDir } from "../config/run-config.ts";
import { UserError } from "../core/errors.ts";
import { EXIT } from "../core/run-end.ts";
import { LIVE_DEFAULTS } from "../report/live-server.ts";
import { CONFIG_FILE_ARGUMENTS, configFilesIn } from "./flags.ts";
import { printErr } from "./output.ts";

// The program: its commands, and how an error ends it (one line, an exit code). Each command's
// module declares its flags and loads its code (SDKs, MCP, the training stack) only when it runs,
// so --help and a usage error answer at once.

// Output piped into `head` and the like: stop quietly when the reader goes away.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw err;
});

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
  tinkerloop run --recipe addition                   (offline: scripted planner, local CPU model, ~30 s)
  tinkerloop run --model local/tiny-arith --prompt "Teach it two-digit addition"
  tinkerloop run --planner anthropic:claude-sonnet-5-5 --model Qwen/Qwen3-8B --prompt-file objective.md
  tinkerloop run --recipe arithmetic --serve         (watch it at http://127.0.0.1:${LIVE_DEFAULTS.port}/)
  tinkerloop report runs/<id>                        (runs/<id>/report.html, also written when a run ends)
  tinkerloop compare runs/<a> runs/<b>               (compare.html and a table)
  tinkerloop sweep --planner scripted --planner anthropic --recipe arithmetic --seeds 3   (a leaderboard)
  tinkerloop mcp --recipe arithmetic                 (the guarded tools for your own agent, over stdio)
  tinkerloop doctor`,
  );

// A run directory is never a configuration source: every flag that names a configuration
// file (flags.ts marks them) is checked here, for every command, before its action runs.
program.hook("preAction", (_program, action) => {
  for (const { flag, file } of configFilesIn(action.opts())) refuseFromRunDir(path.resolve(process.cwd(), file), flag);
  const argument = CONFIG_FILE_ARGUMENTS[action.name()];
  const at = action.registeredArguments.findIndex((a) => a.name() === argument);
  const value = at >= 0 ? action.args[at] : undefined;
  if (value) refuseFromRunDir(path.resolve(process.cwd(), value), `the ${action.name()} file`);
});

for (const register of COMMANDS) register(program);

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

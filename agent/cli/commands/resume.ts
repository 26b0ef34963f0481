import path from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { optionalFlags, parseFlags } from "../../config/flag-rules.ts";
import { loadEnv, mcpConfigFor, parseBashEnv, SPEND_FLAGS, spendSettings, splitList } from "../../config/run-config.ts";
import { LIVE_DEFAULTS } from "../../report/live-server.ts";
import { flag } from "../flags.ts";
import { stdoutIO } from "../output.ts";
import { interruptible } from "../signals.ts";

const resumeFlags = z.object(
  optionalFlags(["planner", "mcpConfig", "guardRule", "guardOff", "bashEnv", "maxTurns", "maxMinutes", ...SPEND_FLAGS, "serve", "host", "wandb"]),
);

/** `tinkerloop resume`: a stopped or crashed run continued in its own directory. */
export function registerResume(program: Command): void {
  program
    .command("resume")
    .description("continue a stopped or crashed run in its own directory: conversation rebuilt, training restored from the last save")
    .argument("<run-dir>", "the run directory (runs/<id>)")
    .addOption(flag("planner", "continue with another planner than the recorded one"))
    .addOption(flag("mcpConfig", "MCP servers (default: ./tinkerloop-servers.json, else the bundled one; never the recorded config)"))
    .addOption(flag("guardRule", "extra guard rule modules (never taken from the transcript)"))
    .addOption(flag("guardOff", "guard rules to switch off (never taken from the transcript: a recorded --guard-off must be named again)"))
    .addOption(flag("bashEnv", "environment variables the bash sandbox may see (never taken from the transcript)"))
    .addOption(flag("maxTurns", "new turn limit (counts the turns already taken)"))
    .addOption(flag("maxMinutes", "new time limit for the resumed part"))
    .addOption(flag("maxCost", "budget for the run, US dollars, counting what it spent before (never taken from the transcript: name it again)"))
    .addOption(flag("maxPlannerCost", "planner budget, US dollars (never taken from the transcript)"))
    .addOption(flag("maxTrainingCost", "training budget, US dollars (never taken from the transcript)"))
    .addOption(flag("prices", "a prices file laid over the built-in table (never taken from the transcript)"))
    .addOption(flag("thinking", "extended thinking for an anthropic planner (never taken from the transcript)"))
    .addOption(flag("reasoningEffort", "reasoning effort for an openai planner (never taken from the transcript)"))
    .addOption(flag("serve", `serve a live view on 127.0.0.1 (default port ${LIVE_DEFAULTS.port})`))
    .addOption(flag("host", "with --serve: listen on this address instead of loopback"))
    .addOption(flag("wandb", "log to Weights & Biases (also on with WANDB_PROJECT and WANDB_API_KEY)"))
    .action(async (runDir: string, flags: unknown) => {
      const f = parseFlags(resumeFlags, flags, "See --help.");
      const cwd = process.cwd();
      const env = loadEnv(cwd);
      const [{ resumeRun }, { withWatchers }, { runTarget }] = await Promise.all([
        import("../../resume/resume-and-fork.ts"),
        import("../watchers.ts"),
        import("../../transcript/recording.ts"),
      ]);
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
}

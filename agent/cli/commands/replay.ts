import path from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { optionalFlags, parseFlags } from "../../config/flag-rules.ts";
import { loadEnv, mcpConfigFor, parseBashEnv, parseThresholds, SPEND_FLAGS, spendSettings, splitList } from "../../config/run-config.ts";
import { UserError } from "../../core/errors.ts";
import { flag } from "../flags.ts";
import { print, stdoutIO } from "../output.ts";
import { interruptible } from "../signals.ts";

const replayFlags = z.object(
  optionalFlags([
    "view",
    "full",
    "cassette",
    "execute",
    "fork",
    "planner",
    "runDir",
    "mcpConfig",
    "onWrongModel",
    "guardOff",
    "guardRule",
    "bashEnv",
    "alertThresholds",
    ...SPEND_FLAGS,
  ]),
);

/** `tinkerloop replay`: a recorded run shown, or run again (cassette, execute) or forked at a turn. */
export function registerReplay(program: Command): void {
  program
    .command("replay")
    .description("show a recorded run, or re-run it: --cassette (no servers), --execute (live tools), --fork N (another planner from turn N)")
    .argument("<run>", "a run directory (runs/<id>) or a transcript.jsonl")
    .addOption(flag("view", "render the run in the terminal (default)"))
    .addOption(flag("full", "with --view: print texts and results in full"))
    .addOption(flag("cassette", "recorded planner turns and tool results, no servers; the guard and metrics run again and differences are printed"))
    .addOption(flag("execute", "recorded planner turns against live tools; prints where results diverge"))
    .addOption(flag("fork", "replay up to this turn, then continue live with --planner into a new run directory"))
    .addOption(flag("planner", "with --fork: anthropic:<model>, openai:<model>, scripted"))
    .addOption(flag("runDir", "with --fork: the new run's directory"))
    .addOption(flag("mcpConfig", "with --execute/--fork: MCP servers (default: ./tinkerloop-servers.json, else the bundled one; never the recorded config)"))
    .addOption(flag("onWrongModel", "with --cassette: replay under this base-model policy"))
    .addOption(flag("guardOff", "with --cassette: switch guard rules off"))
    .addOption(flag("guardRule", "with --cassette/--execute/--fork: add guard rule modules (never taken from the transcript)"))
    .addOption(flag("bashEnv", "with --execute/--fork: environment variables the bash sandbox may see (never taken from the transcript)"))
    .addOption(flag("alertThresholds", "with --cassette: replay under other feedback alert thresholds"))
    .addOption(flag("maxCost", "with --fork: budget for the new run, US dollars (never taken from the transcript)"))
    .addOption(flag("maxPlannerCost", "with --fork: planner budget, US dollars"))
    .addOption(flag("maxTrainingCost", "with --fork: training budget, US dollars"))
    .addOption(flag("prices", "with --fork: a prices file laid over the built-in table (never taken from the transcript)"))
    .addOption(flag("thinking", "with --fork: extended thinking for an anthropic planner"))
    .addOption(flag("reasoningEffort", "with --fork: reasoning effort for an openai planner"))
    .action(async (target: string, flags: unknown) => {
      const f = parseFlags(replayFlags, flags, "See --help.");
      const cwd = process.cwd();
      const guardRules = (f.guardRule ?? []).map((g) => path.resolve(cwd, g));
      const guardOff = f.guardOff === undefined ? undefined : splitList(f.guardOff);
      if (f.cassette) {
        const { cassetteReplay } = await import("../../replay/cassette.ts");
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
        const { executeReplay } = await import("../../replay/execute.ts");
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
        const { forkRun } = await import("../../resume/resume-and-fork.ts");
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
      const [{ loadRecording }, { renderTranscript }] = await Promise.all([import("../../transcript/recording.ts"), import("../../replay/view.ts")]);
      const rec = loadRecording(target, { tolerateDamage: true });
      print(`${renderTranscript(rec.read, { full: f.full ?? false }).join("\n")}\n`);
    });
}

import type { Command } from "commander";
import { recipeHelp } from "../../config/recipes.ts";
import { loadEnv, resolveRunConfig } from "../../config/run-config.ts";
import type { RunFlags } from "../../config/run-config.ts";
import { MIN_THINKING_BUDGET, REASONING_EFFORTS } from "../../config/planner-depth.ts";
import { LIVE_DEFAULTS } from "../../report/live-server.ts";
import { collect, flag } from "../flags.ts";
import { stdoutIO } from "../output.ts";
import { interruptible } from "../signals.ts";
import type { WatcherFlags } from "../watchers.ts";
import { RULE_NAMES } from "../../guard/rule-names.ts";

/** `tinkerloop run`: one research run into runs/<run-id>/. */
export function registerRun(program: Command): void {
  const d = { defaulted: true };
  program
    .command("run")
    .description("start a research run; everything it does lands in runs/<run-id>/")
    .addOption(flag("model", "base model the planner must post-train (the template's MODEL)"))
    .addOption(flag("prompt", "the research objective (the template's PROMPT)"))
    .addOption(flag("promptFile", "read the research objective from a file (a --- front-matter block gives the scripted planner hints)"))
    .addOption(flag("recipe", "a built-in recipe from prompts/recipes/ (listed below): prompt, model and hints"))
    .addOption(flag("planner", "anthropic:<model>, openai:<model>, scripted or replay:<run>; default: anthropic when ANTHROPIC_API_KEY is set, else scripted"))
    .addOption(flag("template", "system prompt template with <<PROMPT>> and <<MODEL>> (default: prompts/system.md)"))
    .addOption(flag("mcpConfig", "MCP servers in Claude Code's .mcp.json format (default: ./tinkerloop-servers.json, else the bundled one)"))
    .addOption(flag("runDir", "where to write the transcript and files (default: runs/<run-id>)"))
    .addOption(flag("maxTurns", "stop after this many planner turns", d))
    .addOption(flag("maxMinutes", "stop after this much wall time", d))
    .addOption(flag("maxNudges", "turns without a tool call tolerated before stopping", d))
    .addOption(flag("toolTimeout", "watchdog for one tool call: abandoned after this long without progress", d))
    .addOption(flag("onWrongModel", "a call with another base_model: rewrite it to MODEL, or reject it", d))
    .addOption(flag("maxTrainCalls", "budget: training calls; past it, training is refused (save and finish)"))
    .addOption(
      flag(
        "maxCost",
        "budget: US dollars for the whole run, planner and Tinker together; a training or sampling call estimated not to fit is refused before it runs",
      ),
    )
    .addOption(flag("maxPlannerCost", "budget: US dollars for the planner's requests"))
    .addOption(flag("maxTrainingCost", "budget: US dollars for training and sampling (Tinker)"))
    .addOption(flag("prices", "a prices file laid over the built-in table (same shape as agent/spend/prices.json; also TINKERLOOP_PRICES)"))
    .addOption(
      flag("thinking", `anthropic planners: extended thinking, this many tokens a turn, interleaved with tool calls (at least ${MIN_THINKING_BUDGET})`),
    )
    .addOption(flag("reasoningEffort", `openai planners: reasoning effort (${REASONING_EFFORTS.join(", ")})`))
    .addOption(flag("guardOff", `comma-separated guard rules to switch off (${RULE_NAMES.join(", ")})`))
    .addOption(flag("guardRule", "extra guard rule modules (default export {name, check(call, ctx)})"))
    .addOption(
      flag(
        "exam",
        "the exam the harness sits (hidden from the planner): generator:<task> | hub:<dataset>[@<config>]:<split> | jsonl:<file>, then ,scorer=NAME,items=N[,template=…,temperature=…,max_tokens=…,samples=…]; 'none': ungraded (default: the recipe's)",
      ),
    )
    .addOption(flag("examEvery", "also sit the exam every this many training calls (report curves only; the planner never sees them)"))
    .addOption(flag("allowCheckpoint", "a checkpoint from outside this run that load may take (repeatable; otherwise only this run's own)").argParser(collect))
    .addOption(flag("maxContextTokens", "above this estimated size, older tool results are elided from the conversation", d))
    .addOption(flag("inlineLimitKb", "inline prompts/examples above this size are moved to a file by the guard", d))
    .addOption(flag("resumeEvery", "the harness keeps a rolling resume point every this many training calls, so a crash loses at most that many (0: off)", d))
    .addOption(flag("alertThresholds", `override feedback alert thresholds, e.g. '{"uniformShare":0.5}'`))
    .addOption(flag("bashEnv", "comma-separated environment variables the bash tool's sandbox may see (never secrets; default: only PATH, HOME, LANG, TMPDIR)"))
    .addOption(flag("seed", "the run's seed: the local backend's adapter initialisation and sampling (a sweep gives each cell one)"))
    .addOption(flag("serve", `serve a live view of the run on 127.0.0.1 (default port ${LIVE_DEFAULTS.port}; 0 picks a free one)`))
    .addOption(flag("host", "with --serve: listen on this address instead of loopback (e.g. 0.0.0.0 to be reachable from other machines)"))
    .addOption(
      flag("wandb", "log metrics, config and summary to Weights & Biases (needs the Python wandb package; also on with WANDB_PROJECT and WANDB_API_KEY)"),
    )
    .addHelpText("after", () => `\nRecipes (--recipe NAME; method, model, what it needs beyond this machine):\n${recipeHelp()}`)
    .action(async (flags: RunFlags & WatcherFlags) => {
      const cwd = process.cwd();
      const env = loadEnv(cwd);
      const cfg = resolveRunConfig(flags, cwd, env);
      // The run's code (SDKs, MCP, the training stack) loads only now, so --help answers at once.
      const [{ executeRun }, { withWatchers }] = await Promise.all([import("../../session/execute-run.ts"), import("../watchers.ts")]);
      const { exitCode } = await withWatchers(cfg.runDir, flags, env, () => executeRun(cfg, env, stdoutIO(interruptible())));
      process.exitCode = exitCode;
    });
}

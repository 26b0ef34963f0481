import type { Command } from "commander";
import { parseFlags, portNumber, ruleOf } from "../../config/flag-rules.ts";
import { EXIT } from "../../core/run-end.ts";
import { gatewaySignals } from "../../gateway/signals.ts";
import { z } from "zod";
import { loadEnv, resolveRunConfig } from "../../config/run-config.ts";
import type { RunFlags } from "../../config/run-config.ts";
import { UserError } from "../../core/errors.ts";
import { GATEWAY_DEFAULT_PORT, TOKEN_ENV } from "../../gateway/defaults.ts";
import { collect, flag } from "../flags.ts";
import { print, printErr } from "../output.ts";

/** `tinkerloop mcp`: the guarded tools as one MCP server for an outside agent. */
export function registerMcp(program: Command): void {
  const d = { defaulted: true };
  program
    .command("mcp")
    .description(
      "serve the guarded tools as one MCP server for your own agent (Claude Code, Codex CLI, …): a run dir like run's, MODEL fixed, feedback in training results",
    )
    .addOption(flag("model", "the base model the agent must post-train (fixed: other base models are rewritten or refused)"))
    .addOption(flag("prompt", "the research objective, for the seed prompt the agent gets as instructions"))
    .addOption(flag("promptFile", "read the research objective from a file"))
    .addOption(flag("recipe", "a built-in recipe: objective and model"))
    .addOption(flag("template", "system prompt template with <<PROMPT>> and <<MODEL>> (default: prompts/system.md)"))
    .addOption(flag("mcpConfig", "MCP servers to put behind the gateway (default: ./tinkerloop-servers.json, else the bundled tinker and hf-datasets)"))
    .addOption(flag("runDir", "where to write the transcript and files (default: runs/<run-id>)"))
    .addOption(
      flag("http", `serve Streamable HTTP on 127.0.0.1 (default port ${GATEWAY_DEFAULT_PORT}; 0 picks a free one) with a bearer token, instead of stdio`),
    )
    .addOption(flag("printPrompt", "print the seed prompt (the agent's instructions) to stdout and exit"))
    .addOption(
      flag("agentGone", "with --http: an agent whose session has had no request open (no call, no event stream) this long has left; the run is wrapped up", d),
    )
    .addOption(flag("maxMinutes", "time budget: past it training is refused; after a grace period the run ends", d))
    .addOption(flag("toolTimeout", "watchdog for one tool call", d))
    .addOption(flag("onWrongModel", "a call with another base_model: rewrite it to MODEL, or reject it", d))
    .addOption(flag("maxTrainCalls", "budget: training calls"))
    .addOption(
      flag(
        "maxCost",
        "budget: US dollars of training and sampling (your agent's own model is not the gateway's to count); a call that would not fit is refused before it runs",
      ),
    )
    .addOption(flag("prices", "a prices file laid over the built-in table (same shape as agent/spend/prices.json)"))
    .addOption(flag("guardOff", "comma-separated guard rules to switch off"))
    .addOption(flag("guardRule", "extra guard rule modules"))
    .addOption(flag("exam", "the exam the gateway sits at the start and at finish() (same form as run's --exam; default: the recipe's)"))
    .addOption(flag("allowCheckpoint", "a checkpoint from outside this run that load may take (repeatable)").argParser(collect))
    .addOption(flag("inlineLimitKb", "inline prompts/examples above this size are moved to a file by the guard", d))
    .addOption(flag("alertThresholds", "override feedback alert thresholds"))
    .addOption(flag("seed", "the run's seed (local backend)"))
    .addOption(flag("bashEnv", "comma-separated environment variables the bash tool's sandbox may see (never secrets)"))
    .addHelpText(
      "after",
      `
Over stdio (the default) the agent starts the gateway itself; everything the gateway says goes
to stderr. With --http, it prints its URL and a bearer token (or uses ${TOKEN_ENV}); requests
without the token are refused, and a second agent at the same time is refused as busy.
The run ends when finish() succeeds (then every further call is refused), and otherwise when the
agent disconnects (over HTTP: its session closed, or no request open for --agent-gone seconds) or
on a signal: the record is written at once, then unsaved training is saved. Over HTTP the next
agent then gets a new run, until Ctrl-C. Tool servers: --mcp-config, else ./tinkerloop-servers.json,
else the bundled ones (never .mcp.json; a list naming a gateway is refused). Examples:
  claude mcp add tinkerloop -- tinkerloop mcp --recipe arithmetic
  tinkerloop mcp --model local/tiny-arith --prompt "Teach one-digit addition" --http`,
    )
    .action(async (flags: RunFlags & { http?: string | boolean; printPrompt?: boolean; agentGone: string }) => {
      const cwd = process.cwd();
      const env = loadEnv(cwd);
      const cfg = resolveRunConfig(flags, cwd, env);
      const { runGateway, seedPrompt } = await import("../../gateway/gateway.ts");
      if (flags.printPrompt) {
        print(`${seedPrompt(cfg).system}\n`);
        return;
      }
      const httpPort = flags.http === undefined || flags.http === false ? undefined : flags.http === true ? GATEWAY_DEFAULT_PORT : httpPortOf(flags.http);
      const { agentGone } = parseFlags(z.object({ agentGone: ruleOf("agentGone") }), flags, "See tinkerloop mcp --help.");
      const signal = gatewaySignals({ err: (l) => printErr(`${l}\n`), exitNow: () => process.exit(EXIT.interrupted) });
      process.exitCode = await runGateway(cfg, env, {
        ...(httpPort !== undefined ? { httpPort } : {}),
        out: (l) => printErr(`${l}\n`),
        signal,
        agentGoneMs: agentGone * 1000,
      });
    });
}

function httpPortOf(value: string): number {
  const r = portNumber.safeParse(value);
  if (!r.success) throw new UserError(`--http ${value}: ${r.error.issues[0]?.message ?? "not a port"}.`, "e.g. --http 8766, or --http 0 for any free port.");
  return r.data;
}

import type { Command } from "commander";
import { loadEnv } from "../../config/run-config.ts";
import { EXIT } from "../../core/run-end.ts";
import { flag } from "../flags.ts";
import { print } from "../output.ts";

/** `tinkerloop doctor`: what a run needs from this machine, checked. */
export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description(
      "check Node, python3, API keys (never printed), the planner's model id against its provider's model list, and that every MCP server starts and lists its tools",
    )
    .addOption(flag("mcpConfig", "the MCP config to check"))
    .addOption(flag("planner", "the planner to check (default: what a run would use); its model id is checked against the provider's model list"))
    .action(async (flags: { mcpConfig?: string; planner?: string }) => {
      const cwd = process.cwd();
      // The checks start MCP servers and planner clients: loaded only when the doctor runs.
      const { runDoctor } = await import("./doctor-checks.ts");
      const checks = await runDoctor(cwd, loadEnv(cwd), flags.mcpConfig, flags.planner);
      for (const c of checks) {
        const mark = c.ok ? "ok  " : c.required ? "FAIL" : "--  ";
        print(`${mark} ${c.name.padEnd(20)} ${c.detail}\n`);
      }
      const failed = checks.filter((c) => c.required && !c.ok);
      print(failed.length ? `\n${failed.length} check(s) failed.\n` : "\nall required checks passed.\n");
      process.exitCode = failed.length ? EXIT.setup : 0;
    });
}

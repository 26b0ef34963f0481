import type { Command } from "commander";
import { flag } from "../flags.ts";
import { print } from "../output.ts";

/** `tinkerloop compare`: several runs side by side. */
export function registerCompare(program: Command): void {
  program
    .command("compare")
    .description("overlay several runs' curves in compare.html and print a table: holdout lift, best, time, turns, tokens, cost, interventions")
    .argument("<runs...>", "two or more run directories")
    .addOption(flag("out", "where to write the page", { defaulted: true }))
    .action(async (targets: string[], f: { out: string }) => {
      const { writeCompare } = await import("../../report/compare.ts");
      const { file, table } = writeCompare(targets, f.out);
      print(`${table.join("\n")}\n\ncompare: ${file}\n`);
    });
}

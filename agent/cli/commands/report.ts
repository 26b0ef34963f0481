import type { Command } from "commander";
import { print } from "../output.ts";

/** `tinkerloop report`: a run's offline report page. */
export function registerReport(program: Command): void {
  program
    .command("report")
    .description("write runs/<id>/report.html: curves, timeline, samples and reward code in one offline page")
    .argument("<run>", "a run directory (runs/<id>) or its transcript.jsonl")
    .action(async (target: string) => {
      const { writeReport } = await import("../../report/report.ts");
      print(`${writeReport(target)}\n`);
    });
}

import type { Command } from "commander";
import { registerCompare } from "./compare.ts";
import { registerDoctor } from "./doctor.ts";
import { registerMcp } from "./mcp.ts";
import { registerModels } from "./models.ts";
import { registerReplay } from "./replay.ts";
import { registerReport } from "./report.ts";
import { registerResume } from "./resume.ts";
import { registerRun } from "./run.ts";
import { registerSweep } from "./sweep.ts";
import { registerWatch } from "./watch.ts";

/** Every command, in the order `tinkerloop --help` lists them (declaring a command has no side effect). */
export const COMMANDS: ReadonlyArray<(program: Command) => void> = [
  registerRun,
  registerSweep,
  registerMcp,
  registerReplay,
  registerResume,
  registerReport,
  registerWatch,
  registerCompare,
  registerModels,
  registerDoctor,
];

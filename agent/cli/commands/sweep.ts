import type { Command } from "commander";
import { loadEnv } from "../../config/run-config.ts";
import { EXIT } from "../../core/run-end.ts";
import type { SweepFlags } from "../../sweep/spec.ts";
import { collect, flag } from "../flags.ts";
import { print, printErr } from "../output.ts";

type SweepCommandFlags = SweepFlags & {
  concurrency?: string;
  shard?: string;
  dir?: string;
  dryRun?: boolean;
  status?: string;
  collect?: string[];
  suite?: string;
  judge?: string;
  judgePolicy?: string;
};

/** `tinkerloop sweep`: a matrix of runs and their leaderboard. */
export function registerSweep(program: Command): void {
  // A cell's run flags go to each cell's own `tinkerloop run` as typed; that run checks them.
  const cell = { asGiven: true };
  program
    .command("sweep")
    .description("planners side by side: a matrix of planners × recipes or prompt files × models × seeds, each cell a tinkerloop run, and a leaderboard")
    .argument("[file]", "a sweep file (JSON or YAML) giving the matrix instead of the flags")
    .addOption(flag("suite", "run a suite of the research bench: offline (no keys), tinker, or a suite file; planners from --planner or the file"))
    .addOption(
      flag("planner", "a planner to compare (repeat for each): anthropic:<model>, openai:<model>, scripted, replay:<run>").argParser(collect).default([]),
    )
    .addOption(flag("recipe", "a built-in recipe (repeatable)").argParser(collect).default([]))
    .addOption(flag("promptFile", "a research objective file (repeatable)").argParser(collect).default([]))
    .addOption(flag("model", "a base model (repeatable; default: each prompt's own)").argParser(collect).default([]))
    .addOption(flag("seeds", "seeds 1..n for every combination (default 1)"))
    .addOption(flag("name", "the sweep's id (default: derived from the matrix, so the same command continues the same sweep)"))
    .addOption(flag("dir", "the sweep directory (default: sweeps/<id>); with --collect, where the merged leaderboard goes (default: the first directory)"))
    .addOption(flag("concurrency", "cells at a time (default: one per core when every model is local; more for Tinker)"))
    .addOption(flag("shard", "run only cells i, i+n, i+2n, … of the fixed order (Slurm: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)"))
    .addOption(flag("dryRun", "list the cells this invocation would run, and exit"))
    .addOption(flag("status", "show a sweep's cells and its leaderboard so far (runs nothing)"))
    .addOption(flag("collect", "merge the cells of sweep directories (the shards of one sweep) into one leaderboard"))
    .addOption(flag("judge", "a suite: after the cells, an LLM judge (anthropic:<model> or openai:<model>) reads each finished run for exam-targeted data"))
    .addOption(flag("judgePolicy", "a suite: record (default: the verdict shown beside the score) or zero (a flagged cell counts as its baseline)"))
    .addOption(flag("maxTurns", "every cell: turn limit", cell))
    .addOption(flag("maxMinutes", "every cell: time limit", cell))
    .addOption(flag("maxTrainCalls", "every cell: training-call budget", cell))
    .addOption(flag("maxCost", "every cell: spend budget, US dollars (planner and training)", cell))
    .addOption(flag("maxPlannerCost", "every cell: planner spend budget", cell))
    .addOption(flag("maxTrainingCost", "every cell: training spend budget", cell))
    .addOption(flag("prices", "every cell: a prices file laid over the built-in table", cell))
    .addOption(flag("thinking", "every cell with an anthropic planner: extended thinking budget", cell))
    .addOption(flag("reasoningEffort", "every cell with an openai planner: reasoning effort", cell))
    .addOption(flag("toolTimeout", "every cell: tool call watchdog", cell))
    .addOption(flag("onWrongModel", "every cell: rewrite or reject", cell))
    .addOption(flag("guardOff", "every cell: guard rules switched off", cell))
    .addOption(flag("mcpConfig", "every cell: the MCP servers", cell))
    .addHelpText(
      "after",
      `
Each cell is an ordinary \`tinkerloop run\` in sweeps/<id>/<cell>/ (its output in logs/<cell>.log), and
sweep.json records every cell's state. Running the same command again continues the sweep:
finished cells are kept, interrupted ones resumed, failed ones retried once. Ctrl-C stops every
cell gracefully (emergency saves); run the command again to continue. At the end: the leaderboard
(printed, leaderboard.json, compare.html). Exit codes: 0 every cell ended on its own, 1 some did
not, 2 bad input, 130 interrupted. A sweep file (YAML or JSON):
  name: arith-planners
  planners: [scripted, "anthropic:claude-sonnet-5-5", { spec: "replay:runs/abc", label: recorded }]
  recipes: [arithmetic]
  seeds: 3
  concurrency: 2
  run: { maxMinutes: 30, maxTurns: 60 }
The research bench: --suite runs a fixed list of graded tasks (each with its models, exam, budget,
seeds, reference score and weight) and ranks planners by the suite score: per task the normalised
gain (final − baseline) / (reference − baseline) of the harness's exam, weighted over tasks.
  tinkerloop sweep --suite offline --planner scripted        (no keys; see README "Research bench")
  tinkerloop sweep --suite tinker --planner anthropic:claude-sonnet-5-5 --dry-run
Examples:
  tinkerloop sweep --planner scripted --planner openai:qwen3-32b --recipe arithmetic --seeds 3
  tinkerloop sweep sweep.yaml --shard 0/4          (one Slurm array task or Kubernetes Indexed Job pod)
  tinkerloop sweep --collect sweeps/arith-planners  (the merged leaderboard)
  tinkerloop sweep --status sweeps/arith-planners`,
    )
    .action(async (file: string | undefined, f: SweepCommandFlags) => {
      const cwd = process.cwd();
      const out = (l: string) => print(`${l}\n`);
      const { collectSweeps, runSweep, sweepStatus } = await import("../../sweep/sweep.ts");
      if (f.status !== undefined) {
        process.exitCode = sweepStatus(f.status, { cwd, out }, f.judgePolicy);
        return;
      }
      if (f.collect !== undefined) {
        process.exitCode = collectSweeps(f.collect, f.dir, { cwd, out }, f.judgePolicy);
        return;
      }
      const { stop, hardStop } = sweepSignals();
      const { concurrency, shard, dir, dryRun, status: _s, collect: _c, suite, judge, judgePolicy, ...flags } = f;
      process.exitCode = await runSweep(
        {
          ...(file ? { file } : {}),
          ...(suite !== undefined ? { suite } : {}),
          ...(judge !== undefined ? { judge } : {}),
          ...(judgePolicy !== undefined ? { judgePolicy } : {}),
          flags,
          ...(concurrency ? { concurrency } : {}),
          ...(shard ? { shard } : {}),
          ...(dir ? { dir } : {}),
          ...(dryRun ? { dryRun } : {}),
        },
        { cwd, env: loadEnv(cwd), out, stop, hardStop },
      );
    });
}

/** The first Ctrl-C asks every cell to stop gracefully; the second asks again (they exit at once); the third exits. */
function sweepSignals(): { stop: AbortSignal; hardStop: AbortSignal } {
  const stop = new AbortController();
  const hardStop = new AbortController();
  let n = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    n++;
    if (n === 1) {
      printErr(`${sig}: stopping every running cell gracefully (their emergency saves happen); interrupt again to stop them at once\n`);
      stop.abort();
    } else if (n === 2) {
      printErr(`${sig}: stopping every running cell now\n`);
      hardStop.abort();
    } else process.exit(EXIT.interrupted);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return { stop: stop.signal, hardStop: hardStop.signal };
}

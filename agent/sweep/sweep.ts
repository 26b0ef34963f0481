/** `tinkerloop sweep`: run a matrix of cells, show where a sweep stands (--status), merge shards (--collect). */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Env } from "../config/run-config.ts";
import { refuseFromRunDir, resolveRunConfig } from "../config/run-config.ts";
import { flagOf } from "../config/flag-rules.ts";
import type { RunFlags } from "../config/run-config.ts";
import { UserError } from "../core/errors.ts";
import { EXIT } from "../core/run-end.ts";
import { resolvePlanner } from "../planners/index.ts";
import { writeCompare } from "../report/compare.ts";
import { observeCell } from "./cell-status.ts";
import { formatLeaderboard, groupTitle, leaderboard, LEADERBOARD_COLUMNS, rowCells } from "./leaderboard.ts";
import type { LeaderGroup, ScoredCell } from "./leaderboard.ts";
import { manifestFiles, ManifestStore, readManifest, SWEEP_FILES } from "./manifest.ts";
import type { CellRecord, SuiteRecord } from "./manifest.ts";
import { parseJudgeSpec } from "../judge/spec.ts";
import { makePrivateRunDir, RUN_FILE_MODE } from "../../lib/run-file-writes.ts";
import { loadSuite, SUITE_REFUSED, suiteFileOf, suiteSweepSpec } from "./suite/suite-file.ts";
import type { Suite } from "./suite/suite-file.ts";
import { boardOf, describeSuite, differentSuites, judgeCells, judgePolicyOf, madeFrom, suiteRecord } from "./suite/suite-run.ts";
import type { SuiteOutputs } from "./suite/suite-run.ts";
import { formatSuite, integrityTable, scoreTable, suiteBars, taskTables } from "./suite/suite-table.ts";
import { runCells } from "./runner.ts";
import {
  CELL_RUN_OPTIONS,
  cellRun,
  expandCells,
  PATH_OPTIONS,
  fingerprint,
  loadSweepFile,
  parseShard,
  plannerEntries,
  shardCells,
  specFromFlags,
  sweepIdOf,
  withAbsolutePaths,
} from "./spec.ts";
import type { Cell, CellRunOption, SweepFlags, SweepSpec } from "./spec.ts";

export type SweepIO = {
  cwd: string;
  env: Env;
  out: (line: string) => void;
  /** First Ctrl-C. */
  stop: AbortSignal;
  /** Second Ctrl-C. */
  hardStop: AbortSignal;
};

export type SweepRequest = {
  file?: string;
  /** A suite (the research bench): a shipped suite's name or a suite file. */
  suite?: string;
  /** `--judge`: an LLM judge reads each finished cell after the run (agent/judge/). */
  judge?: string;
  /** `--judge-policy`: what a judge's flag does to a cell's score (default: recorded only). */
  judgePolicy?: string;
  flags: SweepFlags;
  concurrency?: string;
  shard?: string;
  dir?: string;
  dryRun?: boolean;
};

/** Keys a cell may need that a dry run does without (it starts nothing). */
const DRY_RUN_KEYS = ["TINKER_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"] as const;

/** Where sweeps go unless --dir says otherwise. */
export const SWEEPS_DIR = "sweeps";

/** Runs (or continues) a sweep; returns the exit code: 0 every cell ended on its own, 1 some failed or did not run, 130 interrupted. */
export async function runSweep(req: SweepRequest, io: SweepIO): Promise<number> {
  const plan = planOf(req, io.cwd);
  const { spec, suite } = plan;
  const shard = req.shard !== undefined ? parseShard(req.shard) : undefined;
  const all = expandCells(spec);
  const mine = shardCells(all, shard);
  // A dry run validates on a machine without the keys (e.g. the tinker suite, before it runs): a missing key is a note.
  const missing = req.dryRun ? DRY_RUN_KEYS.filter((k) => !io.env[k]) : [];
  const models = checkCells(spec, all, { ...io, env: { ...io.env, ...Object.fromEntries(missing.map((k) => [k, "dry-run-placeholder"])) } });
  const concurrency = parseConcurrency(req.concurrency) ?? plan.concurrency ?? defaultConcurrency(models);
  const policy = judgePolicyOf(req.judgePolicy);
  if (req.judge !== undefined && !suite) throw new UserError("--judge reads the cells of a suite: use it with --suite.");
  // Checked before any cell starts: a missing key is refused now, not after the last cell.
  const judge = req.judge !== undefined ? parseJudgeSpec(req.judge, io.env) : undefined;
  // A suite's sweeps differ by planners: each set of planners gets its own directory unless --name says otherwise.
  const sweepId = suite && !spec.name ? `${suite.name}-${fingerprint(spec).slice(0, 8)}` : sweepIdOf(spec);
  const sweepDir = path.resolve(io.cwd, req.dir ?? path.join(SWEEPS_DIR, sweepId));

  const where = `${shard ? `shard ${shard.index}/${shard.count}: ` : ""}${mine.length} of ${all.length} cell(s)`;
  if (req.dryRun) {
    if (suite) for (const line of describeSuite(suite)) io.out(line);
    if (missing.length) io.out(`note: ${missing.join(", ")} not set here; cells that need ${missing.length > 1 ? "them" : "it"} would be refused at start`);
    io.out(`sweep ${sweepId} (${where}) → ${sweepDir}`);
    for (const c of mine) io.out(`  ${c.id}`);
    return 0;
  }
  if (fs.existsSync(sweepDir) && !fs.statSync(sweepDir).isDirectory()) throw new UserError(`${sweepDir} is a file, not a folder.`, "Name a folder with --dir.");
  // What the sweep writes about its runs (summaries, compare.html with their text) is as private as the runs.
  makePrivateRunDir(sweepDir);
  const store = ManifestStore.open(sweepDir, {
    sweepId,
    fingerprint: fingerprint(spec),
    spec,
    shard,
    cells: mine,
    ...(suite ? { suite: suiteRecord(suite) } : {}),
  });
  io.out(`sweep ${sweepId}: ${where}, ${concurrency} at a time → ${sweepDir}`);
  io.out(`manifest: ${store.file}`);
  const { interrupted } = await runCells({
    sweepDir,
    store,
    spec,
    cells: mine,
    concurrency,
    cwd: io.cwd,
    env: io.env,
    out: io.out,
    stop: io.stop,
    hardStop: io.hardStop,
  });

  if (judge && !interrupted) await judgeCells(judge, sweepDir, store.cells, io);
  const scored = store.cells.map((r) => scoredCell(sweepDir, r));
  const record = suite ? suiteRecord(suite) : undefined;
  io.out("");
  for (const line of record ? formatSuite(boardOf(record, scored, sweepDir, policy)) : formatLeaderboard(leaderboard(scored))) io.out(line);
  if (shard)
    io.out(
      `shard ${shard.index}/${shard.count} done; merge every shard's cells with: tinkerloop sweep --collect ${path.relative(io.cwd, sweepDir) || sweepDir}`,
    );
  else
    writeOutputs(
      sweepDir,
      sweepId,
      scored.map((s, i) => ({ ...s, runDir: path.join(sweepDir, store.cells[i]!.runDir) })),
      io.out,
      record ? { record, policy, prices: spec.run.prices, run: spec.run } : undefined,
    );
  if (interrupted) {
    io.out(`interrupted: run the same command again to continue (finished cells are kept, interrupted ones resumed).`);
    return EXIT.interrupted;
  }
  const open = scored.filter((c) => c.state !== "finished" && c.state !== "stopped").length;
  if (open)
    io.out(`${open} cell(s) did not end on their own (see ${path.relative(io.cwd, store.file)}); running the same command again retries or resumes them.`);
  return open ? EXIT.unfinished : 0;
}

/** `--status <dir>`: every cell's state and the leaderboard so far; reads only. */
export function sweepStatus(dir: string, io: Pick<SweepIO, "cwd" | "out">, judgePolicy?: string): number {
  const { sweepDir, cells, suite } = cellsOf(path.resolve(io.cwd, dir));
  const scored = cells.map((c) => ({ ...scoredCell(sweepDir, c.rec), note: c.note }));
  const counts = new Map<string, number>();
  for (const c of scored) counts.set(c.state, (counts.get(c.state) ?? 0) + 1);
  io.out(`sweep ${sweepDir}: ${scored.length} cell(s): ${[...counts].map(([s, n]) => `${n} ${s}`).join(", ")}`);
  const w = Math.max(4, ...scored.map((c) => c.id.length));
  for (const c of scored) io.out(`  ${c.id.padEnd(w)}  ${c.state.padEnd(11)}  ${c.note ?? ""}`.trimEnd());
  io.out("");
  for (const line of suite ? formatSuite(boardOf(suite, scored, sweepDir, judgePolicyOf(judgePolicy))) : formatLeaderboard(leaderboard(scored))) io.out(line);
  return 0;
}

/** `--collect <dir>…`: the finished cells of several sweep directories (the shards of one sweep) in one leaderboard, written into `outDir` (default: the first). */
export function collectSweeps(dirs: string[], outDir: string | undefined, io: Pick<SweepIO, "cwd" | "out">, judgePolicy?: string): number {
  if (!dirs.length) throw new UserError("--collect needs at least one sweep directory.");
  const byId = new Map<string, ScoredCell & { runDir: string }>();
  let sweepId: string | undefined;
  let suite: { record: SuiteRecord | undefined; dir: string } | undefined;
  // Every cell the merged sweeps were made of: a shard left out is cells not run, not cells that never were.
  const expected: Cell[] = [];
  const specOfLabel = new Map<string, string>();
  /** The prices file the cells were run with (madeFrom names it, as the run's own leaderboard does). */
  let prices: string | undefined;
  let runOptions: { run: string; dir: string } | undefined;
  for (const d of dirs) {
    const { sweepDir, cells, id, suite: record, specs } = cellsOf(path.resolve(io.cwd, d));
    if (record) for (const spec of specs) expected.push(...expandCells(spec));
    prices ??= specs.find((x) => x.run.prices !== undefined)?.run.prices;
    sweepId ??= id;
    suite ??= { record, dir: sweepDir };
    if (suite.record?.hash !== record?.hash) throw differentSuites(suite.dir, suite.record, sweepDir, record);
    // The options every cell shared (guard, tools, template, limits) change what a score means: one set per merge.
    for (const spec of specs) {
      const run = canonicalRun(spec.run);
      runOptions ??= { run, dir: sweepDir };
      if (run !== runOptions.run)
        throw new UserError(
          `Not merged: ${runOptions.dir} and ${sweepDir} were run with different shared options (${runOptions.run} vs ${run}).`,
          "Collect only results made with the same options; run the others again with them.",
        );
    }
    for (const c of cells) {
      // Rows are a planner's label: two planners under one label would be averaged into one row.
      const spec = specOfLabel.get(c.rec.planner.label) ?? c.rec.planner.spec;
      if (spec !== c.rec.planner.spec)
        throw new UserError(
          `Not merged: the planner label '${c.rec.planner.label}' names ${spec} in one directory and ${c.rec.planner.spec} in ${sweepDir}.`,
          "Give one of them another label (in the sweep or suite file: { spec: ..., label: ... }) and run it again.",
        );
      specOfLabel.set(c.rec.planner.label, spec);
      const s = { ...scoredCell(sweepDir, c.rec), runDir: path.join(sweepDir, c.rec.runDir) };
      const prior = byId.get(s.id);
      const done = (x: ScoredCell) => x.state === "finished" || x.state === "stopped";
      if (!prior || (!done(prior) && done(s))) byId.set(s.id, s);
    }
  }
  for (const c of expected)
    if (!byId.has(c.id))
      byId.set(c.id, {
        id: c.id,
        planner: c.planner.label,
        prompt: c.prompt.label,
        model: c.model,
        seed: c.seed,
        state: "pending",
        runDir: path.join(dirs[0]!, c.id),
      });
  const cells = [...byId.values()];
  io.out(
    `collected ${cells.length} cell(s) from ${dirs.length} director${dirs.length === 1 ? "y" : "ies"}: ${cells.filter((c) => c.state === "finished" || c.state === "stopped").length} ended on their own`,
  );
  io.out("");
  const policy = judgePolicyOf(judgePolicy);
  const record = suite?.record;
  // Judge verdicts live beside each shard's cells; every cell is scored with its own.
  const verdictDirs = dirs.map((d) => path.resolve(io.cwd, d));
  for (const line of record ? formatSuite(boardOf(record, cells, verdictDirs, policy)) : formatLeaderboard(leaderboard(cells))) io.out(line);
  const out = path.resolve(io.cwd, outDir ?? dirs[0]!);
  fs.mkdirSync(out, { recursive: true });
  writeOutputs(
    out,
    sweepId ?? "collected",
    cells,
    io.out,
    record ? { record, policy, prices, verdictDirs, run: runOptions ? (JSON.parse(runOptions.run) as Record<string, string>) : {} } : undefined,
  );
  return 0;
}

/** A sweep's shared run options, key order fixed, for comparing and recording. */
const canonicalRun = (run: Partial<Record<string, string>>): string =>
  JSON.stringify(Object.fromEntries(Object.entries(run).sort(([a], [b]) => a.localeCompare(b))));

/** The cells recorded in a sweep directory's manifests, each with its state as its run directory shows it. */
function cellsOf(sweepDir: string): {
  sweepDir: string;
  id: string;
  suite: SuiteRecord | undefined;
  /** The matrix each manifest was made from (a shard's manifest lists only its own cells). */
  specs: SweepSpec[];
  cells: Array<{ rec: CellRecord; note?: string }>;
} {
  const files = manifestFiles(sweepDir);
  if (!files.length)
    throw new UserError(`${sweepDir} holds no sweep (no ${SWEEP_FILES.manifest}).`, "Point at a directory tinkerloop sweep wrote (sweeps/<id>).");
  const seen = new Map<string, CellRecord>();
  const specs: SweepSpec[] = [];
  let id = "";
  let suite: { record: SuiteRecord | undefined; file: string } | undefined;
  for (const f of files) {
    const m = readManifest(f);
    id ||= m.sweepId;
    suite ??= { record: m.suite, file: f };
    if (suite.record?.hash !== m.suite?.hash) throw differentSuites(suite.file, suite.record, f, m.suite);
    for (const c of m.cells) if (!seen.has(c.id)) seen.set(c.id, c);
    specs.push(m.spec as SweepSpec);
  }
  return {
    sweepDir,
    id,
    suite: suite?.record,
    specs,
    cells: [...seen.values()].map((rec) => ({ rec, note: observeCell(path.join(sweepDir, rec.runDir), rec).note ?? rec.note })),
  };
}

function scoredCell(sweepDir: string, rec: CellRecord): ScoredCell {
  const obs = observeCell(path.join(sweepDir, rec.runDir), rec);
  return {
    id: rec.id,
    planner: rec.planner.label,
    prompt: rec.prompt.label,
    model: rec.model,
    seed: rec.seed,
    state: obs.state,
    ...(obs.summary ? { summary: obs.summary } : {}),
  };
}

/** leaderboard.json and (with two or more runs to show) compare.html with the leaderboard on top. Neither can fail the sweep. */
function writeOutputs(dir: string, sweepId: string, cells: Array<ScoredCell & { runDir: string }>, out: (line: string) => void, suite?: SuiteOutputs): void {
  const groups = leaderboard(cells);
  const board = suite ? boardOf(suite.record, cells, suite.verdictDirs ?? [dir], suite.policy) : undefined;
  const file = path.join(dir, SWEEP_FILES.leaderboard);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(
    tmp,
    `${JSON.stringify(
      {
        sweepId,
        generatedAt: new Date().toISOString(),
        ...(suite && board ? { suite: board, madeFrom: madeFrom(suite) } : {}),
        groups,
        cells: cells.map(({ summary, ...c }) => ({ ...c, ...(summary ? { summary } : {}) })),
      },
      null,
      2,
    )}\n`,
    { mode: RUN_FILE_MODE },
  );
  fs.renameSync(tmp, file);
  out(`leaderboard: ${file}`);
  const shown = cells.filter((c) => c.state === "finished" || c.state === "stopped").map((c) => c.runDir);
  if (shown.length < 2) return;
  try {
    const tables = board ? [scoreTable(board), integrityTable(board), ...taskTables(board)] : leaderboardTables(groups);
    const page = writeCompare(shown, path.join(dir, SWEEP_FILES.compare), {
      title: board ? `tinkerloop suite ${board.suite.name} · ${sweepId}` : `tinkerloop sweep ${sweepId}`,
      tables,
      ...(board ? { bars: { title: `Suite score (${board.suite.name}): weighted mean of normalised gains`, bars: suiteBars(board) } } : {}),
    });
    out(`compare: ${page.file}`);
  } catch (err) {
    out(`compare: not written (${(err as Error).message.split("\n")[0]})`);
  }
}

const leaderboardTables = (groups: LeaderGroup[]) =>
  groups.map((g) => ({ title: `Leaderboard: ${groupTitle(g)}`, columns: [...LEADERBOARD_COLUMNS], rows: g.rows.map(rowCells) }));

/**
 * Every cell's `tinkerloop run` settings are checked here, before anything starts: a bad
 * planner, recipe, prompt file, model or option is one line and exit 2, not a column of
 * failed cells. Returns each cell's model.
 */
function checkCells(spec: SweepSpec, cells: Cell[], io: Pick<SweepIO, "cwd" | "env">): string[] {
  const models = new Map<string, string>();
  for (const c of cells) {
    const key = JSON.stringify([c.planner.spec, c.prompt.value, c.prompt.task?.run, c.model]);
    if (models.has(key)) continue;
    // Files a cell reads as configuration: refused here, before anything starts, as each cell's own run would.
    if (c.prompt.kind === "file") refuseFromRunDir(c.prompt.value, "a prompt file");
    const run = cellRun(c, spec);
    for (const k of PATH_OPTIONS) if (run[k] !== undefined) refuseFromRunDir(run[k]!, flagOf(k));
    const flags: RunFlags = {
      planner: c.planner.spec,
      ...(c.prompt.kind === "recipe" ? { recipe: c.prompt.value } : { promptFile: c.prompt.value }),
      ...(c.model ? { model: c.model } : {}),
      // Validated by resolveRunConfig below, as the cell's own run would.
      ...Object.fromEntries(Object.entries(cellRun(c, spec))),
    };
    try {
      const cfg = resolveRunConfig(flags, io.cwd, io.env);
      // A suite ranks by the harness's grade only: a task without an exam would be ranked on nothing.
      if (c.prompt.task && !cfg.exam)
        throw new UserError(
          `the task has no exam (its ${c.prompt.kind === "recipe" ? "recipe" : "prompt file"} names none).`,
          'Give the task an exam: (e.g. exam: "generator:addition,scorer=numeric,items=500").',
        );
      resolvePlanner(c.planner.spec, io.env, { ...(cfg.hints ? { hints: cfg.hints } : {}), model: cfg.model });
      models.set(key, cfg.model);
    } catch (err) {
      if (err instanceof UserError)
        throw new UserError(`sweep cell ${c.planner.label} · ${c.prompt.label}${c.model ? ` · ${c.model}` : ""}: ${err.message}`, err.hint, err.exitCode);
      throw err;
    }
  }
  return [...models.values()];
}

/** One cell per core for local-backend runs (CPU-bound); Tinker runs wait on the network, so more. */
export function defaultConcurrency(models: string[]): number {
  const cores = os.availableParallelism();
  return models.every((m) => m.startsWith("local/")) ? cores : Math.max(8, cores * 2);
}

function parseConcurrency(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new UserError(`--concurrency ${JSON.stringify(v)} must be a whole number from 1 to 256.`);
  return n;
}

/** The matrix of an invocation: a suite, a sweep file, or flags (one of them). */
function planOf(req: SweepRequest, cwd: string): { spec: SweepSpec; concurrency?: number; suite?: Suite } {
  const given = (k: keyof SweepFlags) => req.flags[k] !== undefined && !(Array.isArray(req.flags[k]) && (req.flags[k] as string[]).length === 0);
  const asFlag = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  if (req.suite !== undefined) {
    if (req.file) throw new UserError("Give a suite (--suite) or a sweep file, not both.");
    // A suite fixes its tasks, models, seeds, budgets and exams; flags choose planners and shared options only.
    const refused = SUITE_REFUSED.filter(given);
    if (refused.length)
      throw new UserError(
        `A suite runs with every guard rule on: ${refused.map(asFlag).join(", ")} is not taken with --suite.`,
        "To study a rule switched off, use a plain sweep.",
      );
    const fixed = (["recipe", "promptFile", "model", "seeds", "maxTurns", "maxMinutes", "maxCost", "maxTrainCalls", "exam"] as const).filter(given);
    if (fixed.length)
      throw new UserError(
        `A suite fixes its tasks, models, seeds, budgets and exams: ${fixed.map(asFlag).join(", ")} cannot change them.`,
        "Copy the suite file and edit it (then it is another suite, with another hash).",
      );
    const suite = loadSuite(suiteFileOf(req.suite, cwd));
    const planners = plannerEntries(req.flags.planner?.length ? req.flags.planner : suite.planners, req.flags.planner?.length ? cwd : path.dirname(suite.file));
    const shared: Partial<Record<CellRunOption, string>> = { ...suite.run };
    for (const k of CELL_RUN_OPTIONS) if (req.flags[k] !== undefined) shared[k] = req.flags[k];
    const spec = suiteSweepSpec({ ...suite, run: withAbsolutePaths(shared, cwd) }, planners, req.flags.name);
    return { spec, suite, ...(suite.concurrency !== undefined ? { concurrency: suite.concurrency } : {}) };
  }
  const matrixFlags = (["planner", "recipe", "promptFile", "model", "seeds", "name", ...CELL_RUN_OPTIONS] as const).filter(given);
  if (req.file && matrixFlags.length)
    throw new UserError(`Give the matrix either in the sweep file or as flags, not both (found ${matrixFlags.map(asFlag).join(", ")}).`);
  if (req.file) {
    const f = loadSweepFile(path.resolve(cwd, req.file));
    return { spec: f.spec, ...(f.concurrency !== undefined ? { concurrency: f.concurrency } : {}) };
  }
  return { spec: specFromFlags(req.flags, cwd) };
}

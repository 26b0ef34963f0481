/** `tinkerloop sweep`: run a matrix of cells, show where a sweep stands (--status), merge shards (--collect). */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Env } from "../config/run-config.ts";
import { resolveRunConfig } from "../config/run-config.ts";
import type { RunFlags } from "../config/run-config.ts";
import { UserError } from "../core/errors.ts";
import { EXIT } from "../core/run-end.ts";
import { resolvePlanner } from "../planners/index.ts";
import { writeCompare } from "../report/compare.ts";
import { observeCell } from "./cell-status.ts";
import { formatLeaderboard, groupTitle, leaderboard, LEADERBOARD_COLUMNS, rowCells } from "./leaderboard.ts";
import type { LeaderGroup, ScoredCell } from "./leaderboard.ts";
import { manifestFiles, ManifestStore, readManifest, SWEEP_FILES } from "./manifest.ts";
import type { CellRecord } from "./manifest.ts";
import { runCells } from "./runner.ts";
import { CELL_RUN_OPTIONS, expandCells, fingerprint, loadSweepFile, parseShard, shardCells, specFromFlags, sweepIdOf } from "./spec.ts";
import type { Cell, SweepFlags, SweepSpec } from "./spec.ts";

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
  flags: SweepFlags;
  concurrency?: string;
  shard?: string;
  dir?: string;
  dryRun?: boolean;
};

/** Where sweeps go unless --dir says otherwise. */
export const SWEEPS_DIR = "sweeps";

/** Runs (or continues) a sweep; returns the exit code: 0 every cell ended on its own, 1 some failed or did not run, 130 interrupted. */
export async function runSweep(req: SweepRequest, io: SweepIO): Promise<number> {
  const matrixFlags = (["planner", "recipe", "promptFile", "model", "seeds", "name", ...CELL_RUN_OPTIONS] as const).filter(
    (k) => req.flags[k] !== undefined && !(Array.isArray(req.flags[k]) && (req.flags[k] as string[]).length === 0),
  );
  if (req.file && matrixFlags.length)
    throw new UserError(
      `Give the matrix either in the sweep file or as flags, not both (found ${matrixFlags.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(", ")}).`,
    );
  const fromFile = req.file ? loadSweepFile(path.resolve(io.cwd, req.file)) : undefined;
  const spec = fromFile?.spec ?? specFromFlags(req.flags, io.cwd);
  const shard = req.shard !== undefined ? parseShard(req.shard) : undefined;
  const all = expandCells(spec);
  const mine = shardCells(all, shard);
  const models = checkCells(spec, all, io);
  const concurrency = parseConcurrency(req.concurrency) ?? fromFile?.concurrency ?? defaultConcurrency(models);
  const sweepId = sweepIdOf(spec);
  const sweepDir = path.resolve(io.cwd, req.dir ?? path.join(SWEEPS_DIR, sweepId));

  const where = `${shard ? `shard ${shard.index}/${shard.count}: ` : ""}${mine.length} of ${all.length} cell(s)`;
  if (req.dryRun) {
    io.out(`sweep ${sweepId} (${where}) → ${sweepDir}`);
    for (const c of mine) io.out(`  ${c.id}`);
    return 0;
  }
  if (fs.existsSync(sweepDir) && !fs.statSync(sweepDir).isDirectory()) throw new UserError(`${sweepDir} is a file, not a folder.`, "Name a folder with --dir.");
  fs.mkdirSync(sweepDir, { recursive: true });
  const store = ManifestStore.open(sweepDir, { sweepId, fingerprint: fingerprint(spec), spec, shard, cells: mine });
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

  const scored = store.cells.map((r) => scoredCell(sweepDir, r));
  io.out("");
  for (const line of formatLeaderboard(leaderboard(scored))) io.out(line);
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
export function sweepStatus(dir: string, io: Pick<SweepIO, "cwd" | "out">): number {
  const { sweepDir, cells } = cellsOf(path.resolve(io.cwd, dir));
  const scored = cells.map((c) => ({ ...scoredCell(sweepDir, c.rec), note: c.note }));
  const counts = new Map<string, number>();
  for (const c of scored) counts.set(c.state, (counts.get(c.state) ?? 0) + 1);
  io.out(`sweep ${sweepDir}: ${scored.length} cell(s): ${[...counts].map(([s, n]) => `${n} ${s}`).join(", ")}`);
  const w = Math.max(4, ...scored.map((c) => c.id.length));
  for (const c of scored) io.out(`  ${c.id.padEnd(w)}  ${c.state.padEnd(11)}  ${c.note ?? ""}`.trimEnd());
  io.out("");
  for (const line of formatLeaderboard(leaderboard(scored))) io.out(line);
  return 0;
}

/** `--collect <dir>…`: the finished cells of several sweep directories (the shards of one sweep) in one leaderboard, written into `outDir` (default: the first). */
export function collectSweeps(dirs: string[], outDir: string | undefined, io: Pick<SweepIO, "cwd" | "out">): number {
  if (!dirs.length) throw new UserError("--collect needs at least one sweep directory.");
  const byId = new Map<string, ScoredCell & { runDir: string }>();
  let sweepId: string | undefined;
  for (const d of dirs) {
    const { sweepDir, cells, id } = cellsOf(path.resolve(io.cwd, d));
    sweepId ??= id;
    for (const c of cells) {
      const s = { ...scoredCell(sweepDir, c.rec), runDir: path.join(sweepDir, c.rec.runDir) };
      const prior = byId.get(s.id);
      const done = (x: ScoredCell) => x.state === "finished" || x.state === "stopped";
      if (!prior || (!done(prior) && done(s))) byId.set(s.id, s);
    }
  }
  const cells = [...byId.values()];
  io.out(
    `collected ${cells.length} cell(s) from ${dirs.length} director${dirs.length === 1 ? "y" : "ies"}: ${cells.filter((c) => c.state === "finished" || c.state === "stopped").length} ended on their own`,
  );
  io.out("");
  for (const line of formatLeaderboard(leaderboard(cells))) io.out(line);
  const out = path.resolve(io.cwd, outDir ?? dirs[0]!);
  fs.mkdirSync(out, { recursive: true });
  writeOutputs(out, sweepId ?? "collected", cells, io.out);
  return 0;
}

/** The cells recorded in a sweep directory's manifests, each with its state as its run directory shows it. */
function cellsOf(sweepDir: string): { sweepDir: string; id: string; cells: Array<{ rec: CellRecord; note?: string }> } {
  const files = manifestFiles(sweepDir);
  if (!files.length)
    throw new UserError(`${sweepDir} holds no sweep (no ${SWEEP_FILES.manifest}).`, "Point at a directory tinkerloop sweep wrote (sweeps/<id>).");
  const seen = new Map<string, CellRecord>();
  let id = "";
  for (const f of files) {
    const m = readManifest(f);
    id ||= m.sweepId;
    for (const c of m.cells) if (!seen.has(c.id)) seen.set(c.id, c);
  }
  return { sweepDir, id, cells: [...seen.values()].map((rec) => ({ rec, note: observeCell(path.join(sweepDir, rec.runDir), rec).note ?? rec.note })) };
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
function writeOutputs(dir: string, sweepId: string, cells: Array<ScoredCell & { runDir: string }>, out: (line: string) => void): void {
  const groups = leaderboard(cells);
  const file = path.join(dir, SWEEP_FILES.leaderboard);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(
    tmp,
    `${JSON.stringify({ sweepId, generatedAt: new Date().toISOString(), groups, cells: cells.map(({ summary, ...c }) => ({ ...c, ...(summary ? { summary } : {}) })) }, null, 2)}\n`,
  );
  fs.renameSync(tmp, file);
  out(`leaderboard: ${file}`);
  const shown = cells.filter((c) => c.state === "finished" || c.state === "stopped").map((c) => c.runDir);
  if (shown.length < 2) return;
  try {
    const page = writeCompare(shown, path.join(dir, SWEEP_FILES.compare), { title: `tinkerloop sweep ${sweepId}`, tables: leaderboardTables(groups) });
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
    const key = JSON.stringify([c.planner.spec, c.prompt.value, c.model]);
    if (models.has(key)) continue;
    const flags: RunFlags = {
      planner: c.planner.spec,
      ...(c.prompt.kind === "recipe" ? { recipe: c.prompt.value } : { promptFile: c.prompt.value }),
      ...(c.model ? { model: c.model } : {}),
      ...Object.fromEntries(CELL_RUN_OPTIONS.filter((k) => spec.run[k] !== undefined).map((k) => [k, spec.run[k]])),
    };
    try {
      const cfg = resolveRunConfig(flags, io.cwd, io.env);
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

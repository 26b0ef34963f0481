/**
 * sweep.json: every cell of (a shard of) a sweep and its state, rewritten atomically
 * (a temporary file renamed over it) each time a cell changes, so a reader — `--status`,
 * `--collect`, a rerun after a crash — never sees half a file. A shard writes its own
 * manifest beside the others (`sweep.shard-<i>-of-<n>.json`): shards on a shared
 * filesystem never write the same file.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { RUN_FILE_MODE } from "../../lib/run-file-writes.ts";
import { UserError } from "../core/errors.ts";
import type { Cell, Shard, SweepSpec } from "./spec.ts";

export const SWEEP_FILES = {
  manifest: "sweep.json",
  leaderboard: "leaderboard.json",
  compare: "compare.html",
  /** Each cell's terminal output, one file a cell, appended across attempts. */
  logs: "logs",
  /** A judge's verdict on each cell (`--judge`), one file a cell: judge/<cell id>.json. */
  judge: "judge",
} as const;

export const CELL_STATES = ["pending", "running", "finished", "stopped", "interrupted", "failed"] as const;
export type CellState = (typeof CELL_STATES)[number];

const plannerShape = z.object({ label: z.string(), spec: z.string() });
const promptShape = z.object({
  kind: z.enum(["recipe", "file"]),
  value: z.string(),
  label: z.string(),
  /** A suite task's own models, seeds and run options. */
  task: z
    .object({ models: z.array(z.string()).optional(), seeds: z.array(z.number().int()).optional(), run: z.record(z.string(), z.string()).optional() })
    .optional(),
});

/** The suite a sweep runs (the research bench): its hash and the tasks' scoring settings, so --status and --collect score without the file. */
const suiteRecordShape = z.object({
  name: z.string(),
  hash: z.string(),
  file: z.string(),
  tasks: z.array(
    z.object({
      name: z.string(),
      measures: z.string().optional(),
      weight: z.number().positive(),
      reference: z.object({ score: z.number().min(0).max(1), source: z.string() }),
      budget: z.object({
        turns: z.number().int().min(1),
        minutes: z.number().positive(),
        usd: z.number().min(0).optional(),
        trainCalls: z.number().int().min(1).optional(),
      }),
      seeds: z.array(z.number().int()),
    }),
  ),
});
export type SuiteRecord = z.infer<typeof suiteRecordShape>;

const cellRecordShape = z.object({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
  planner: plannerShape,
  prompt: promptShape,
  model: z.string().nullable(),
  seed: z.number().int().min(0),
  /** The cell's run directory, inside the sweep directory: always its id (what a file says here is not used). */
  runDir: z.string(),
  state: z.enum(CELL_STATES),
  /** Fresh starts (a failed cell is retried once). */
  attempts: z.number().int().min(0),
  resumes: z.number().int().min(0),
  exitCode: z.number().int().nullable().optional(),
  pid: z.number().int().optional(),
  /** When that pid started (/proc/<pid>/stat field 22): a pid reused by another process later does not match. Absent in older manifests. */
  pidStart: z.number().int().nonnegative().optional(),
  host: z.string().optional(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  /** Why the cell is in its state, in a few words (the run's end reason, a refused retry). */
  note: z.string().optional(),
});
export type CellRecord = z.infer<typeof cellRecordShape>;

const manifestShape = z.object({
  kind: z.literal("tinkerloop-sweep"),
  version: z.literal(1),
  sweepId: z.string(),
  fingerprint: z.string(),
  spec: z.object({
    name: z.string().optional(),
    planners: z.array(plannerShape),
    prompts: z.array(promptShape),
    models: z.array(z.string().nullable()),
    seeds: z.array(z.number().int()),
    run: z.record(z.string(), z.string()),
  }),
  shard: z.object({ index: z.number().int(), count: z.number().int() }).nullable(),
  suite: suiteRecordShape.optional(),
  /** The invocation writing this manifest: a second one on the same machine is refused while it lives. */
  owner: z.object({ pid: z.number().int(), host: z.string() }).optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  cells: z.array(cellRecordShape),
});
export type Manifest = z.infer<typeof manifestShape>;

export function manifestName(shard: Shard | undefined): string {
  return shard ? `sweep.shard-${shard.index}-of-${shard.count}.json` : SWEEP_FILES.manifest;
}

const MANIFEST_FILE = /^sweep(\.shard-\d+-of-\d+)?\.json$/;

/** The manifests in a sweep directory: sweep.json and any shard's. */
export function manifestFiles(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => MANIFEST_FILE.test(n))
    .sort()
    .map((n) => path.join(dir, n));
}

export function readManifest(file: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new UserError(
      `Cannot read the sweep manifest ${file}: ${(err as Error).message.split("\n")[0]}`,
      "Restore it, or remove it to let the sweep rebuild its state from the run directories.",
    );
  }
  const r = manifestShape.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new UserError(
      `${file} is not a tinkerloop sweep manifest (${issue.path.join(".") || "top level"}: ${issue.message}).`,
      "Point at a sweep directory (sweeps/<id>) written by tinkerloop sweep.",
    );
  }
  // A cell's run directory is its id inside the sweep folder, whatever the file says: an edited
  // manifest cannot point a rerun (which moves and overwrites run directories) anywhere else.
  return { ...r.data, cells: r.data.cells.map((c) => ({ ...c, runDir: cellRunDir(c.id) })) };
}

/** A cell's run directory, relative to the sweep folder: its id (one path component, checked by the id's shape). */
export function cellRunDir(id: string): string {
  return id;
}

/** A new record for a cell that has not run. */
export function newCellRecord(cell: Cell): CellRecord {
  return {
    id: cell.id,
    planner: cell.planner,
    prompt: cell.prompt,
    model: cell.model,
    seed: cell.seed,
    runDir: cellRunDir(cell.id),
    state: "pending",
    attempts: 0,
    resumes: 0,
  };
}

/** The manifest of one sweep invocation, written through on every change. */
export class ManifestStore {
  private constructor(
    readonly file: string,
    private m: Manifest,
  ) {}

  /** Opens this invocation's manifest: the existing one (same sweep, else refused) with any new cells added, or a fresh one. */
  static open(
    dir: string,
    o: { sweepId: string; fingerprint: string; spec: SweepSpec; shard: Shard | undefined; cells: Cell[]; suite?: SuiteRecord },
  ): ManifestStore {
    const file = path.join(dir, manifestName(o.shard));
    for (const other of manifestFiles(dir)) {
      const m = readManifest(other);
      // A suite's hash covers what the fingerprint does not (prompt files' text, references, weights): finished cells stand for the suite they ran.
      if (m.fingerprint !== o.fingerprint || m.suite?.hash !== o.suite?.hash) {
        throw new UserError(
          `${dir} holds another sweep (${m.sweepId}: its planners, prompts, models, seeds, run options or suite hash differ).`,
          "Give this one another --name, or continue that one with the options it was started with (see its sweep.json).",
        );
      }
    }
    const now = new Date().toISOString();
    const existing = fs.existsSync(file) ? readManifest(file) : undefined;
    if (existing?.owner && existing.owner.pid !== process.pid && existing.owner.host === os.hostname() && isSweepProcess(existing.owner.pid)) {
      throw new UserError(
        `Another tinkerloop sweep (pid ${existing.owner.pid}) is running ${path.basename(file)} in ${dir}.`,
        "Wait for it, or stop it (Ctrl-C in its terminal, or kill -INT it) and run this again.",
      );
    }
    const known = new Map((existing?.cells ?? []).map((c) => [c.id, c]));
    const m: Manifest = {
      kind: "tinkerloop-sweep",
      version: 1,
      sweepId: o.sweepId,
      fingerprint: o.fingerprint,
      spec: o.spec,
      shard: o.shard ?? null,
      ...(o.suite ? { suite: o.suite } : {}),
      owner: { pid: process.pid, host: os.hostname() },
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
      cells: o.cells.map((c) => known.get(c.id) ?? newCellRecord(c)),
    };
    const store = new ManifestStore(file, m);
    store.write();
    return store;
  }

  get cells(): readonly CellRecord[] {
    return this.m.cells;
  }

  get manifest(): Manifest {
    return this.m;
  }

  /** Changes one cell and writes the manifest. */
  update(id: string, change: Partial<CellRecord>): CellRecord {
    const i = this.m.cells.findIndex((c) => c.id === id);
    if (i < 0) throw new Error(`no cell ${id} in ${this.file}`);
    const next = { ...this.m.cells[i]!, ...change };
    for (const k of Object.keys(change) as Array<keyof CellRecord>) if (change[k] === undefined) delete next[k];
    this.m.cells[i] = next;
    this.write();
    return next;
  }

  private write(): void {
    this.m.updatedAt = new Date().toISOString();
    const tmp = `${this.file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, `${JSON.stringify(this.m, null, 2)}\n`, { mode: RUN_FILE_MODE });
    fs.renameSync(tmp, this.file);
  }
}

/** Whether `pid` is a live tinkerloop sweep on this machine (a reused pid is not taken for one). */
function isSweepProcess(pid: number): boolean {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return argv.includes("sweep");
  } catch {
    return false;
  }
}

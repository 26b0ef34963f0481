import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { UserError } from "../../agent/core/errors.ts";
import { isCellProcess, signalCell } from "../../agent/sweep/cell-process.ts";
import { ManifestStore, readManifest } from "../../agent/sweep/manifest.ts";
import { runCells } from "../../agent/sweep/runner.ts";
import type { Cell, SweepSpec } from "../../agent/sweep/spec.ts";
import { fingerprint } from "../../agent/sweep/spec.ts";
import { CLI_ENTRY } from "../../lib/package-paths.ts";
import { tempDir } from "../helpers.ts";

/**
 * A sweep's manifest is data, like a transcript: whatever an edited sweep.json says, a
 * cell's run directory is its id inside the sweep folder, and a recorded pid is signalled
 * or waited for only while it is that cell's own run (checked again at each signal).
 */

const spec: SweepSpec = {
  planners: [{ label: "scripted", spec: "scripted" }],
  prompts: [{ kind: "recipe", value: "arithmetic", label: "arithmetic" }],
  models: [null],
  seeds: [1, 2],
  run: {},
};
const cells: Cell[] = spec.seeds.map((seed) => ({
  id: `scripted-arithmetic-s${seed}`,
  planner: spec.planners[0]!,
  prompt: spec.prompts[0]!,
  model: null,
  seed,
}));

const started: ChildProcess[] = [];
afterEach(() => {
  for (const c of started.splice(0)) c.kill("SIGKILL");
});

/** A process of this user that is not a cell's run, whose command line names `dir` (the old pid check accepted it). */
function bystander(dir: string): ChildProcess {
  const c = spawn("sh", ["-c", "trap 'echo got-sigint > \"$0/../sigint-$$\"; exit 1' INT; while :; do sleep 0.2; done", dir], { stdio: "ignore" });
  started.push(c);
  return c;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function sweepWithManifest(): { dir: string; file: string } {
  const dir = tempDir("tl-sweep-trust-");
  const store = ManifestStore.open(dir, { sweepId: "t", fingerprint: fingerprint(spec), spec, shard: undefined, cells });
  return { dir, file: store.file };
}

describe("a sweep manifest cannot point a cell anywhere but its own folder", () => {
  const edits = ["../outside", "/tmp/elsewhere", "../../etc", "scripted-arithmetic-s1/../../x", "..", ".", "", "~/x", "other-cell"];
  it.each(edits)("a runDir edited to %j is ignored: the cell's folder is its id inside the sweep", (edit) => {
    const { file } = sweepWithManifest();
    const m = JSON.parse(fs.readFileSync(file, "utf8"));
    for (const c of m.cells) c.runDir = edit;
    fs.writeFileSync(file, JSON.stringify(m));
    const read = readManifest(file);
    expect(read.cells.map((c) => c.runDir)).toEqual(cells.map((c) => c.id));
    // Reopened by a rerun: the same.
    const store = ManifestStore.open(path.dirname(file), { sweepId: "t", fingerprint: fingerprint(spec), spec, shard: undefined, cells });
    expect(store.cells.map((c) => c.runDir)).toEqual(cells.map((c) => c.id));
  });

  it.each(["../x", "a/b", "/abs", ".hidden", "a\0b", "a\nb"])("a cell id edited to %j makes the manifest refused", (id) => {
    const { file } = sweepWithManifest();
    const m = JSON.parse(fs.readFileSync(file, "utf8"));
    m.cells[0].id = id;
    fs.writeFileSync(file, JSON.stringify(m));
    expect(() => readManifest(file)).toThrow(UserError);
  });
});

describe("a recorded pid is accepted only while it is the cell's own run", () => {
  it("isCellProcess: refuses bystanders, this process, pid 1, dead pids, and the right command line for another folder", async () => {
    const dir = tempDir("tl-sweep-pid-");
    const runDir = path.join(dir, "cell");
    const fakeRun = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", CLI_ENTRY, "run", "--run-dir", runDir], { stdio: "ignore" });
    const fakeResume = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", CLI_ENTRY, "resume", runDir], { stdio: "ignore" });
    started.push(fakeRun, fakeResume);
    const b = bystander(runDir);
    await new Promise((r) => setTimeout(r, 300));
    expect(isCellProcess(fakeRun.pid!, runDir)).toBe(true);
    expect(isCellProcess(fakeResume.pid!, runDir)).toBe(true);
    expect(isCellProcess(fakeRun.pid!, path.join(dir, "other"))).toBe(false);
    expect(isCellProcess(fakeRun.pid!, `${runDir}/`)).toBe(false);
    for (const pid of [b.pid!, process.pid, 1, 0, -1, 2 ** 22 + 7, Number.NaN]) expect(isCellProcess(pid, runDir), String(pid)).toBe(false);
    expect(signalCell(b.pid!, runDir, "SIGINT")).toBe(false);
    // Re-checked at the signal: once the run is gone, its pid is nobody's to signal.
    fakeRun.kill("SIGKILL");
    await new Promise((r) => fakeRun.once("exit", r));
    expect(signalCell(fakeRun.pid!, runDir, "SIGTERM")).toBe(false);
    expect(alive(b.pid!)).toBe(true);
  });

  it("Ctrl-C of a sweep whose manifest names a bystander's pid as a running cell leaves the bystander alone", async () => {
    const { dir } = sweepWithManifest();
    const store = ManifestStore.open(dir, { sweepId: "t", fingerprint: fingerprint(spec), spec, shard: undefined, cells });
    const cellDirs = cells.map((c) => path.join(dir, c.id));
    const victims = cellDirs.map((d) => bystander(d));
    await new Promise((r) => setTimeout(r, 300));
    // Each cell "running" under a bystander's pid, out of fresh attempts so nothing new is started.
    for (const [i, c] of cells.entries()) store.update(c.id, { state: "running", pid: victims[i]!.pid!, host: os.hostname(), attempts: 2 });
    const stop = new AbortController();
    const lines: string[] = [];
    const done = runCells({
      sweepDir: dir,
      store,
      spec,
      cells,
      concurrency: 2,
      cwd: dir,
      env: {},
      out: (l) => lines.push(l),
      stop: stop.signal,
      hardStop: new AbortController().signal,
    });
    setTimeout(() => stop.abort(), 500);
    await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
    stop.abort();
    await new Promise((r) => setTimeout(r, 500));
    for (const v of victims) expect(alive(v.pid!)).toBe(true);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith("sigint-"))).toEqual([]);
    // Not taken for the cell's run at all: nothing waits for it, nothing will signal it.
    expect(lines.join("\n")).not.toMatch(/waiting for it/);
    expect(lines.length).toBeGreaterThan(0);
  }, 30_000);

  /** A process of this user with a cell run's very command line (what a forger after a pid reuse shows); it notes a SIGINT in `dir`. */
  function forger(runDir: string, dir: string): ChildProcess {
    const script = `process.on("SIGINT", () => { require("fs").writeFileSync(${JSON.stringify(path.join(dir, "forger-sigint-"))} + process.pid, "x"); process.exit(1); }); setInterval(() => {}, 1000);`;
    const c = spawn(process.execPath, ["-e", script, CLI_ENTRY, "run", "--run-dir", runDir], { stdio: "ignore" });
    started.push(c);
    return c;
  }

  /** A process's start, in clock ticks since boot: /proc/<pid>/stat field 22 (read here on its own, the test's oracle). */
  function startOf(pid: number): number {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
  }

  /** The start time a cell's run had: a process that lived and ended before the forgers started (its pid may be anyone's now). */
  async function endedRunStart(): Promise<number> {
    const gone = spawn(process.execPath, ["-e", "setTimeout(() => {}, 200)"], { stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 100));
    const start = startOf(gone.pid!);
    await new Promise((r) => gone.once("exit", r));
    // Clock ticks are 10 ms: the forgers start in a later one.
    await new Promise((r) => setTimeout(r, 50));
    return start;
  }

  it("a process that took a cell's pid and forged its command line is not the cell's run: its start time differs; an old record without one is still read", async () => {
    const { dir } = sweepWithManifest();
    const store = ManifestStore.open(dir, { sweepId: "t", fingerprint: fingerprint(spec), spec, shard: undefined, cells });
    const cellDirs = cells.map((c) => path.join(dir, c.id));
    const recorded = await endedRunStart();
    const forgers = cellDirs.map((d) => forger(d, dir));
    await new Promise((r) => setTimeout(r, 300));
    const f = forgers[0]!;
    expect(startOf(f.pid!)).toBeGreaterThan(recorded);
    // Its own start time is what a record made when the sweep launched it would hold; the ended run's is not.
    expect(isCellProcess(f.pid!, cellDirs[0]!, startOf(f.pid!))).toBe(true);
    expect(isCellProcess(f.pid!, cellDirs[0]!, recorded)).toBe(false);
    expect(signalCell(f.pid!, cellDirs[0]!, "SIGINT", recorded)).toBe(false);
    // A manifest written before start times were recorded: read as before, by the command line alone.
    expect(isCellProcess(f.pid!, cellDirs[0]!)).toBe(true);

    // A rerun's Ctrl-C with each cell recorded as running under a forger's pid and the ended run's start time.
    for (const [i, c] of cells.entries()) store.update(c.id, { state: "running", pid: forgers[i]!.pid!, pidStart: recorded, host: os.hostname(), attempts: 2 });
    expect(readManifest(store.file).cells.map((c) => c.pidStart)).toEqual(cells.map(() => recorded));
    const stop = new AbortController();
    const lines: string[] = [];
    const done = runCells({
      sweepDir: dir,
      store,
      spec,
      cells,
      concurrency: 2,
      cwd: dir,
      env: {},
      out: (l) => lines.push(l),
      stop: stop.signal,
      hardStop: new AbortController().signal,
    });
    setTimeout(() => stop.abort(), 500);
    await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
    stop.abort();
    await new Promise((r) => setTimeout(r, 500));
    expect(fs.readdirSync(dir).filter((n) => n.startsWith("forger-sigint-"))).toEqual([]);
    for (const v of forgers) expect(alive(v.pid!), `${v.exitCode} ${v.signalCode}`).toBe(true);
    expect(lines.join("\n")).not.toMatch(/waiting for it/);
    // Not taken for the cells' runs: they are not running.
    expect(readManifest(store.file).cells.map((c) => c.state)).not.toContain("running");
  }, 30_000);
});

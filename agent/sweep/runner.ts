/**
 * Runs a sweep's cells, at most `concurrency` at a time, each an ordinary `tinkerloop
 * run` (or `resume`) child process with its own run directory and log file. Children run
 * in their own process groups with their output in files, so a terminal's Ctrl-C reaches
 * them only through the sweep (once: their emergency saves happen), and a sweep that is
 * killed outright leaves them running: the next invocation adopts them.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CLI_ENTRY } from "../../lib/package-paths.ts";
import { runLayout } from "../../lib/run-layout.ts";
import { RUN_DIR_MODE, RUN_FILE_MODE } from "../../lib/run-file-writes.ts";
import { isCellProcess, processStart, signalCell } from "./cell-process.ts";
import type { SummaryNumbers } from "./cell-status.ts";
import { isAlive, observeCell } from "./cell-status.ts";
import type { Observation } from "./cell-status.ts";
import type { CellRecord, ManifestStore } from "./manifest.ts";
import { SWEEP_FILES } from "./manifest.ts";
import { resumeArgs, runArgs } from "./spec.ts";
import type { Cell, SweepSpec } from "./spec.ts";

/** A failed cell gets this many fresh starts in all (the first and one retry). */
export const MAX_ATTEMPTS = 2;
const ADOPT_POLL_MS = 1000;

export type RunnerOptions = {
  sweepDir: string;
  store: ManifestStore;
  spec: SweepSpec;
  cells: Cell[];
  concurrency: number;
  cwd: string;
  env: NodeJS.ProcessEnv;
  out: (line: string) => void;
  /** First Ctrl-C: no new cell starts; every child is asked to stop (SIGINT, graceful). */
  stop: AbortSignal;
  /** Second Ctrl-C: children are asked again (they exit at once). */
  hardStop: AbortSignal;
};

type Action = "keep" | "run" | "resume" | "restart" | "retry" | "adopt" | "give-up";

/** What to do with a cell found in `obs`: keep what ended, resume what was interrupted, retry a failure once. */
export function actionFor(rec: CellRecord, obs: Observation): Action {
  switch (obs.state) {
    case "finished":
    case "stopped":
      return "keep";
    case "running":
      return "adopt";
    case "interrupted":
      // A recorded planner replays its turns from the first one: it cannot carry on a conversation.
      return rec.planner.spec.startsWith("replay:") ? "restart" : "resume";
    case "failed":
      // A graded run that failed after its final sitting has its grade: retrying it would let a
      // planner that is losing re-roll the cell by failing. Only runs without a grade are retried.
      if (gradedFinal(obs)) return "keep";
      return rec.attempts < MAX_ATTEMPTS ? "retry" : "give-up";
    case "pending":
      return "run";
  }
}

/** Whether the run's exam was sat on the weights it ended with. */
const gradedFinal = (obs: Observation): boolean => typeof obs.summary?.exam?.final === "number";

type Job = { rec: CellRecord; cell: Cell; action: Action };

/**
 * Whether a cell's process was killed from outside (SIGKILL: a power cut of the run, the
 * OOM killer) before its run began its transcript. The run did not fail — it never got to
 * run — so the cell is pending again and the attempt is not counted: otherwise two such
 * kills during start-up (tens of seconds on a loaded machine) give a cell up for good.
 */
export function cutBeforeStart(exit: { signal: NodeJS.Signals | null } | undefined, runDir: string): boolean {
  return exit?.signal === "SIGKILL" && !fs.existsSync(runLayout(runDir).transcript);
}

export async function runCells(o: RunnerOptions): Promise<{ interrupted: boolean }> {
  const total = o.cells.length;
  const byId = new Map(o.store.cells.map((r) => [r.id, r]));
  const label = (c: Cell) => `${c.planner.label} · ${c.prompt.label}${c.model ? ` · ${c.model}` : ""} · seed ${c.seed}`;
  const dirOf = (rec: CellRecord) => path.join(o.sweepDir, rec.runDir);
  // This invocation's own children (signalled through their handles), and cells adopted
  // from an earlier one by a pid the manifest recorded (checked again before every signal).
  const children = new Map<number, ChildProcess>();
  const adopted = new Map<number, { dir: string; start: number | undefined }>();
  let done = 0;
  const status = () => `[${done}/${total} done · ${children.size + adopted.size} running]`;
  const say = (c: Cell, text: string) => o.out(`${status()} ${label(c)}: ${text}`);

  const queue: Job[] = [];
  for (const cell of o.cells) {
    const rec = byId.get(cell.id)!;
    const obs = observeCell(dirOf(rec), rec);
    const action = actionFor(rec, obs);
    if (action === "keep" || action === "give-up") {
      o.store.update(rec.id, {
        state: obs.state,
        ...(obs.note ? { note: action === "give-up" ? `${obs.note}; failed ${rec.attempts} times, not retried again` : obs.note } : {}),
      });
      done++;
      say(cell, action === "keep" ? `${obs.state}, kept` : "failed again earlier; not retried (delete its run directory to run it anew)");
      continue;
    }
    queue.push({ rec, cell, action });
  }

  // Cells still running from an earlier invocation hold their slots first.
  queue.sort((a, b) => Number(b.action === "adopt") - Number(a.action === "adopt"));
  const running = new Set<Promise<void>>();
  const stopChildren = () => {
    for (const child of children.values()) child.kill("SIGINT");
    for (const [pid, { dir, start }] of adopted) signalCell(pid, dir, "SIGINT", start);
  };
  o.stop.addEventListener("abort", stopChildren, { once: true });
  o.hardStop.addEventListener("abort", stopChildren, { once: true });

  const start = (job: Job) => {
    const p = (job.action === "adopt" ? adopt(job) : launch(job)).finally(() => running.delete(p));
    running.add(p);
  };

  const finish = (job: Job, exit: { code: number | null; signal: NodeJS.Signals | null } | undefined) => {
    const rec = o.store.cells.find((r) => r.id === job.rec.id)!;
    const obs = observeCell(dirOf(rec), { ...rec, state: "failed" });
    const cut = cutBeforeStart(exit, dirOf(rec));
    const state = cut ? "pending" : obs.state === "running" || obs.state === "pending" ? "failed" : obs.state;
    const exitCode = exit ? (exit.code ?? (exit.signal ? 128 + (os.constants.signals[exit.signal] ?? 0) : null)) : null;
    o.store.update(rec.id, {
      state,
      exitCode,
      endedAt: new Date().toISOString(),
      pid: undefined,
      pidStart: undefined,
      note: cut ? "killed (SIGKILL) before its run began; starts again" : (obs.note ?? (exitCode !== null ? `exit ${exitCode}` : undefined)),
      ...(cut ? { attempts: Math.max(0, rec.attempts - 1) } : {}),
    });
    done++;
    const result = cellResult(obs.summary);
    const why = cut
      ? " (killed before its run began; it starts again on the next invocation)"
      : obs.note && obs.note !== state
        ? ` (${obs.note})`
        : state !== "finished" && exitCode !== null
          ? ` (exit ${exitCode})`
          : "";
    say(job.cell, `${state}${why}${result ? `: ${result}` : ""}`);
  };

  const launch = (job: Job): Promise<void> => {
    const { rec, cell } = job;
    const dir = dirOf(rec);
    const fresh = job.action !== "resume";
    if (fs.lstatSync(dir, { throwIfNoEntry: false })?.isSymbolicLink()) {
      // Only an edited sweep folder has one: a run never goes where a link leads.
      o.store.update(rec.id, { state: "failed", note: `${rec.runDir} is a symbolic link; not run` });
      done++;
      say(cell, "failed: its run directory is a symbolic link; not run");
      return Promise.resolve();
    }
    if (fresh && fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
      // A run writes only into an empty folder: the earlier attempt is kept beside it.
      const aside = `${dir}.attempt-${rec.attempts}-${Date.now().toString(36)}`;
      fs.renameSync(dir, aside);
    }
    const args = fresh ? ["run", ...runArgs(cell, o.spec), "--run-dir", dir] : ["resume", dir, ...resumeArgs(cell, o.spec)];
    const logs = path.join(o.sweepDir, SWEEP_FILES.logs);
    // A cell's terminal output is as private as its run directory.
    fs.mkdirSync(logs, { recursive: true, mode: RUN_DIR_MODE });
    const logFile = path.join(logs, `${rec.id}.log`);
    const fd = fs.openSync(logFile, "a", RUN_FILE_MODE);
    fs.writeSync(fd, `\n── ${new Date().toISOString()} tinkerloop ${args.join(" ")}\n`);
    const child = spawn(process.execPath, [CLI_ENTRY, ...args], { cwd: o.cwd, env: o.env, stdio: ["ignore", fd, fd], detached: true });
    fs.closeSync(fd);
    return new Promise<void>((resolve) => {
      child.once("error", (err) => {
        fs.appendFileSync(logFile, `could not start: ${err.message}\n`);
        finish(job, { code: null, signal: null });
        resolve();
      });
      if (child.pid === undefined) return;
      const pid = child.pid;
      children.set(pid, child);
      o.store.update(rec.id, {
        state: "running",
        pid,
        pidStart: processStart(pid),
        host: os.hostname(),
        startedAt: new Date().toISOString(),
        endedAt: undefined,
        exitCode: undefined,
        note: undefined,
        ...(fresh ? { attempts: rec.attempts + 1 } : { resumes: rec.resumes + 1 }),
      });
      const verb = {
        run: "started",
        restart: "restarted from the beginning (a recorded planner cannot resume)",
        retry: `retried after a failure (attempt ${rec.attempts + 1} of ${MAX_ATTEMPTS})`,
        resume: "resumed (tinkerloop resume)",
      }[job.action as "run" | "restart" | "retry" | "resume"];
      say(cell, `${verb} → ${path.relative(o.cwd, dir) || dir} (log: ${path.relative(o.cwd, logFile)})`);
      child.once("exit", (code, signal) => {
        children.delete(pid);
        finish(job, { code, signal });
        resolve();
      });
    });
  };

  /**
   * A cell whose process outlived an earlier sweep invocation: wait for it instead of
   * starting it again (here: while its pid lives; on another machine: while its heartbeat
   * is fresh, so a hard-killed one is resumed by the next invocation once it went quiet).
   */
  const adopt = async (job: Job): Promise<void> => {
    const dir = dirOf(job.rec);
    const pid = job.rec.pid;
    // A recorded pid is taken only while it is this cell's run; any other process is none of ours.
    const start = job.rec.pidStart;
    const here = job.rec.host === os.hostname() && pid !== undefined && isCellProcess(pid, dir, start);
    if (here) adopted.set(pid, { dir, start });
    say(
      job.cell,
      here
        ? `still running from an earlier invocation (pid ${pid}); waiting for it`
        : job.rec.host === os.hostname()
          ? `its recorded process (pid ${pid ?? "none"}) is not this cell's run; carrying on without it`
          : `running on ${job.rec.host ?? "another machine"} (its heartbeat is fresh); waiting for it`,
    );
    const alive = () => (here ? isCellProcess(pid, dir, start) : job.rec.host !== os.hostname() && isAlive(dir, job.rec));
    while (alive()) await new Promise((r) => setTimeout(r, ADOPT_POLL_MS));
    if (here) adopted.delete(pid);
    // Gone without an end of its own (killed with the sweep's machine, say): carry on from where it stopped.
    const rec = o.store.cells.find((r) => r.id === job.rec.id)!;
    const next = actionFor(rec, observeCell(dirOf(rec), { ...rec, state: "failed" }));
    if (!o.stop.aborted && (next === "resume" || next === "restart" || next === "retry")) return launch({ ...job, rec, action: next });
    finish(job, undefined);
  };

  while (queue.length || running.size) {
    while (!o.stop.aborted && queue.length && running.size < o.concurrency) start(queue.shift()!);
    if (!running.size) break;
    await Promise.race(running);
  }
  for (const job of queue) say(job.cell, "not started (the sweep was stopped)");
  return { interrupted: o.stop.aborted };
}

const pc = (x: number) => `${(x * 100).toFixed(1)}%`;
const signed = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)} pts`;

/** A cell's result in its progress line: the exam's grade when graded, else the planner's own holdout, said so. */
function cellResult(s: SummaryNumbers | undefined): string {
  const e = s?.exam;
  if (e && typeof e.baseline === "number" && typeof e.final === "number") return `exam ${pc(e.baseline)} → ${pc(e.final)} (${signed(e.final - e.baseline)})`;
  if (e) return "exam: no final sitting";
  const h = s?.holdout;
  return h ? `self-reported holdout ${pc(h.baseline)} → ${pc(h.final)} (${signed(h.final - h.baseline)})` : "";
}

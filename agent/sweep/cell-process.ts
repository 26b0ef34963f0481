import fs from "node:fs";
import { CLI_ENTRY } from "../../lib/package-paths.ts";

/**
 * When `pid` started, in clock ticks since boot (/proc/<pid>/stat field 22): with the pid it
 * names one process for good — a process that gets the pid later starts later, and no
 * process can change its own start time. undefined when it cannot be read.
 */
export function processStart(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 2, the command name, is in parentheses and may hold spaces and ')': count from after the last ')' (field 3 on).
    const v = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[22 - 3]);
    return Number.isSafeInteger(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is, right now, the `tinkerloop run`/`resume` of the cell whose run
 * directory is `runDir`, started by this user: its command line is ours (this CLI, that
 * subcommand, that run directory) and /proc says it is our uid. A pid read from a
 * sweep manifest is data — an edited manifest, or a pid reused since — so it is signalled
 * or waited for only while this holds (checked again right before each signal). A command
 * line can be forged by any process of the user that gets the pid after the run ended, so
 * when the sweep recorded the process's start time (`start`, from processStart when it
 * launched the cell) the pid must still have it, read before and after the command line.
 * Without /proc (not Linux) nothing can be checked, and nothing is accepted.
 */
export function isCellProcess(pid: number, runDir: string, start?: number): boolean {
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return false;
  const before = processStart(pid);
  if (before === undefined || (start !== undefined && before !== start)) return false;
  try {
    const owner = fs.statSync(`/proc/${pid}`).uid;
    if (process.getuid && owner !== process.getuid()) return false;
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    const sub = argv.indexOf(CLI_ENTRY);
    if (sub < 0 || !["run", "resume"].includes(argv[sub + 1] ?? "")) return false;
    const ours = argv[sub + 1] === "run" ? argv[argv.indexOf("--run-dir", sub) + 1] === runDir : argv[sub + 2] === runDir;
    // Still the process whose command line was read (not one that took the pid meanwhile).
    return ours && processStart(pid) === before;
  } catch {
    return false;
  }
}

/** Sends `signal` to a cell's process only if it still is that process (see isCellProcess). */
export function signalCell(pid: number, runDir: string, signal: NodeJS.Signals, start?: number): boolean {
  if (!isCellProcess(pid, runDir, start)) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

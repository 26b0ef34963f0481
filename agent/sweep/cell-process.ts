import fs from "node:fs";
import { CLI_ENTRY } from "../../lib/package-paths.ts";

/**
 * Whether `pid` is, right now, the `tinkerloop run`/`resume` of the cell whose run
 * directory is `runDir`, started by this user: its command line is ours (this CLI, that
 * subcommand, that run directory) and /proc says it is our uid. A pid read from a
 * sweep manifest is data — an edited manifest, or a pid reused since — so it is signalled
 * or waited for only while this holds (checked again right before each signal).
 * Without /proc (not Linux) nothing can be checked, and nothing is accepted.
 */
export function isCellProcess(pid: number, runDir: string): boolean {
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return false;
  try {
    const owner = fs.statSync(`/proc/${pid}`).uid;
    if (process.getuid && owner !== process.getuid()) return false;
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    const sub = argv.indexOf(CLI_ENTRY);
    if (sub < 0 || !["run", "resume"].includes(argv[sub + 1] ?? "")) return false;
    return argv[sub + 1] === "run" ? argv[argv.indexOf("--run-dir", sub) + 1] === runDir : argv[sub + 2] === runDir;
  } catch {
    return false;
  }
}

/** Sends `signal` to a cell's process only if it still is that process (see isCellProcess). */
export function signalCell(pid: number, runDir: string, signal: NodeJS.Signals): boolean {
  if (!isCellProcess(pid, runDir)) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

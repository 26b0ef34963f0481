import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const LOG_FILES = [
  "init_debug.log",
  "training_debug.log",
  "sampling_debug.log",
  "reward_debug.log",
  "save_load_debug.log",
  "progress.txt",
  "progress.jsonl",
] as const;
export type LogFile = (typeof LOG_FILES)[number];

/**
 * A session's log directory, `tinkerer_<id>` under the OS temp dir: timestamped
 * lines per concern, and heartbeat lines in progress.txt / progress.jsonl that a
 * watchdog (or a human) can follow. Written always, not only in debug mode.
 */
export class SessionLogs {
  readonly dir: string;

  constructor(root = os.tmpdir()) {
    this.dir = fs.mkdtempSync(path.join(root, "tinkerer_"));
    fs.chmodSync(this.dir, 0o700);
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  write(file: LogFile, message: string): void {
    const stamp = new Date().toISOString().replace("T", " ").slice(0, 19);
    fs.appendFileSync(this.file(file), `[${stamp}] ${message}\n`);
  }

  progress(message: string): void {
    const now = new Date();
    fs.appendFileSync(this.file("progress.txt"), `[${now.toISOString().slice(11, 19)}] ${message}\n`);
    fs.appendFileSync(this.file("progress.jsonl"), `${JSON.stringify({ ts: now.toISOString(), pid: process.pid, message })}\n`);
  }

  /** Writes the reward code last used, for the planner to inspect. */
  writeGradingFunction(code: string): void {
    fs.writeFileSync(this.file("grading_function.py"), code);
  }
}

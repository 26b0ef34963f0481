import type { RunIO } from "../session/execute-run.ts";
import { terminalSafe } from "./terminal.ts";

/** Everything the CLI prints goes through here: no control character from a transcript or a tool reaches the terminal raw. */
export const print = (text: string): void => void process.stdout.write(terminalSafe(text));
export const printErr = (text: string): void => void process.stderr.write(terminalSafe(text));

/** A run's lines on stdout; `signal` stops it. */
export const stdoutIO = (signal: AbortSignal): RunIO => ({ out: (l) => print(`${l}\n`), signal });

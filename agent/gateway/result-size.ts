import path from "node:path";
import { RUN_DIRS } from "../../lib/run-layout.ts";
import { writeBeneath } from "../../lib/run-file-writes.ts";

/**
 * The largest result the gateway hands an agent client, in UTF-8 bytes. Both clients pass
 * this much whole: Codex cuts the middle of a result past ~12 KB, Claude Code replaces a
 * result past its token limit by a file outside the run directory the agent cannot read.
 */
export const RESULT_LIMIT_BYTES = 10 * 1024;

/** Where the whole text of a cut result is kept, relative to the run directory (harness-owned: readable, not writable). */
export const GATEWAY_RESULTS_DIR = path.join(RUN_DIRS.logs, "gateway-results");

/** A result as the agent must read it: the tool's own text, and what follows it (feedback block, end-of-run text), which is never cut. */
export type ResultParts = { body: string; tail: string[] };

const bytes = (s: string) => Buffer.byteLength(s, "utf8");

/** The first `max` bytes of `s`, not splitting a character, ended at a line break when one is near. */
function headOf(s: string, max: number): string {
  let head = Buffer.from(s, "utf8").subarray(0, Math.max(0, max)).toString("utf8");
  if (head.endsWith("\uFFFD")) head = head.slice(0, -1);
  const nl = head.lastIndexOf("\n");
  return nl > head.length * 0.8 ? head.slice(0, nl) : head;
}

/**
 * The text the agent gets: whole when it fits in RESULT_LIMIT_BYTES; otherwise the start of
 * the tool's text (the guard's note and the result's headline come first), a line saying
 * where the whole of it is, and the tail unchanged. `keep` writes the whole text and the
 * structured result to files and returns the text's path relative to the run directory; a
 * read_file result is not kept again (it is a file already: the agent reads fewer lines).
 */
export function fitResult(parts: ResultParts, o: { tool: string; keep: () => string | undefined; limit?: number }): { text: string; cut: boolean } {
  const limit = o.limit ?? RESULT_LIMIT_BYTES;
  const tail = parts.tail.filter((t) => t !== "");
  const whole = [parts.body, ...tail].join("\n\n");
  if (bytes(whole) <= limit) return { text: whole, cut: false };
  const file = o.keep();
  const size = bytes(parts.body);
  const pointer =
    file === undefined
      ? `[gateway] Cut here: this result is ${size.toLocaleString("en")} bytes, more than the ${limit.toLocaleString("en")} an agent client passes whole. Read fewer lines at a time (read_file with offset and limit).`
      : `[gateway] Cut here: this result is ${size.toLocaleString("en")} bytes, more than the ${limit.toLocaleString("en")} an agent client passes whole. The whole result is in ${file} (and its structured form beside it, .json): page through it with read_file {"path": "${file}", "offset": 1, "limit": 100}.`;
  const room = limit - bytes(["", pointer, ...tail].join("\n\n")) - 8;
  return { text: [`${headOf(parts.body, room)}\n…`, pointer, ...tail].join("\n\n"), cut: true };
}

/** Writes a cut result's whole text (and structured result) into the run's gateway-results folder; returns the text file's relative path. */
export function keepWholeResult(runDir: string, turn: number, tool: string, text: string, structured: unknown): string {
  // Through the one writer: the agent's own shell may have planted a link under logs/.
  const base = `turn-${turn}-${tool.replace(/[^\w.-]/g, "_")}`;
  writeBeneath(runDir, path.join(GATEWAY_RESULTS_DIR, `${base}.txt`), text, { how: "replace", mkdirs: true });
  if (structured !== undefined)
    writeBeneath(runDir, path.join(GATEWAY_RESULTS_DIR, `${base}.json`), `${JSON.stringify(structured, null, 2)}\n`, { how: "replace", mkdirs: true });
  return path.join(GATEWAY_RESULTS_DIR, `${base}.txt`);
}

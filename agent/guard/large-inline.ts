import path from "node:path";
import { PathRefused } from "../../lib/run-files.ts";
import { writeBeneath } from "../../lib/run-file-writes.ts";
import { baseToolName } from "../core/tool-names.ts";
import type { GuardRule } from "../core/guard.ts";

const DATA_ARGS = ["prompts", "examples"];

/**
 * Inline `prompts` / `examples` over `limitBytes` are written to a JSONL file in the
 * run's data folder and the call passes the path instead: large inline JSON costs
 * tokens on every later turn and tends to be cut off.
 */
export function largeInlineRule(dataDir: string, limitBytes = 16 * 1024): GuardRule {
  let n = 0;
  return {
    name: "large-inline",
    check(call) {
      const input = call.input as Record<string, unknown> | null;
      if (!input || typeof input !== "object") return { action: "allow" };
      for (const key of DATA_ARGS) {
        const v = input[key];
        if (v === undefined) continue;
        const text = typeof v === "string" ? v : JSON.stringify(v);
        if (Buffer.byteLength(text) <= limitBytes) continue;
        let records: unknown;
        try {
          records = typeof v === "string" ? JSON.parse(v) : v;
        } catch {
          continue; // Not JSON (maybe a path or JSONL): leave it to the server.
        }
        if (!Array.isArray(records)) continue;
        let file: string;
        try {
          file = writeFresh(dataDir, `inline-${baseToolName(call.name)}-${key}`, `${records.map((r) => JSON.stringify(r)).join("\n")}\n`, () => ++n);
        } catch (err) {
          if (err instanceof PathRefused)
            return { action: "reject", message: `${key} is too large to pass inline and could not be saved to the data folder: ${err.message}` };
          throw err;
        }
        return {
          action: "rewrite",
          input: { ...input, [key]: file },
          note: `${key} (${Math.round(Buffer.byteLength(text) / 1024)} KB inline) was saved to ${file} and passed by path; pass files by path next time.`,
        };
      }
      return { action: "allow" };
    },
  };
}

/**
 * Writes a new file `<stem>-<n>.jsonl` in `dir`, never through a link and never over an
 * existing file (the data folder is the planner's, and `bash` can plant links in it).
 */
function writeFresh(dir: string, stem: string, body: string, next: () => number): string {
  for (;;) {
    try {
      // Beneath the run directory (the data folder's parent): a link as data/ itself is refused too.
      return writeBeneath(path.dirname(dir), path.join(path.basename(dir), `${stem}-${next()}.jsonl`), body, { how: "create", mkdirs: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") continue;
      throw err;
    }
  }
}

import fs from "node:fs";
import { baseToolName } from "../tool-names.ts";
import type { GuardRule } from "./types.ts";
import { writeInsideRoot } from "../../tools/run-files.ts";

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
        fs.mkdirSync(dataDir, { recursive: true });
        // The data folder is the planner's too: written under the one write rule (no link followed).
        const file = writeInsideRoot(`inline-${baseToolName(call.name)}-${key}-${++n}.jsonl`, records.map((r) => JSON.stringify(r)).join("\n") + "\n", { root: dataDir, overwrite: true });
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

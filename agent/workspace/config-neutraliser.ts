import fs from "node:fs";
import path from "node:path";
import { configNameIn, neutralName } from "../../lib/config-names.ts";
import { isHarnessOwned } from "../../lib/run-layout.ts";

/**
 * After a `bash` call (its sandbox is gone, so nothing moves meanwhile), renames every
 * configuration-like entry the command left anywhere in the run directory — `.env`,
 * `.envrc`, `.mcp.json`, `.npmrc`, `sitecustomize.py`, `.git`, … — to an inert
 * `neutralised-…` name, so no program started inside the run directory later reads it.
 * Links are renamed, never followed. Every entry is looked at, however many there are (no
 * cap to hide a name behind): the cost per entry is a name test, beside the `bash` call's
 * own walk of the same tree for its disk limit. Returns what was renamed (or removed: to null), relative to the run directory.
 */
export function neutraliseConfigNames(runDir: string): Array<{ from: string; to: string | null }> {
  const renamed: Array<{ from: string; to: string | null }> = [];
  const stack = [""];
  while (stack.length) {
    const rel = stack.pop()!;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(runDir, rel), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const child = path.join(rel, e.name);
      if (rel === "" && isHarnessOwned(child)) continue;
      if (configNameIn(e.name) !== undefined) {
        const to = freeName(runDir, path.join(rel, neutralName(e.name, e.isDirectory())));
        try {
          fs.renameSync(path.join(runDir, child), path.join(runDir, to));
          renamed.push({ from: child, to });
          // What a renamed folder holds is looked at too: a renamed .git still holds a HEAD.
          if (e.isDirectory()) stack.push(to);
        } catch {
          fs.rmSync(path.join(runDir, child), { recursive: true, force: true });
          renamed.push({ from: child, to: null });
        }
        continue;
      }
      if (e.isDirectory()) stack.push(child);
    }
  }
  return renamed;
}

function freeName(root: string, rel: string): string {
  for (let k = 0; ; k++) {
    const candidate = k ? `${rel}-${k}` : rel;
    try {
      fs.lstatSync(path.join(root, candidate));
    } catch {
      return candidate;
    }
  }
}

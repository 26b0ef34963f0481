/** `tinkerloop compare`: several runs' curves overlaid in compare.html, and their table. */
import fs from "node:fs";
import path from "node:path";
import { UserError } from "../core/errors.ts";
import { formatCompareTable, rankedByExam } from "./compare-table.ts";
import type { ReportModel } from "./model-shape.ts";
import { renderPage } from "./page.ts";
import type { BarChart, TextTable } from "./payload.ts";
import { loadRunModel } from "./report.ts";
import { runTarget } from "../transcript/recording.ts";
import { replaceFile, writeBeneath } from "../../lib/run-file-writes.ts";
import { enclosingRunDir } from "../../lib/run-layout.ts";
import { PathRefused } from "../../lib/run-files.ts";

export const COMPARE_FILE = "compare.html";

/** Writes the comparison page (with `tables` above the runs, e.g. a sweep's leaderboard); returns its path and the table's lines. */
export function writeCompare(
  targets: string[],
  out = COMPARE_FILE,
  extra: { title?: string; tables?: TextTable[]; bars?: BarChart } = {},
): { file: string; table: string[]; runs: ReportModel[] } {
  if (targets.length < 2) throw new UserError("compare needs at least two runs.", "e.g. tinkerloop compare runs/<id-a> runs/<id-b>");
  const runs = rankedByExam(targets.map((t) => loadRunModel(runTarget(t).runDir)));
  const file = path.resolve(out);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory())
    throw new UserError(`${file} is a directory.`, "Give --out a file name, e.g. --out compare.html.");
  const page = renderPage(
    { kind: "compare", runs, ...(extra.tables?.length ? { tables: extra.tables } : {}), ...(extra.bars ? { bars: extra.bars } : {}) },
    extra.title ?? `tinkerloop compare · ${runs.length} runs`,
  );
  // The default compare.html lands where the user stands, which may be a run directory:
  // there through the one writer (no link at any component is followed, a planted one is
  // replaced), elsewhere through a rename that replaces a link rather than writing through it.
  const runDir = outermostRunDir(path.dirname(file));
  if (runDir !== undefined) {
    try {
      writeBeneath(runDir, path.relative(runDir, file), page, { how: "replace", mkdirs: true });
    } catch (err) {
      if (err instanceof PathRefused) throw new UserError(`Cannot write ${file}: ${err.message}`, "Give --out a path outside run directories.");
      throw err;
    }
  } else {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    replaceFile(file, page);
  }
  return { file, table: formatCompareTable(runs), runs };
}

/**
 * The outermost run directory `dir` lies in: a planted link inside one may lead to a folder
 * holding a transcript of its own, so the nearest one could be the link's target.
 */
function outermostRunDir(dir: string): string | undefined {
  let found: string | undefined;
  for (let cur = enclosingRunDir(dir); cur !== undefined; cur = enclosingRunDir(path.dirname(cur))) {
    found = cur;
    if (path.dirname(cur) === cur) break;
  }
  return found;
}

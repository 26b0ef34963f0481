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
import { RUN_FILE_MODE } from "../../lib/run-file-writes.ts";

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
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    renderPage(
      { kind: "compare", runs, ...(extra.tables?.length ? { tables: extra.tables } : {}), ...(extra.bars ? { bars: extra.bars } : {}) },
      extra.title ?? `tinkerloop compare · ${runs.length} runs`,
    ),
    // It holds the runs' text: as private as their folders.
    { mode: RUN_FILE_MODE },
  );
  return { file, table: formatCompareTable(runs), runs };
}

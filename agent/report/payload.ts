import type { ReportModel } from "./model-shape.ts";

/** What a page carries: one run (static or live) or several runs to compare. */
export type PagePayload =
  | { kind: "run"; model: ReportModel; live?: { events: string } }
  | { kind: "compare"; runs: ReportModel[]; tables?: TextTable[]; bars?: BarChart };

/** A table of text cells shown above the compared runs (a sweep's leaderboard). */
export type TextTable = { title: string; columns: string[]; rows: string[][] };

/** One horizontal bar per label (a suite's scores): value on a 0..1 scale, drawn clamped to it, printed as is. */
export type BarChart = { title: string; bars: Array<{ label: string; value: number; note?: string }> };

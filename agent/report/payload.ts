import type { ReportModel } from "./model-shape.ts";

/** What a page carries: one run (static or live) or several runs to compare. */
export type PagePayload = { kind: "run"; model: ReportModel; live?: { events: string } } | { kind: "compare"; runs: ReportModel[]; tables?: TextTable[] };

/** A table of text cells shown above the compared runs (a sweep's leaderboard). */
export type TextTable = { title: string; columns: string[]; rows: string[][] };

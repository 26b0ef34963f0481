import { CATALOG, findPreset } from "./catalog.ts";
import type { HubClient } from "../../lib/hub-client.ts";
import { InputProblem } from "./inspection.ts";
import type { Inspection } from "./inspection.ts";
import { compileMapping, MappingSkip } from "./mapping.ts";
import type { Format, GrpoMapping, SftMapping, SkipReason } from "./mapping.ts";

/** The mapping object a planner passes (validated by the tool's schema). */
export type MappingInput = {
  prompt: string;
  ground_truth?: string;
  response?: string;
  ground_truth_regex?: string;
  ground_truth_group?: number;
  ground_truth_transforms?: Array<"remove_commas" | "trim" | "lower">;
};

export type ExportArgs = { dataset: string; config?: string; split?: string; format?: Format; mapping?: MappingInput; preset?: string; start: number };

/** The format and mapping to use: a catalog preset, or the planner's own. */
export function resolveMapping(a: ExportArgs): { format: Format; mapping: GrpoMapping | SftMapping; preset: string | null } {
  if (a.preset) {
    const p = findPreset(a.preset);
    if (!p)
      throw new InputProblem(
        "bad_request",
        `Unknown preset ${JSON.stringify(a.preset)}.`,
        `Presets: ${CATALOG.flatMap((d) => d.presets.map((x) => x.name)).join(", ")}.`,
      );
    return { format: p.preset.format, mapping: p.preset.mapping, preset: p.preset.name };
  }
  if (!a.mapping || !a.format)
    throw new InputProblem(
      "bad_request",
      "Pass format and mapping, or a preset.",
      'e.g. format: "grpo", mapping: {prompt: "{question}", ground_truth: "{answer}", ground_truth_regex: "####\\\\s*(-?[0-9.,]+)"}',
    );
  if (a.format === "grpo" && a.mapping.ground_truth === undefined)
    throw new InputProblem(
      "bad_mapping",
      "A grpo mapping needs ground_truth.",
      'Add ground_truth: "{answer}" (and ground_truth_regex to extract the final answer).',
    );
  if (a.format === "sft" && a.mapping.response === undefined)
    throw new InputProblem("bad_mapping", "An sft mapping needs response.", 'Add response: "{output}".');
  return { format: a.format, mapping: a.mapping as GrpoMapping | SftMapping, preset: null };
}

/** Reads rows [start, start+count) 100 at a time (or the catalog's sample rows offline). */
export async function readRows(
  hub: HubClient,
  ins: Inspection,
  start: number,
  count: number,
): Promise<{ rows: Array<Record<string, unknown>>; truncated: number; total: number | null }> {
  if (ins.source === "catalog") return { rows: ins.rows.slice(start, start + count), truncated: 0, total: ins.rows.length };
  const rows: Array<Record<string, unknown>> = [];
  let truncated = 0;
  let total: number | null = null;
  for (let offset = start; offset < start + count; offset += 100) {
    const page = await hub.rows(ins.id, ins.config, ins.split, offset, Math.min(100, start + count - offset));
    total = page.numRowsTotal;
    for (const r of page.rows) {
      if (r.truncated_cells?.length) truncated++;
      else rows.push(r.row);
    }
    if (page.rows.length === 0 || (total !== null && offset + 100 >= total)) break;
  }
  return { rows, truncated, total };
}

export type Mapped = { records: Array<Record<string, string>>; skipped: Record<SkipReason, number>; examplesOfSkips: string[] };

export function mapRows(
  format: Format,
  mapping: GrpoMapping | SftMapping,
  rows: Array<Record<string, unknown>>,
  dedupe: boolean,
  classLabels: Record<string, string[]>,
): Mapped {
  const fn = compileMapping(format, mapping);
  const skipped: Record<SkipReason, number> = { missing_field: 0, regex_no_match: 0, empty: 0, too_long: 0, duplicate: 0, truncated_cells: 0 };
  const examplesOfSkips: string[] = [];
  const seen = new Set<string>();
  const records: Array<Record<string, string>> = [];
  rows.forEach((row, i) => {
    try {
      const m = fn(row, { classLabels });
      if (dedupe) {
        if (seen.has(m.prompt)) {
          skipped.duplicate++;
          return;
        }
        seen.add(m.prompt);
      }
      records.push(format === "grpo" ? { prompt: m.prompt, ground_truth: m.ground_truth! } : { prompt: m.prompt, response: m.response! });
    } catch (err) {
      if (!(err instanceof MappingSkip)) throw err;
      skipped[err.reason]++;
      if (examplesOfSkips.length < 5) examplesOfSkips.push(`row ${i}: ${err.message}`);
    }
  });
  return { records, skipped, examplesOfSkips };
}

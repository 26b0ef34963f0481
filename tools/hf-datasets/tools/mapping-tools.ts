import { z } from "zod";
import { licenseWarning } from "../catalog.ts";
import { exportRoot, resolveOutput, writeJsonl } from "../export-writer.ts";
import { inspect } from "../inspection.ts";
import { mapRows, readRows, resolveMapping } from "../row-mapping.ts";
import type { ExportArgs } from "../row-mapping.ts";
import { Rng } from "../../../lib/random.ts";
import { asToolHandler, ok } from "../tool-context.ts";
import type { HfToolContext } from "../tool-context.ts";
import { exportResult, previewResult } from "../../contracts/hf-datasets-results.ts";

const MAX_EXPORT_ROWS = 10_000;

const mappingShape = z.object({
  prompt: z.string(),
  ground_truth: z.string().optional(),
  response: z.string().optional(),
  ground_truth_regex: z.string().optional(),
  ground_truth_group: z.number().int().min(0).optional(),
  ground_truth_transforms: z.array(z.enum(["remove_commas", "trim", "lower"])).optional(),
});

const exportArgs = {
  dataset: z.string().min(1),
  config: z.string().optional(),
  split: z.string().optional(),
  format: z.enum(["grpo", "sft"]).optional(),
  mapping: mappingShape.optional(),
  preset: z.string().optional(),
  start: z.number().int().min(0).default(0),
};

/** preview_mapping and export_dataset: turning a dataset's rows into training records. */
export function registerMappingTools(ctx: HfToolContext): void {
  ctx.server.registerTool(
    "preview_mapping",
    {
      description: "Try a mapping (or preset) on a few rows without writing anything: shows the mapped records and why rows would be skipped.",
      inputSchema: { ...exportArgs, n: z.number().int().min(1).max(20).default(5) },
      outputSchema: previewResult,
    },
    asToolHandler(async (a: ExportArgs & { n: number }) => {
      const { format, mapping } = resolveMapping(a);
      const ins = await inspect(ctx.hub, a.dataset, a.config, a.split, 1);
      const { rows } = await readRows(ctx.hub, ins, a.start, a.n);
      const m = mapRows(format, mapping, rows, false, ins.classLabels);
      const lines = [
        `${m.records.length}/${rows.length} rows mapped as ${format}:`,
        ...m.records.map((r) => `  ${JSON.stringify(r)}`),
        ...(m.examplesOfSkips.length ? ["Skipped:", ...m.examplesOfSkips.map((x) => `  ${x}`)] : []),
      ];
      return ok(lines.join("\n"), { format, records: m.records, rows_read: rows.length, skipped: m.skipped, skip_examples: m.examplesOfSkips });
    }),
  );

  ctx.server.registerTool(
    "export_dataset",
    {
      description:
        'Map rows of a dataset split to training records and write them as JSONL at output (relative to the run directory, e.g. "data/gsm8k-train.jsonl"; the tinker tools take the same path) ' +
        "(GRPO: {prompt, ground_truth}; SFT: {prompt, response}), with a .meta.json provenance sidecar. Pass the returned path to the tinker tools.",
      inputSchema: {
        ...exportArgs,
        limit: z.number().int().min(1).max(MAX_EXPORT_ROWS).default(500),
        sample: z.object({ n: z.number().int().min(1), seed: z.number().int().default(0) }).optional(),
        dedupe: z.boolean().default(true),
        output: z.string().min(1),
        overwrite: z.boolean().default(false),
      },
      outputSchema: exportResult,
    },
    asToolHandler(async (a: ExportArgs & { limit: number; sample?: { n: number; seed: number }; dedupe: boolean; output: string; overwrite: boolean }) => {
      const { format, mapping, preset } = resolveMapping(a);
      const root = exportRoot(ctx.env);
      const file = resolveOutput(root, a.output, a.overwrite);
      const ins = await inspect(ctx.hub, a.dataset, a.config, a.split, 1);
      const { rows, truncated } = await readRows(ctx.hub, ins, a.start, a.limit);
      const m = mapRows(format, mapping, rows, a.dedupe, ins.classLabels);
      m.skipped.truncated_cells += truncated;
      let records = m.records;
      if (a.sample && a.sample.n < records.length) records = new Rng(a.sample.seed).shuffle([...records]).slice(0, a.sample.n);
      const warning = licenseWarning(ins.license) ?? null;
      const provenance = {
        dataset: ins.id,
        config: ins.config,
        split: ins.split,
        source: ins.source,
        license: ins.license,
        license_warning: warning,
        format,
        preset,
        mapping,
        start: a.start,
        limit: a.limit,
        sample: a.sample ?? null,
        dedupe: a.dedupe,
        rows_read: rows.length,
        skipped: m.skipped,
      };
      const w = writeJsonl(root, file, records, provenance, a.overwrite);
      const skippedTotal = Object.values(m.skipped).reduce((x, y) => x + y, 0);
      const lines = [
        `Wrote ${records.length} ${format} records to ${file} (read ${rows.length} rows of ${ins.id} ${ins.config}/${ins.split}; skipped ${skippedTotal}).`,
        ...Object.entries(m.skipped)
          .filter(([, n]) => n > 0)
          .map(([k, n]) => `  skipped ${k}: ${n}`),
        ...m.examplesOfSkips.map((x) => `  e.g. ${x}`),
        ...(warning ? [`WARNING: ${warning}`] : []),
        ...(ins.source === "catalog" ? ["Note: offline catalog export — only the entry's hand-written sample rows."] : []),
        `Provenance: ${w.metaPath}`,
        ...records.slice(0, 2).map((r) => `  ${JSON.stringify(r).slice(0, 300)}`),
      ];
      return ok(lines.join("\n"), {
        path: file,
        format,
        rows_written: records.length,
        rows_read: rows.length,
        skipped: m.skipped,
        skip_examples: m.examplesOfSkips,
        sha256: w.sha256,
        meta_path: w.metaPath,
        preview: records.slice(0, 2),
        license: ins.license,
        license_warning: warning,
      });
    }),
  );
}

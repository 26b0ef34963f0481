import { z } from "zod";

/** The structured results of the hf-datasets tools, declared once: the tools' outputSchema, the harness's readers and the test fakes use them. */

export const datasetHitShape = z.object({
  id: z.string(),
  source: z.enum(["catalog", "hub"]),
  downloads: z.number().nullable(),
  likes: z.number().nullable(),
  gated: z.union([z.boolean(), z.string()]),
  license: z.string(),
  description: z.string(),
  presets: z.array(z.string()),
});

export const searchResult = z.object({
  query: z.string(),
  relaxed: z.boolean(),
  relaxed_query: z.string().nullable(),
  hub_searched: z.boolean(),
  note: z.string().nullable(),
  results: z.array(datasetHitShape),
});

export const inspectResult = z.object({
  id: z.string(),
  source: z.enum(["hub", "catalog"]),
  license: z.string(),
  license_warning: z.string().nullable(),
  gated: z.union([z.boolean(), z.string()]),
  configs: z.array(z.object({ config: z.string(), splits: z.array(z.object({ split: z.string(), num_rows: z.number().nullable() })) })),
  config: z.string(),
  split: z.string(),
  features: z.array(z.object({ name: z.string(), type: z.string() })),
  samples: z.array(z.record(z.string(), z.unknown())),
  suggested: z
    .object({ format: z.enum(["grpo", "sft"]), mapping: z.record(z.string(), z.unknown()), preset: z.string().nullable(), reason: z.string() })
    .nullable(),
  note: z.string().nullable(),
});

export const skippedShape = z.object({
  missing_field: z.number(),
  regex_no_match: z.number(),
  empty: z.number(),
  too_long: z.number(),
  duplicate: z.number(),
  truncated_cells: z.number(),
});

export const previewResult = z.object({
  format: z.enum(["grpo", "sft"]),
  records: z.array(z.record(z.string(), z.string())),
  rows_read: z.number(),
  skipped: skippedShape,
  skip_examples: z.array(z.string()),
});

export const exportResult = z.object({
  path: z.string(),
  format: z.enum(["grpo", "sft"]),
  rows_written: z.number(),
  rows_read: z.number(),
  skipped: skippedShape,
  skip_examples: z.array(z.string()),
  sha256: z.string(),
  meta_path: z.string(),
  preview: z.array(z.record(z.string(), z.string())),
  license: z.string(),
  license_warning: z.string().nullable(),
});

export const generateResult = z.object({
  path: z.string(),
  task: z.string(),
  format: z.enum(["grpo", "sft"]),
  split: z.string(),
  rows_written: z.number(),
  requested: z.number(),
  exhausted: z.boolean(),
  sha256: z.string(),
  meta_path: z.string(),
  preview: z.array(z.record(z.string(), z.string())),
});

export const catalogResult = z.object({
  datasets: z.array(
    z.object({
      id: z.string(),
      license: z.string(),
      commercial_use: z.boolean(),
      description: z.string(),
      presets: z.array(z.object({ name: z.string(), format: z.string(), note: z.string().nullable() })),
    }),
  ),
  generators: z.array(z.object({ task: z.string(), description: z.string(), ground_truth: z.string(), levels: z.string() })),
  offline: z.boolean(),
});

/** What an export or a generator wrote (both tools' results carry these). */
export const writtenFileShape = z.object({ path: z.string(), rows_written: z.number() });

export type SearchResult = z.infer<typeof searchResult>;
export type InspectResult = z.infer<typeof inspectResult>;
export type ExportResult = z.infer<typeof exportResult>;
export type GenerateResult = z.infer<typeof generateResult>;

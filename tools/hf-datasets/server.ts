/**
 * The hf-datasets MCP server (stdio): find datasets on the Hugging Face Hub (or in
 * the built-in catalog offline), look inside them, map rows to training records with
 * a small template language, and write JSONL files the tinker tools read by path.
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { CATALOG, findCatalogDataset, generatorEntries, licenseWarning, searchCatalog } from "./catalog.ts";
import { exportRoot, OutputPathError, resolveOutput, writeJsonl } from "./export-writer.ts";
import { generate, TASKS } from "./generators.ts";
import type { Difficulty } from "./generators.ts";
import { HfError, HubClient, hubConfigFromEnv } from "./hub-client.ts";
import { TemplateError } from "./mapping.ts";
import type { Format } from "./mapping.ts";
import { inspect, InputProblem, licenseOf, truncateCells } from "./inspection.ts";
import { mapRows, readRows, resolveMapping } from "./row-mapping.ts";
import type { ExportArgs } from "./row-mapping.ts";
import { suggestMapping } from "./suggest.ts";
import { Rng } from "../random.ts";
import { ok } from "../tool-results.ts";

const env = process.env;
const hub = new HubClient(hubConfigFromEnv(env), (m) => process.stderr.write(`${m}\n`));
const server = new McpServer({ name: "hf-datasets", version: "0.1.0" });
const MAX_EXPORT_ROWS = 10_000;

function fail(code: string, message: string, hint: string): CallToolResult {
  return { content: [{ type: "text", text: `Error [${code}]: ${message}\nHint: ${hint}` }], isError: true };
}

/** Turns known errors into isError results with a code and a hint. Never echoes HF_TOKEN. */
function guarded<A>(body: (a: A) => Promise<CallToolResult>) {
  return async (a: A): Promise<CallToolResult> => {
    try {
      return await body(a);
    } catch (err) {
      if (err instanceof HfError) return fail(err.code, err.message, err.hint);
      if (err instanceof TemplateError) return fail("bad_mapping", err.message, "Fix the template: {field}, {a.b}, {list[0]}, {msgs[role=user][0].content}, filters like |trim or |after:\"####\".");
      if (err instanceof OutputPathError) return fail("bad_output", err.message, "Write a .jsonl file under the export directory, e.g. output: \"gsm8k/train.jsonl\".");
      if (err instanceof InputProblem) return fail(err.code, err.message, err.hint);
      const msg = (err as Error).message ?? String(err);
      return fail("internal", env.HF_TOKEN ? msg.split(env.HF_TOKEN).join("[REDACTED]") : msg, "This looks like a bug; the other tools still work.");
    }
  };
}

// ---------------------------------------------------------------- search_datasets

const resultShape = z.object({
  id: z.string(),
  source: z.enum(["catalog", "hub"]),
  downloads: z.number().nullable(),
  likes: z.number().nullable(),
  gated: z.union([z.boolean(), z.string()]),
  license: z.string(),
  description: z.string(),
  presets: z.array(z.string()),
});

server.registerTool(
  "search_datasets",
  {
    description:
      "Search datasets on the Hugging Face Hub (the query matches owner/name substrings) plus the built-in catalog, whose entries come first. " +
      "A multi-word query that finds nothing is retried word by word. Filters narrow the Hub search.",
    inputSchema: {
      query: z.string().min(1),
      task_type: z.string().optional(),
      language: z.string().optional(),
      size_category: z.string().optional(),
      license: z.string().optional(),
      sort: z.enum(["downloads", "likes", "trendingScore", "createdAt", "lastModified"]).default("downloads"),
      max_results: z.number().int().min(1).max(50).default(10),
    },
    outputSchema: z.object({ query: z.string(), relaxed: z.boolean(), relaxed_query: z.string().nullable(), hub_searched: z.boolean(), note: z.string().nullable(), results: z.array(resultShape) }),
  },
  guarded(async (a: { query: string; task_type?: string; language?: string; size_category?: string; license?: string; sort: string; max_results: number }) => {
    const catalog = searchCatalog(a.query).map((d) => ({
      id: d.id,
      source: "catalog" as const,
      downloads: null,
      likes: null,
      gated: false,
      license: d.license,
      description: d.description,
      presets: d.presets.map((p) => p.name),
    }));
    const filters = [
      a.task_type && `task_categories:${a.task_type}`,
      a.language && `language:${a.language}`,
      a.size_category && `size_categories:${a.size_category}`,
      a.license && `license:${a.license}`,
    ].filter((x): x is string => !!x);
    let hubResults: z.infer<typeof resultShape>[] = [];
    let relaxedQuery: string | null = null;
    let note: string | null = null;
    let hubSearched = false;
    try {
      let found = await hub.searchDatasets({ search: a.query.trim(), filters, sort: a.sort, limit: a.max_results });
      hubSearched = true;
      const words = a.query.trim().split(/\s+/);
      if (found.length === 0 && words.length > 1) {
        for (const w of [...words].sort((x, y) => y.length - x.length)) {
          found = await hub.searchDatasets({ search: w, filters, sort: a.sort, limit: a.max_results });
          if (found.length > 0) {
            relaxedQuery = w;
            break;
          }
        }
      }
      hubResults = found.map((d) => ({
        id: d.id,
        source: "hub" as const,
        downloads: d.downloads,
        likes: d.likes,
        gated: d.gated,
        license: licenseOf(d.tags, d.cardData),
        description: (d.description ?? "").replace(/\s+/g, " ").slice(0, 200),
        presets: findCatalogDataset(d.id)?.presets.map((p) => p.name) ?? [],
      }));
    } catch (err) {
      if (!(err instanceof HfError) || err.code !== "offline") throw err;
      note = `${err.message} Showing built-in catalog entries only.`;
    }
    const seen = new Set(catalog.map((c) => c.id));
    const results = [...catalog, ...hubResults.filter((h) => !seen.has(h.id))].slice(0, a.max_results + catalog.length);
    const lines = [
      `${results.length} dataset(s) for ${JSON.stringify(a.query)}${relaxedQuery ? ` (nothing matched the whole query; showing matches for the word ${JSON.stringify(relaxedQuery)})` : ""}:`,
      ...(note ? [note] : []),
      ...results.map(
        (r) =>
          `- ${r.id} [${r.source}] license ${r.license}${r.downloads !== null ? ` · ${r.downloads.toLocaleString("en-US")} downloads` : ""}${r.gated ? " · gated" : ""}` +
          `${r.presets.length ? ` · presets: ${r.presets.join(", ")}` : ""}${r.description ? `\n  ${r.description}` : ""}`,
      ),
      results.length === 0 ? "Nothing found. Try one distinctive word of the dataset's name (the Hub matches owner/name substrings), or generate_synthetic." : "",
    ].filter(Boolean);
    return ok(lines.join("\n"), { query: a.query, relaxed: relaxedQuery !== null, relaxed_query: relaxedQuery, hub_searched: hubSearched, note, results });
  }),
);

// ---------------------------------------------------------------- inspect_dataset

server.registerTool(
  "inspect_dataset",
  {
    description: "Look inside a dataset: configs, splits with row counts, features, license and gated status, a few rows, and a suggested mapping for export_dataset.",
    inputSchema: { dataset: z.string().min(1), config: z.string().optional(), split: z.string().optional(), sample_rows: z.number().int().min(0).max(20).default(3) },
    outputSchema: z.object({
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
      suggested: z.object({ format: z.enum(["grpo", "sft"]), mapping: z.record(z.string(), z.unknown()), preset: z.string().nullable(), reason: z.string() }).nullable(),
      note: z.string().nullable(),
    }),
  },
  guarded(async (a: { dataset: string; config?: string; split?: string; sample_rows: number }) => {
    const ins = await inspect(hub, a.dataset, a.config, a.split, a.sample_rows);
    const samples = ins.rows.slice(0, a.sample_rows).map(truncateCells);
    const suggested = suggestMapping(ins.id, ins.features, ins.rows);
    const warning = licenseWarning(ins.license) ?? null;
    const lines = [
      `${ins.id} [${ins.source}] · license ${ins.license}${ins.gated ? " · gated" : ""}`,
      ...(warning ? [`WARNING: ${warning}`] : []),
      "Configs and splits:",
      ...ins.configs.map((c) => `  ${c.config}: ${c.splits.map((s) => `${s.split} (${s.num_rows ?? "?"} rows)`).join(", ")}`),
      `Showing ${ins.config}/${ins.split}. Features: ${ins.features.map((f) => `${f.name}: ${f.type}`).join(", ")}`,
      ...samples.map((r, i) => `  row ${i}: ${JSON.stringify(r)}`),
      suggested ? `Suggested ${suggested.format} mapping (${suggested.reason}): ${JSON.stringify(suggested.mapping)}${suggested.preset ? ` — or preset "${suggested.preset}"` : ""}` : "No mapping suggestion: write one with {field} placeholders.",
      ...(ins.note ? [ins.note] : []),
    ];
    return ok(lines.join("\n"), {
      id: ins.id,
      source: ins.source,
      license: ins.license,
      license_warning: warning,
      gated: ins.gated,
      configs: ins.configs,
      config: ins.config,
      split: ins.split,
      features: ins.features,
      samples,
      suggested: suggested ? { ...suggested, preset: suggested.preset ?? null } : null,
      note: ins.note,
    });
  }),
);

// ---------------------------------------------------------------- mapping + export

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

const skippedShape = z.object({ missing_field: z.number(), regex_no_match: z.number(), empty: z.number(), too_long: z.number(), duplicate: z.number(), truncated_cells: z.number() });

server.registerTool(
  "preview_mapping",
  {
    description: "Try a mapping (or preset) on a few rows without writing anything: shows the mapped records and why rows would be skipped.",
    inputSchema: { ...exportArgs, n: z.number().int().min(1).max(20).default(5) },
    outputSchema: z.object({ format: z.enum(["grpo", "sft"]), records: z.array(z.record(z.string(), z.string())), rows_read: z.number(), skipped: skippedShape, skip_examples: z.array(z.string()) }),
  },
  guarded(async (a: ExportArgs & { n: number }) => {
    const { format, mapping } = resolveMapping(a);
    const ins = await inspect(hub, a.dataset, a.config, a.split, 1);
    const { rows } = await readRows(hub, ins, a.start, a.n);
    const m = mapRows(format, mapping, rows, false, ins.classLabels);
    const lines = [`${m.records.length}/${rows.length} rows mapped as ${format}:`, ...m.records.map((r) => `  ${JSON.stringify(r)}`), ...(m.examplesOfSkips.length ? ["Skipped:", ...m.examplesOfSkips.map((x) => `  ${x}`)] : [])];
    return ok(lines.join("\n"), { format, records: m.records, rows_read: rows.length, skipped: m.skipped, skip_examples: m.examplesOfSkips });
  }),
);

const exportOutput = z.object({
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

server.registerTool(
  "export_dataset",
  {
    description:
      "Map rows of a dataset split to training records and write them as JSONL at output (relative to the run directory, e.g. \"data/gsm8k-train.jsonl\"; the tinker tools take the same path) " +
      "(GRPO: {prompt, ground_truth}; SFT: {prompt, response}), with a .meta.json provenance sidecar. Pass the returned path to the tinker tools.",
    inputSchema: {
      ...exportArgs,
      limit: z.number().int().min(1).max(MAX_EXPORT_ROWS).default(500),
      sample: z.object({ n: z.number().int().min(1), seed: z.number().int().default(0) }).optional(),
      dedupe: z.boolean().default(true),
      output: z.string().min(1),
      overwrite: z.boolean().default(false),
    },
    outputSchema: exportOutput,
  },
  guarded(async (a: ExportArgs & { limit: number; sample?: { n: number; seed: number }; dedupe: boolean; output: string; overwrite: boolean }) => {
    const { format, mapping, preset } = resolveMapping(a);
    const root = exportRoot(env);
    const file = resolveOutput(root, a.output, a.overwrite);
    const ins = await inspect(hub, a.dataset, a.config, a.split, 1);
    const { rows, truncated } = await readRows(hub, ins, a.start, a.limit);
    const m = mapRows(format, mapping, rows, a.dedupe, ins.classLabels);
    m.skipped.truncated_cells += truncated;
    let records = m.records;
    if (a.sample && a.sample.n < records.length) records = new Rng(a.sample.seed).shuffle([...records]).slice(0, a.sample.n);
    const warning = licenseWarning(ins.license) ?? null;
    const provenance = { dataset: ins.id, config: ins.config, split: ins.split, source: ins.source, license: ins.license, license_warning: warning, format, preset, mapping, start: a.start, limit: a.limit, sample: a.sample ?? null, dedupe: a.dedupe, rows_read: rows.length, skipped: m.skipped };
    const w = writeJsonl(root, file, records, provenance, a.overwrite);
    const skippedTotal = Object.values(m.skipped).reduce((x, y) => x + y, 0);
    const lines = [
      `Wrote ${records.length} ${format} records to ${file} (read ${rows.length} rows of ${ins.id} ${ins.config}/${ins.split}; skipped ${skippedTotal}).`,
      ...Object.entries(m.skipped).filter(([, n]) => n > 0).map(([k, n]) => `  skipped ${k}: ${n}`),
      ...m.examplesOfSkips.map((x) => `  e.g. ${x}`),
      ...(warning ? [`WARNING: ${warning}`] : []),
      ...(ins.source === "catalog" ? ["Note: offline catalog export — only the entry's hand-written sample rows."] : []),
      `Provenance: ${w.metaPath}`,
      ...records.slice(0, 2).map((r) => `  ${JSON.stringify(r).slice(0, 300)}`),
    ];
    return ok(lines.join("\n"), { path: file, format, rows_written: records.length, rows_read: rows.length, skipped: m.skipped, skip_examples: m.examplesOfSkips, sha256: w.sha256, meta_path: w.metaPath, preview: records.slice(0, 2), license: ins.license, license_warning: warning });
  }),
);

// ---------------------------------------------------------------- generators + catalog

server.registerTool(
  "generate_synthetic",
  {
    description:
      `Generate a seeded task dataset offline and write it as JSONL: ${TASKS.join(", ")}. ` +
      "Train and eval splits never share a prompt. GRPO records carry a checkable ground_truth; SFT records a worked response. " +
      "output is relative to the run directory (e.g. \"data/pool.jsonl\"); the tinker tools take the same path.",
    inputSchema: {
      task: z.enum(TASKS),
      n: z.number().int().min(1).max(20_000),
      seed: z.number().int().default(0),
      difficulty: z.union([z.literal("mixed"), z.number().int().min(1).max(4)]).default("mixed"),
      format: z.enum(["grpo", "sft"]).default("grpo"),
      split: z.enum(["train", "eval"]).default("train"),
      output: z.string().min(1),
      overwrite: z.boolean().default(false),
    },
    outputSchema: z.object({ path: z.string(), task: z.string(), format: z.enum(["grpo", "sft"]), split: z.string(), rows_written: z.number(), requested: z.number(), exhausted: z.boolean(), sha256: z.string(), meta_path: z.string(), preview: z.array(z.record(z.string(), z.string())) }),
  },
  guarded(async (a: { task: (typeof TASKS)[number]; n: number; seed: number; difficulty: "mixed" | number; format: Format; split: "train" | "eval"; output: string; overwrite: boolean }) => {
    const root = exportRoot(env);
    const file = resolveOutput(root, a.output, a.overwrite);
    const { items, exhausted } = generate(a.task, { n: a.n, seed: a.seed, difficulty: a.difficulty as Difficulty, split: a.split });
    const records = items.map((it): Record<string, string> => (a.format === "grpo" ? { prompt: it.prompt, ground_truth: it.ground_truth } : { prompt: it.prompt, response: it.response }));
    const w = writeJsonl(root, file, records, { generator: a.task, seed: a.seed, difficulty: a.difficulty, split: a.split, format: a.format, license: "generated" }, a.overwrite);
    const lines = [
      `Wrote ${records.length} ${a.task} ${a.format} records (${a.split} split, seed ${a.seed}, difficulty ${a.difficulty}) to ${file}.`,
      ...(exhausted ? [`Only ${records.length} distinct items exist at this difficulty and split; asked for ${a.n}.`] : []),
      ...records.slice(0, 3).map((r) => `  ${JSON.stringify(r)}`),
    ];
    return ok(lines.join("\n"), { path: file, task: a.task, format: a.format, split: a.split, rows_written: records.length, requested: a.n, exhausted, sha256: w.sha256, meta_path: w.metaPath, preview: records.slice(0, 3) });
  }),
);

server.registerTool(
  "list_catalog",
  {
    description: "The built-in catalog: common datasets with licenses and ready-made mapping presets (usable offline), and the synthetic generators.",
    inputSchema: {},
    outputSchema: z.object({
      datasets: z.array(z.object({ id: z.string(), license: z.string(), commercial_use: z.boolean(), description: z.string(), presets: z.array(z.object({ name: z.string(), format: z.string(), note: z.string().nullable() })) })),
      generators: z.array(z.object({ task: z.string(), description: z.string(), ground_truth: z.string(), levels: z.string() })),
      offline: z.boolean(),
    }),
  },
  guarded(async () => {
    const datasets = CATALOG.map((d) => ({ id: d.id, license: d.license, commercial_use: d.commercialUse, description: d.description, presets: d.presets.map((p) => ({ name: p.name, format: p.format, note: p.note ?? null })) }));
    const generators = generatorEntries().map((g) => ({ task: g.task, description: g.description, ground_truth: g.groundTruth, levels: g.levels }));
    const lines = [
      "Datasets (presets work with export_dataset {preset: ...}):",
      ...datasets.map((d) => `- ${d.id} · ${d.license}${d.commercial_use ? "" : " (non-commercial or undeclared)"} · presets: ${d.presets.map((p) => p.name).join(", ")}\n  ${d.description}`),
      "Generators (generate_synthetic, offline):",
      ...generators.map((g) => `- ${g.task}: ${g.description}. Ground truth: ${g.ground_truth}. Levels: ${g.levels}`),
    ];
    return ok(lines.join("\n"), { datasets, generators, offline: hub.config.offline });
  }),
);

await server.connect(new StdioServerTransport());
process.stderr.write(`hf-datasets server ready (${hub.config.offline ? "offline: catalog only" : `hub ${hub.config.endpoint}`}; exports under ${exportRoot(env)})\n`);

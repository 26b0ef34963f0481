import { z } from "zod";
import { findCatalogDataset, licenseWarning, searchCatalog } from "../catalog.ts";
import { HfError } from "../../../lib/hub-client.ts";
import { inspect, licenseOf, truncateCells } from "../inspection.ts";
import { suggestMapping } from "../suggest.ts";
import { asToolHandler, ok } from "../tool-context.ts";
import type { HfToolContext } from "../tool-context.ts";
import { type datasetHitShape, inspectResult, searchResult } from "../../contracts/hf-datasets-results.ts";

/** search_datasets and inspect_dataset: finding data and looking inside it. */
export function registerSearchTools(ctx: HfToolContext): void {
  ctx.server.registerTool(
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
      outputSchema: searchResult,
    },
    asToolHandler(
      async (a: { query: string; task_type?: string; language?: string; size_category?: string; license?: string; sort: string; max_results: number }) => {
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
        let hubResults: z.infer<typeof datasetHitShape>[] = [];
        let relaxedQuery: string | null = null;
        let note: string | null = null;
        let hubSearched = false;
        try {
          let found = await ctx.hub.searchDatasets({ search: a.query.trim(), filters, sort: a.sort, limit: a.max_results });
          hubSearched = true;
          const words = a.query.trim().split(/\s+/);
          if (found.length === 0 && words.length > 1) {
            for (const w of [...words].sort((x, y) => y.length - x.length)) {
              found = await ctx.hub.searchDatasets({ search: w, filters, sort: a.sort, limit: a.max_results });
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
          results.length === 0
            ? "Nothing found. Try one distinctive word of the dataset's name (the Hub matches owner/name substrings), or generate_synthetic."
            : "",
        ].filter(Boolean);
        return ok(lines.join("\n"), { query: a.query, relaxed: relaxedQuery !== null, relaxed_query: relaxedQuery, hub_searched: hubSearched, note, results });
      },
    ),
  );

  ctx.server.registerTool(
    "inspect_dataset",
    {
      description:
        "Look inside a dataset: configs, splits with row counts, features, license and gated status, a few rows, and a suggested mapping for export_dataset.",
      inputSchema: {
        dataset: z.string().min(1),
        config: z.string().optional(),
        split: z.string().optional(),
        sample_rows: z.number().int().min(0).max(20).default(3),
      },
      outputSchema: inspectResult,
    },
    asToolHandler(async (a: { dataset: string; config?: string; split?: string; sample_rows: number }) => {
      const ins = await inspect(ctx.hub, a.dataset, a.config, a.split, a.sample_rows);
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
        suggested
          ? `Suggested ${suggested.format} mapping (${suggested.reason}): ${JSON.stringify(suggested.mapping)}${suggested.preset ? ` — or preset "${suggested.preset}"` : ""}`
          : "No mapping suggestion: write one with {field} placeholders.",
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
}

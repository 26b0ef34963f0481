import { CATALOG, findCatalogDataset } from "./catalog.ts";
import type { CatalogDataset } from "./catalog.ts";
import { HfError } from "../../lib/hub-client.ts";
import type { HubClient, ViewerFeature } from "../../lib/hub-client.ts";
import { compactType } from "./suggest.ts";

const CELL_CHARS = 300;

/** A user-input problem with a code and a hint, shown as an isError result. */
export class InputProblem extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** Long cells shortened, marked with how much was cut. */
export function truncateCells(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    const s = typeof v === "string" ? v : JSON.stringify(v);
    out[k] = s && s.length > CELL_CHARS ? `${s.slice(0, CELL_CHARS)}…[+${s.length - CELL_CHARS} chars]` : v;
  }
  return out;
}

export function licenseOf(tags: string[], card?: Record<string, unknown>): string {
  const fromCard = card?.license;
  if (typeof fromCard === "string") return fromCard;
  if (Array.isArray(fromCard) && typeof fromCard[0] === "string") return fromCard[0];
  return tags.find((t) => t.startsWith("license:"))?.slice("license:".length) ?? "unknown";
}

/** What inspect_dataset learns about a dataset, from the Hub or from the catalog. */
export type Inspection = {
  id: string;
  source: "hub" | "catalog";
  license: string;
  gated: boolean | string;
  configs: Array<{ config: string; splits: Array<{ split: string; num_rows: number | null }> }>;
  config: string;
  split: string;
  features: Array<{ name: string; type: string }>;
  rows: Array<Record<string, unknown>>;
  classLabels: Record<string, string[]>;
  note: string | null;
};

export function pickConfigSplit(configs: Inspection["configs"], config?: string, split?: string): { config: string; split: string } {
  const c = config ? configs.find((x) => x.config === config) : (configs.find((x) => x.config === "default" || x.config === "main") ?? configs[0]);
  if (!c) throw new InputProblem("bad_request", `Config ${JSON.stringify(config)} does not exist.`, `Configs: ${configs.map((x) => x.config).join(", ")}.`);
  const s = split ? c.splits.find((x) => x.split === split) : (c.splits.find((x) => x.split === "train") ?? c.splits[0]);
  if (!s)
    throw new InputProblem(
      "bad_request",
      `Split ${JSON.stringify(split)} does not exist in config ${c.config}.`,
      `Splits: ${c.splits.map((x) => x.split).join(", ")}.`,
    );
  return { config: c.config, split: s.split };
}

export function fromCatalog(d: CatalogDataset, config?: string, split?: string, note: string | null = null): Inspection {
  const configs = Object.entries(d.configs).map(([c, splits]) => ({ config: c, splits: Object.entries(splits).map(([s, n]) => ({ split: s, num_rows: n })) }));
  const chosen = pickConfigSplit(configs, config, split);
  return {
    id: d.id,
    source: "catalog",
    license: d.license,
    gated: false,
    configs,
    ...chosen,
    features: Object.entries(d.features).map(([name, type]) => ({ name, type })),
    rows: d.sampleRows,
    classLabels: {},
    note: note ?? "Offline catalog entry: the sample rows are hand-written in the dataset's shape; exports from the catalog contain only these rows.",
  };
}

export async function inspect(hub: HubClient, dataset: string, config: string | undefined, split: string | undefined, sampleRows: number): Promise<Inspection> {
  const cat = findCatalogDataset(dataset);
  if (hub.config.offline) {
    if (cat) return fromCatalog(cat, config, split);
    throw new HfError(
      "offline",
      `HF_HUB_OFFLINE is set and ${dataset} is not in the built-in catalog.`,
      `Catalog datasets: ${CATALOG.map((d) => d.id).join(", ")}; or use generate_synthetic.`,
    );
  }
  let info: Awaited<ReturnType<typeof hub.datasetInfo>>;
  try {
    info = await hub.datasetInfo(dataset);
  } catch (err) {
    if (err instanceof HfError && err.code === "offline" && cat)
      return fromCatalog(cat, config, split, `${err.message} Using the built-in catalog entry instead.`);
    throw err;
  }
  const valid = await hub.isValid(info.id);
  if (!valid.viewer && !valid.preview) {
    throw new HfError(
      "unsupported",
      `${info.id} has no Dataset Viewer rows (viewer disabled, gated without access, or no supported files).`,
      info.gated ? "The dataset is gated: accept its terms on the Hub and set HF_TOKEN." : "Pick another dataset.",
    );
  }
  const sizes = await hub.size(info.id).catch(() => [] as Array<{ config: string; split: string; num_rows: number }>);
  const splits = sizes.length ? sizes : (await hub.splits(info.id)).map((s) => ({ ...s, num_rows: null as number | null }));
  const configs: Inspection["configs"] = [];
  for (const s of splits) {
    let c = configs.find((x) => x.config === s.config);
    if (!c) {
      c = { config: s.config, splits: [] };
      configs.push(c);
    }
    c.splits.push({ split: s.split, num_rows: s.num_rows });
  }
  const chosen = pickConfigSplit(configs, config, split);
  const page = valid.viewer
    ? await hub.rows(info.id, chosen.config, chosen.split, 0, Math.max(1, sampleRows))
    : await hub.firstRows(info.id, chosen.config, chosen.split);
  return {
    id: info.id,
    source: "hub",
    license: licenseOf(info.tags, info.cardData),
    gated: info.gated,
    configs,
    ...chosen,
    features: page.features.map((f) => ({ name: f.name, type: compactType(f.type) })),
    rows: page.rows.map((r) => r.row),
    classLabels: classLabelsOf(page.features),
    note: valid.viewer ? null : "Only the first rows are available (no random access): exports are limited to them.",
  };
}

export function classLabelsOf(features: ViewerFeature[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of features) if (f.type._type === "ClassLabel" && Array.isArray(f.type.names)) out[f.name] = f.type.names as string[];
  return out;
}

/**
 * A small client for the Hugging Face Hub API and the Dataset Viewer API over plain
 * fetch, with configurable endpoints (so tests can point it at a loopback fake),
 * 429 handling that honours the server's wait, and errors mapped to codes and hints.
 */

export type HfErrorCode =
  | "gated_or_missing"
  | "unauthorized"
  | "bad_request"
  | "not_ready_retry_later"
  | "unsupported"
  | "rate_limited"
  | "offline"
  | "http_error";

export class HfError extends Error {
  constructor(
    readonly code: HfErrorCode,
    message: string,
    readonly hint: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "HfError";
  }
}

export type HubConfig = {
  endpoint: string;
  viewerEndpoint: string;
  token?: string;
  offline: boolean;
  /** Longest wait honoured on a 429 before giving up, in ms. */
  maxRateLimitWaitMs: number;
  timeoutMs: number;
};

export function hubConfigFromEnv(env: Record<string, string | undefined>): HubConfig {
  return {
    endpoint: (env.HF_ENDPOINT ?? "https://huggingface.co").replace(/\/+$/, ""),
    viewerEndpoint: (env.HF_DATASETS_SERVER_ENDPOINT ?? "https://datasets-server.huggingface.co").replace(/\/+$/, ""),
    ...(env.HF_TOKEN ? { token: env.HF_TOKEN } : {}),
    offline: env.HF_HUB_OFFLINE === "1" || env.HF_HUB_OFFLINE === "true",
    maxRateLimitWaitMs: Number(env.HF_MAX_RATE_LIMIT_WAIT_MS ?? 30_000),
    timeoutMs: Number(env.HF_API_TIMEOUT ?? 15_000),
  };
}

/** One Hub search result, reduced to what the tools show. */
export type HubDataset = {
  id: string;
  downloads: number;
  likes: number;
  gated: boolean | string;
  tags: string[];
  description?: string;
  lastModified?: string;
  cardData?: Record<string, unknown>;
};

export type ViewerRow = { row_idx: number; row: Record<string, unknown>; truncated_cells?: string[] };
export type ViewerFeature = { feature_idx?: number; name: string; type: Record<string, unknown> };

/** Seconds to wait, from `RateLimit: "api";r=0;t=N` or `Retry-After`. */
export function retryAfterSeconds(headers: Headers): number | undefined {
  const rl = headers.get("ratelimit");
  const m = rl ? /t=(\d+)/.exec(rl) : null;
  if (m) return Number(m[1]);
  const ra = headers.get("retry-after");
  if (ra && /^\d+(\.\d+)?$/.test(ra)) return Number(ra);
  return undefined;
}

export class HubClient {
  constructor(
    readonly config: HubConfig,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  private async get(base: string, path: string, params: Array<[string, string]> = []): Promise<{ json: unknown; headers: Headers }> {
    if (this.config.offline)
      throw new HfError("offline", "HF_HUB_OFFLINE is set: the Hub is not contacted.", "Use list_catalog / generate_synthetic, or unset HF_HUB_OFFLINE.");
    const url = new URL(base + path);
    for (const [k, v] of params) url.searchParams.append(k, v);
    const headers: Record<string, string> = { accept: "application/json", "user-agent": "tinkerloop-hf-datasets/0.1" };
    if (this.config.token) headers.authorization = `Bearer ${this.config.token}`;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(url, { headers, signal: AbortSignal.timeout(this.config.timeoutMs) });
      } catch (err) {
        throw new HfError(
          "offline",
          `Could not reach ${url.host} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}).`,
          "Working offline: the built-in catalog and generators still work (list_catalog, generate_synthetic).",
        );
      }
      if (res.ok) return { json: await res.json(), headers: res.headers };
      const body = (await res.json().catch(() => ({}))) as { error?: string };
      const message = typeof body.error === "string" ? body.error : res.statusText;
      if (res.status === 429) {
        const wait = retryAfterSeconds(res.headers) ?? 2 ** attempt;
        if (attempt < 3 && wait * 1000 <= this.config.maxRateLimitWaitMs) {
          this.log(`rate limited by ${url.host}; waiting ${wait}s as asked`);
          await new Promise((r) => setTimeout(r, wait * 1000));
          continue;
        }
        throw new HfError("rate_limited", `Rate limited by ${url.host} (HTTP 429).`, `Wait ${wait}s and retry; set HF_TOKEN for a higher limit.`, 429);
      }
      throw mapStatus(res.status, message, res.headers.get("x-error-code") ?? undefined);
    }
  }

  async searchDatasets(q: { search?: string; filters: string[]; sort: string; limit: number }): Promise<HubDataset[]> {
    const params: Array<[string, string]> = [];
    if (q.search) params.push(["search", q.search]);
    for (const f of q.filters) params.push(["filter", f]);
    params.push(["sort", q.sort], ["direction", "-1"], ["limit", String(q.limit)], ["full", "true"]);
    const { json } = await this.get(this.config.endpoint, "/api/datasets", params);
    if (!Array.isArray(json)) throw new HfError("http_error", "The Hub answered the search with something that is not a list.", "Retry later.");
    return json.map((d: Record<string, unknown>) => toHubDataset(d, String(d.name ?? "")));
  }

  async datasetInfo(id: string): Promise<HubDataset> {
    const { json } = await this.get(this.config.endpoint, `/api/datasets/${encodeRepo(id)}`, [["full", "true"]]);
    return toHubDataset(json as Record<string, unknown>, id);
  }

  async isValid(id: string): Promise<{ viewer: boolean; preview: boolean; search: boolean; filter: boolean }> {
    const { json } = await this.get(this.config.viewerEndpoint, "/is-valid", [["dataset", id]]);
    const j = json as Record<string, boolean>;
    return { viewer: !!j.viewer, preview: !!j.preview, search: !!j.search, filter: !!j.filter };
  }

  async splits(id: string): Promise<Array<{ config: string; split: string }>> {
    const { json } = await this.get(this.config.viewerEndpoint, "/splits", [["dataset", id]]);
    return ((json as { splits?: Array<{ config: string; split: string }> }).splits ?? []).map((s) => ({ config: s.config, split: s.split }));
  }

  async size(id: string): Promise<Array<{ config: string; split: string; num_rows: number }>> {
    const { json } = await this.get(this.config.viewerEndpoint, "/size", [["dataset", id]]);
    return ((json as { size?: { splits?: Array<{ config: string; split: string; num_rows: number }> } }).size?.splits ?? []).map((s) => ({
      config: s.config,
      split: s.split,
      num_rows: s.num_rows,
    }));
  }

  async rows(
    id: string,
    config: string,
    split: string,
    offset: number,
    length: number,
  ): Promise<{ features: ViewerFeature[]; rows: ViewerRow[]; numRowsTotal: number }> {
    const { json } = await this.get(this.config.viewerEndpoint, "/rows", [
      ["dataset", id],
      ["config", config],
      ["split", split],
      ["offset", String(offset)],
      ["length", String(Math.min(100, length))],
    ]);
    const j = json as { features?: ViewerFeature[]; rows?: ViewerRow[]; num_rows_total?: number };
    return { features: j.features ?? [], rows: j.rows ?? [], numRowsTotal: j.num_rows_total ?? 0 };
  }

  async firstRows(id: string, config: string, split: string): Promise<{ features: ViewerFeature[]; rows: ViewerRow[] }> {
    const { json } = await this.get(this.config.viewerEndpoint, "/first-rows", [
      ["dataset", id],
      ["config", config],
      ["split", split],
    ]);
    const j = json as { features?: ViewerFeature[]; rows?: ViewerRow[] };
    return { features: j.features ?? [], rows: j.rows ?? [] };
  }
}

function encodeRepo(id: string): string {
  return id.split("/").map(encodeURIComponent).join("/");
}

function mapStatus(status: number, message: string, errorCode: string | undefined): HfError {
  if (status === 401 || (status === 404 && /not accessible without authentication|does not exist/i.test(message))) {
    return new HfError(
      "gated_or_missing",
      `The dataset does not exist, or needs authentication (gated or private) (HTTP ${status}).`,
      "Check the spelling (owner/name). For a gated dataset, accept its terms on the Hub and set HF_TOKEN.",
      status,
    );
  }
  if (status === 403)
    return new HfError("unauthorized", `Access refused (HTTP 403): ${message}`, "The token lacks access to this dataset; request access on the Hub.", status);
  if (status === 404)
    return new HfError("gated_or_missing", `Not found (HTTP 404): ${message}`, "Check the config and split names with inspect_dataset.", status);
  if (status === 422 || status === 400)
    return new HfError("bad_request", `The request was refused (HTTP ${status}): ${message}`, "Check the parameters (config, split, offset).", status);
  if (status === 501)
    return new HfError(
      "unsupported",
      `The Dataset Viewer does not support this dataset (HTTP 501${errorCode ? `, ${errorCode}` : ""}): ${message}`,
      "Pick another dataset, or use a preset / generator.",
      status,
    );
  if (status >= 500) {
    const notReady = errorCode === "ResponseNotReady" || /not ready|processing/i.test(message);
    return notReady
      ? new HfError(
          "not_ready_retry_later",
          `The Dataset Viewer is still processing this dataset (HTTP ${status}).`,
          "Retry in a few minutes, or use another dataset.",
          status,
        )
      : new HfError("http_error", `The server failed (HTTP ${status}): ${message}`, "Retry later.", status);
  }
  return new HfError("http_error", `Unexpected HTTP ${status}: ${message}`, "Retry later.", status);
}

/** A dataset entry of the Hub API (search list or info), with absent fields defaulted; `id` when the entry names none. */
function toHubDataset(d: Record<string, unknown>, id: string): HubDataset {
  return {
    id: String(d.id ?? id),
    downloads: Number(d.downloads ?? 0),
    likes: Number(d.likes ?? 0),
    gated: (d.gated as boolean | string) ?? false,
    tags: Array.isArray(d.tags) ? (d.tags as string[]) : [],
    ...(typeof d.description === "string" ? { description: d.description } : {}),
    ...(typeof d.lastModified === "string" ? { lastModified: d.lastModified } : {}),
    ...(d.cardData && typeof d.cardData === "object" ? { cardData: d.cardData as Record<string, unknown> } : {}),
  };
}

import type http from "node:http";
import { listenOnLoopback, type LoopbackServer } from "./loopback.ts";

/**
 * A loopback stand-in for the Hugging Face Hub API (/api/datasets…) and the Dataset
 * Viewer API (/is-valid, /splits, /size, /rows, /first-rows), shaped like their
 * documented responses, with error injection by dataset id:
 *   errors/unauthorized → 401 · errors/gated → 404 (gated message) · errors/bad → 422
 *   errors/ratelimited → 429 with a RateLimit header, then success · errors/notready → 500
 *   errors/blocked → 501
 */

type FakeDataset = {
  id: string;
  tags: string[];
  downloads: number;
  gated: boolean | string;
  description: string;
  features: Array<{ name: string; type: Record<string, unknown> }>;
  splits: Record<string, Record<string, Array<Record<string, unknown>>>>;
};

const GATED_MSG =
  "The dataset does not exist, or is not accessible without authentication (private or gated). Please check the spelling of the dataset name or retry with authentication.";

/** 250 GSM8K-shaped rows: a few lack the "####" marker, one repeats a question. */
function gsm8kRows(n: number): Array<Record<string, unknown>> {
  const rows = [];
  for (let i = 0; i < n; i++) {
    const a = 1000 + i * 37;
    const b = 3 + (i % 9);
    const total = a * b;
    const answer = i % 50 === 7 ? `The total is ${total}.` : `${a} * ${b} = <<${a}*${b}=${total}>>${total}\n#### ${total.toLocaleString("en-US")}`;
    rows.push({
      question: i === 11 ? "A shop sells 1037 pens per day for 4 days. How many pens?" : `A shop sells ${a} pens per day for ${b} days. How many pens?`,
      answer,
    });
  }
  return rows;
}

export const FAKE_DATASETS: FakeDataset[] = [
  {
    id: "openai/gsm8k",
    tags: ["task_categories:text2text-generation", "language:en", "license:mit", "size_categories:1K<n<10K"],
    downloads: 500000,
    gated: false,
    description: "Grade school math word problems.",
    features: [
      { name: "question", type: { dtype: "string", _type: "Value" } },
      { name: "answer", type: { dtype: "string", _type: "Value" } },
    ],
    splits: { main: { train: gsm8kRows(250), test: gsm8kRows(20) } },
  },
  {
    id: "someone/math-word-problems",
    tags: ["task_categories:text2text-generation", "language:en", "license:cc-by-nc-4.0"],
    downloads: 1200,
    gated: false,
    description: "Word problems (non-commercial).",
    features: [
      { name: "problem", type: { dtype: "string", _type: "Value" } },
      { name: "label", type: { names: ["easy", "hard"], _type: "ClassLabel" } },
    ],
    splits: {
      default: {
        train: [
          { problem: "2+2?", label: 0 },
          { problem: "17*23?", label: 1 },
        ],
      },
    },
  },
  {
    id: "someone/french-chat",
    tags: ["task_categories:text-generation", "language:fr", "license:apache-2.0"],
    downloads: 300,
    gated: "manual",
    description: "Chat in French.",
    features: [
      { name: "messages", type: { feature: { role: { dtype: "string", _type: "Value" }, content: { dtype: "string", _type: "Value" } }, _type: "List" } },
    ],
    splits: {
      default: {
        train: [
          {
            messages: [
              { role: "user", content: "Bonjour" },
              { role: "assistant", content: "Salut !" },
            ],
          },
        ],
      },
    },
  },
];

export class FakeHfHub {
  readonly requests: Array<{ path: string; params: URLSearchParams; auth: string | undefined }> = [];
  private rateLimitedHits = 0;

  private constructor(private readonly server: LoopbackServer) {}

  static async start(): Promise<FakeHfHub> {
    let fake!: FakeHfHub;
    const server = await listenOnLoopback((req, res) => fake.handle(req, res));
    fake = new FakeHfHub(server);
    return fake;
  }

  get url(): string {
    return this.server.origin;
  }

  close(): Promise<void> {
    return this.server.close();
  }

  private send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  }

  /** Injected failures; undefined when the dataset is a normal one. */
  private injected(id: string, res: http.ServerResponse): boolean {
    switch (id) {
      case "errors/unauthorized":
        this.send(res, 401, { error: GATED_MSG }, { "x-error-code": "ExternalUnauthenticatedError" });
        return true;
      case "errors/gated":
        this.send(res, 404, { error: GATED_MSG }, { "x-error-code": "ExternalAuthenticatedError" });
        return true;
      case "errors/bad":
        this.send(res, 422, { error: "Parameter 'length' must not be greater than 100" }, { "x-error-code": "MissingRequiredParameter" });
        return true;
      case "errors/ratelimited":
        if (this.rateLimitedHits++ % 2 === 0) {
          this.send(res, 429, { error: "too many requests" }, { ratelimit: '"api";r=0;t=1', "ratelimit-policy": '"fixed window";"api";q=500;w=300' });
          return true;
        }
        return false;
      case "errors/ratelimited-long":
        this.send(res, 429, { error: "too many requests" }, { ratelimit: '"api";r=0;t=3600' });
        return true;
      case "errors/notready":
        this.send(
          res,
          500,
          { error: "The server is busier than usual and the response is not ready yet. Please retry later." },
          { "x-error-code": "ResponseNotReady" },
        );
        return true;
      case "errors/blocked":
        this.send(res, 501, { error: "This dataset has been disabled." }, { "x-error-code": "DatasetInBlockListError" });
        return true;
      default:
        return false;
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", this.url);
    this.requests.push({ path: url.pathname, params: url.searchParams, auth: req.headers.authorization });
    const p = url.searchParams;
    if (url.pathname === "/api/datasets") {
      const search = (p.get("search") ?? "").toLowerCase();
      const filters = p.getAll("filter");
      const limit = Number(p.get("limit") ?? 100);
      const hits = FAKE_DATASETS.filter((d) => d.id.toLowerCase().includes(search) && filters.every((f) => d.tags.includes(f)))
        .sort((a, b) => b.downloads - a.downloads)
        .slice(0, limit)
        .map((d) => ({
          _id: `mongo_${d.id}`,
          id: d.id,
          author: d.id.split("/")[0],
          downloads: d.downloads,
          likes: 10,
          gated: d.gated,
          private: false,
          tags: d.tags,
          description: d.description,
          lastModified: "2026-01-01T00:00:00.000Z",
          cardData: { license: d.tags.find((t) => t.startsWith("license:"))?.slice(8) },
        }));
      return this.send(res, 200, hits);
    }
    if (url.pathname.startsWith("/api/datasets/")) {
      const id = decodeURIComponent(url.pathname.slice("/api/datasets/".length).replace(/\/revision\/.*$/, ""));
      if (this.injected(id, res)) return;
      const d =
        FAKE_DATASETS.find((x) => x.id === id) ?? (id.startsWith("errors/") ? { id, tags: [], downloads: 0, gated: false, description: "" } : undefined);
      if (!d) return this.send(res, 404, { error: "Repository not found" });
      return this.send(res, 200, {
        _id: `mongo_${d.id}`,
        id: d.id,
        downloads: d.downloads,
        likes: 1,
        gated: d.gated,
        tags: d.tags,
        description: d.description,
        cardData: { license: d.tags.find((t) => t.startsWith("license:"))?.slice(8) },
      });
    }
    const id = p.get("dataset") ?? "";
    if (this.injected(id, res)) return;
    const d = FAKE_DATASETS.find((x) => x.id === id);
    if (!d) return this.send(res, 404, { error: GATED_MSG });
    if (url.pathname === "/is-valid") return this.send(res, 200, { preview: true, viewer: true, search: true, filter: true, statistics: true });
    if (url.pathname === "/splits")
      return this.send(res, 200, {
        splits: Object.entries(d.splits).flatMap(([config, s]) => Object.keys(s).map((split) => ({ dataset: id, config, split }))),
        pending: [],
        failed: [],
      });
    if (url.pathname === "/size") {
      return this.send(res, 200, {
        size: {
          dataset: { dataset: id },
          configs: [],
          splits: Object.entries(d.splits).flatMap(([config, s]) =>
            Object.entries(s).map(([split, rows]) => ({ dataset: id, config, split, num_rows: rows.length, num_columns: d.features.length })),
          ),
        },
        pending: [],
        failed: [],
        partial: false,
      });
    }
    const config = p.get("config") ?? "";
    const split = p.get("split") ?? "";
    const rows = d.splits[config]?.[split];
    if (!rows) return this.send(res, 404, { error: "Not found." }, { "x-error-code": "ResponseNotFound" });
    const features = d.features.map((f, i) => ({ feature_idx: i, name: f.name, type: f.type }));
    if (url.pathname === "/first-rows")
      return this.send(res, 200, {
        dataset: id,
        config,
        split,
        features,
        rows: rows.slice(0, 100).map((row, i) => ({ row_idx: i, row, truncated_cells: [] })),
        truncated: false,
      });
    if (url.pathname === "/rows") {
      const offset = Number(p.get("offset") ?? 0);
      const length = Number(p.get("length") ?? 100);
      if (length > 100) return this.send(res, 422, { error: "Parameter 'length' must not be greater than 100" }, { "x-error-code": "InvalidParameter" });
      return this.send(res, 200, {
        features,
        rows: rows.slice(offset, offset + length).map((row, i) => ({ row_idx: offset + i, row, truncated_cells: [] })),
        num_rows_total: rows.length,
        num_rows_per_page: 100,
        partial: false,
      });
    }
    return this.send(res, 404, { error: "Not found." });
  }
}

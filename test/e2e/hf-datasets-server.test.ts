import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeHfHub } from "../fakes/hf-hub-server.ts";
import { connectBundled, REPO, tempDir } from "../helpers.ts";

const TOKEN = "hf_testTokenValue12345";
let hub: FakeHfHub;
let s: Awaited<ReturnType<typeof connectBundled>>;
let exportsDir: string;

beforeAll(async () => {
  hub = await FakeHfHub.start();
  exportsDir = tempDir("tl-hf-exports-");
  s = await connectBundled("hf-datasets", {
    HF_ENDPOINT: hub.url,
    HF_DATASETS_SERVER_ENDPOINT: hub.url,
    HF_TOKEN: TOKEN,
    HF_DATASETS_EXPORT_DIR: exportsDir,
    HF_MAX_RATE_LIMIT_WAIT_MS: "2000",
  });
});
afterAll(async () => {
  await s?.close();
  await hub?.close();
});

const readJsonl = (f: string) =>
  fs
    .readFileSync(f, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));

describe("hf-datasets server against a loopback Hub", () => {
  it("searches with filters, lists catalog matches first, and sends the token", async () => {
    const r = await s.call("search_datasets", { query: "gsm8k", language: "en", license: "mit" });
    expect(r.isError).toBe(false);
    expect(r.structured.results[0]).toMatchObject({ id: "openai/gsm8k", source: "catalog" });
    expect(r.structured.results.filter((x: any) => x.source === "hub").map((x: any) => x.id)).toEqual([]);
    const req = hub.requests.filter((q) => q.path === "/api/datasets").at(-1)!;
    expect(req.params.getAll("filter")).toEqual(["language:en", "license:mit"]);
    expect(req.params.get("direction")).toBe("-1");
    expect(req.auth).toBe(`Bearer ${TOKEN}`);
    expect(r.text).not.toContain(TOKEN);

    const fr = await s.call("search_datasets", { query: "chat", language: "fr" });
    expect(fr.structured.results.filter((x: any) => x.source === "hub").map((x: any) => x.id)).toEqual(["someone/french-chat"]);
  });

  it("retries a multi-word query word by word and says so", async () => {
    const r = await s.call("search_datasets", { query: "word problems math" });
    expect(r.structured.relaxed).toBe(true);
    expect(r.structured.relaxed_query).toBe("problems");
    expect(r.structured.results.map((x: any) => x.id)).toContain("someone/math-word-problems");
    expect(r.text).toMatch(/nothing matched the whole query/);
  });

  it("inspects a dataset: splits with row counts, features, license, rows and a suggested mapping", async () => {
    const r = await s.call("inspect_dataset", { dataset: "openai/gsm8k", sample_rows: 2 });
    expect(r.isError, r.text).toBe(false);
    expect(r.structured).toMatchObject({ id: "openai/gsm8k", source: "hub", license: "mit", config: "main", split: "train" });
    expect(r.structured.configs[0].splits).toEqual([
      { split: "train", num_rows: 250 },
      { split: "test", num_rows: 20 },
    ]);
    expect(r.structured.features).toEqual([
      { name: "question", type: "string" },
      { name: "answer", type: "string" },
    ]);
    expect(r.structured.samples).toHaveLength(2);
    expect(r.structured.suggested.preset).toBe("gsm8k-grpo");
    const nc = await s.call("inspect_dataset", { dataset: "someone/math-word-problems" });
    expect(nc.structured.license_warning).toMatch(/forbids commercial use/);
    expect(nc.structured.features[1].type).toBe("class_label[easy,hard]");
  });

  it("exports a GSM8K-shaped split with regex answers, skip counts, paging past 100 rows and a provenance sidecar", async () => {
    const before = hub.requests.filter((q) => q.path === "/rows").length;
    const GSM8K_MAPPING = {
      prompt: "{question}",
      ground_truth: "{answer}",
      ground_truth_regex: "####\\s*(-?[0-9.,]+)",
      ground_truth_transforms: ["remove_commas"],
    };
    const r = await s.call("export_dataset", {
      dataset: "openai/gsm8k",
      split: "train",
      format: "grpo",
      mapping: GSM8K_MAPPING,
      limit: 250,
      output: "gsm8k/train.jsonl",
    });
    expect(r.isError, r.text).toBe(false);
    const pages = hub.requests.filter((q) => q.path === "/rows").slice(before);
    // One probe row for the features, then the export pages, 100 rows at most each.
    expect(pages.map((q) => [q.params.get("offset"), q.params.get("length")])).toEqual([
      ["0", "1"],
      ["0", "100"],
      ["100", "100"],
      ["200", "50"],
    ]);
    expect(r.structured.rows_read).toBe(250);
    expect(r.structured.skipped.regex_no_match).toBe(5);
    expect(r.structured.skipped.duplicate).toBe(1);
    expect(r.structured.rows_written).toBe(244);
    const file = r.structured.path;
    expect(file).toBe(path.join(fs.realpathSync(exportsDir), "gsm8k", "train.jsonl"));
    const rows = readJsonl(file);
    expect(rows).toHaveLength(244);
    expect(rows[0]).toEqual({ prompt: "A shop sells 1000 pens per day for 3 days. How many pens?", ground_truth: "3000" });
    for (const row of rows) expect(row.ground_truth).toMatch(/^\d+$/);
    const meta = JSON.parse(fs.readFileSync(`${file}.meta.json`, "utf8"));
    expect(meta).toMatchObject({ dataset: "openai/gsm8k", config: "main", split: "train", license: "mit", rows: 244 });
    expect(meta.mapping).toMatchObject(GSM8K_MAPPING);

    const again = await s.call("export_dataset", { dataset: "openai/gsm8k", preset: "gsm8k-sft", limit: 5, output: "gsm8k/train.jsonl" });
    expect(again.isError).toBe(true);
    expect(again.text).toMatch(/already exists.*overwrite/);
    const sft = await s.call("export_dataset", { dataset: "openai/gsm8k", preset: "gsm8k-sft", limit: 5, output: "gsm8k/train.jsonl", overwrite: true });
    expect(readJsonl(sft.structured.path)[0].response).not.toContain("<<");
  });

  it("maps every injected Hub error to a code and a hint", async () => {
    const cases: Array<[string, string]> = [
      ["errors/unauthorized", "gated_or_missing"],
      ["errors/gated", "gated_or_missing"],
      ["errors/bad", "bad_request"],
      ["errors/notready", "not_ready_retry_later"],
      ["errors/blocked", "unsupported"],
      ["errors/ratelimited-long", "rate_limited"],
      ["nobody/nothing", "gated_or_missing"],
    ];
    for (const [dataset, code] of cases) {
      const r = await s.call("inspect_dataset", { dataset });
      expect(r.isError, dataset).toBe(true);
      expect(r.text, dataset).toContain(`[${code}]`);
      expect(r.text, dataset).toMatch(/Hint: \S/);
      expect(r.text).not.toContain(TOKEN);
    }
  });

  it("waits out a 429 for as long as the server asks, then carries on", async () => {
    const started = Date.now();
    const r = await s.call("inspect_dataset", { dataset: "errors/ratelimited" });
    // The info call gets 429 once (t=1 s), then succeeds; the viewer has no rows for it.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(r.text).not.toContain("[rate_limited]");
  });

  it("refuses outputs outside the export directory, with .., symlinks or another extension", async () => {
    const base = { dataset: "openai/gsm8k", preset: "gsm8k-grpo", limit: 3 };
    fs.symlinkSync(tempDir("tl-hf-elsewhere-"), path.join(exportsDir, "link"));
    for (const output of ["../escape.jsonl", "/etc/evil.jsonl", "a/../../b.jsonl", "out.json", "link/x.jsonl"]) {
      const r = await s.call("export_dataset", { ...base, output });
      expect(r.isError, output).toBe(true);
      expect(r.text, output).toContain("[bad_output]");
    }
  });
});

describe("hf-datasets server offline", () => {
  it("serves the catalog, inspection and mapping with HF_HUB_OFFLINE=1 and never calls the Hub", async () => {
    const before = hub.requests.length;
    const off = await connectBundled("hf-datasets", {
      HF_ENDPOINT: hub.url,
      HF_DATASETS_SERVER_ENDPOINT: hub.url,
      HF_HUB_OFFLINE: "1",
      HF_DATASETS_EXPORT_DIR: tempDir("tl-hf-off-"),
    });
    try {
      const cat = await off.call("list_catalog");
      expect(cat.structured.datasets.map((d: any) => d.id)).toContain("openai/gsm8k");
      expect(cat.structured.generators.map((g: any) => g.task)).toEqual([
        "arithmetic",
        "countdown",
        "word_problems",
        "string_transforms",
        "json_format",
        "addition",
        "python_functions",
      ]);
      const search = await off.call("search_datasets", { query: "math" });
      expect(search.structured.hub_searched).toBe(false);
      expect(search.structured.results[0].source).toBe("catalog");
      const ins = await off.call("inspect_dataset", { dataset: "gsm8k" });
      expect(ins.structured.source).toBe("catalog");
      const preview = await off.call("preview_mapping", { dataset: "openai/gsm8k", preset: "gsm8k-grpo", n: 3 });
      expect(preview.structured.records.map((r: any) => r.ground_truth)).toEqual(["18", "210", "1335"]);
      const missing = await off.call("inspect_dataset", { dataset: "someone/unknown" });
      expect(missing.text).toContain("[offline]");
      const gen = await off.call("generate_synthetic", { task: "arithmetic", n: 50, seed: 3, output: "arith/train.jsonl" });
      expect(gen.structured.rows_written).toBe(50);
      expect(hub.requests.length).toBe(before);
    } finally {
      await off.close();
    }
  });

  it("falls back to the catalog when the Hub cannot be reached", async () => {
    const off = await connectBundled("hf-datasets", {
      HF_ENDPOINT: "http://127.0.0.1:9",
      HF_DATASETS_SERVER_ENDPOINT: "http://127.0.0.1:9",
      HF_DATASETS_EXPORT_DIR: tempDir("tl-hf-down-"),
    });
    try {
      const r = await off.call("search_datasets", { query: "gsm8k" });
      expect(r.isError).toBe(false);
      expect(r.structured.note).toMatch(/Could not reach/);
      const ins = await off.call("inspect_dataset", { dataset: "openai/gsm8k" });
      expect(ins.structured.source).toBe("catalog");
      expect(ins.structured.note).toMatch(/Using the built-in catalog entry/);
    } finally {
      await off.close();
    }
  });

  it("is usable from @modelcontextprotocol/inspector's CLI", async () => {
    const run = promisify(execFile);
    const bin = path.join(REPO, "node_modules", ".bin", "mcp-inspector");
    const server = path.join(REPO, "bin", "hf-datasets-mcp.js");
    const dir = tempDir("tl-hf-insp-");
    const list = await run(
      bin,
      ["--cli", "-e", `HF_DATASETS_EXPORT_DIR=${dir}`, "-e", "HF_HUB_OFFLINE=1", process.execPath, server, "--method", "tools/list"],
      { timeout: 60_000 },
    );
    expect(JSON.parse(list.stdout).tools.map((t: any) => t.name)).toContain("generate_synthetic");
    const call = await run(
      bin,
      [
        "--cli",
        "-e",
        `HF_DATASETS_EXPORT_DIR=${dir}`,
        "-e",
        "HF_HUB_OFFLINE=1",
        process.execPath,
        server,
        "--method",
        "tools/call",
        "--tool-name",
        "generate_synthetic",
        "--tool-arg",
        "task=countdown",
        "--tool-arg",
        "n=5",
        "--tool-arg",
        "output=cd.jsonl",
      ],
      { timeout: 60_000 },
    );
    expect(JSON.parse(call.stdout).structuredContent.rows_written).toBe(5);
    expect(fs.readFileSync(path.join(dir, "cd.jsonl"), "utf8").trim().split("\n")).toHaveLength(5);
  });
});

describe("generators", () => {
  it("write the same file for the same seed through the server", async () => {
    const dir = tempDir("tl-hf-gen-");
    const g = await connectBundled("hf-datasets", { HF_HUB_OFFLINE: "1", HF_DATASETS_EXPORT_DIR: dir });
    try {
      const one = await g.call("generate_synthetic", { task: "word_problems", n: 40, seed: 7, format: "sft", output: "a.jsonl" });
      const two = await g.call("generate_synthetic", { task: "word_problems", n: 40, seed: 7, format: "sft", output: "b.jsonl" });
      expect(one.structured.sha256).toBe(two.structured.sha256);
      expect(fs.readFileSync(path.join(dir, "a.jsonl"), "utf8")).toBe(fs.readFileSync(path.join(dir, "b.jsonl"), "utf8"));
      expect(readJsonl(path.join(dir, "a.jsonl"))[0]).toHaveProperty("response");
    } finally {
      await g.close();
    }
  });
});

import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The layers ARCHITECTURE.md declares, held: its ```layers block lists folders top to
 * bottom (a folder imports only from lower lines, or from itself), its ```servers block
 * the MCP servers (which import only themselves, tools/contracts and lib, and which
 * nothing imports). agent/core does no file or process I/O.
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
const SOURCE_ROOTS = ["agent", "tools", "lib"];
const CORE_FORBIDDEN = ["node:fs", "node:fs/promises", "node:child_process", "node:net", "node:http", "node:https", "node:worker_threads", "node:os"];

type Edge = { from: string; to: string; spec: string };
type Layers = { order: string[][]; servers: string[] };

function fenced(md: string, lang: string): string[] {
  const m = md.match(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``));
  if (!m) throw new Error(`ARCHITECTURE.md has no \`\`\`${lang} block`);
  return m[1]!
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}

function readLayers(md: string): Layers {
  return { order: fenced(md, "layers").map((l) => l.split(/\s+/)), servers: fenced(md, "servers") };
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) sourceFiles(p, out);
    else if (/\.(ts|tsx|mts|js|mjs)$/.test(e.name)) out.push(p);
  }
  return out;
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^;]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^\s*import\s+["']([^"']+)["']/gm;

function edgesOf(): Edge[] {
  const edges: Edge[] = [];
  for (const r of SOURCE_ROOTS)
    for (const file of sourceFiles(path.join(ROOT, r))) {
      const src = fs.readFileSync(file, "utf8");
      for (const m of src.matchAll(IMPORT)) {
        const spec = (m[1] ?? m[2] ?? m[3])!;
        const from = path.relative(ROOT, file);
        const to = spec.startsWith(".") ? path.relative(ROOT, path.resolve(path.dirname(file), spec)) : spec;
        edges.push({ from, to, spec });
      }
    }
  return edges;
}

/** The folder of `file` that the layers speak of, or undefined for a file outside them (bin, test, npm packages). */
function folderOf(file: string, l: Layers): string | undefined {
  const all = [...l.order.flat(), ...l.servers];
  return all.filter((f) => file === f || file.startsWith(`${f}/`)).sort((a, b) => b.length - a.length)[0];
}

/** Every import that breaks the declared layers, as one line each. */
function violations(edges: Edge[], l: Layers): string[] {
  const rank = new Map<string, number>();
  l.order.forEach((line, i) => {
    for (const f of line) rank.set(f, l.order.length - i);
  });
  const out: string[] = [];
  for (const e of edges) {
    const from = folderOf(e.from, l);
    if (!from) {
      out.push(`${e.from}: in no layer of ARCHITECTURE.md`);
      continue;
    }
    if (from === "agent/core" && CORE_FORBIDDEN.includes(e.to)) out.push(`${e.from} imports ${e.to}: agent/core does no file or process I/O`);
    if (!e.spec.startsWith(".")) continue;
    const to = folderOf(e.to, l);
    if (!to) {
      out.push(`${e.from} imports ${e.to}: outside every layer`);
      continue;
    }
    if (to === from) continue;
    if (l.servers.includes(to)) out.push(`${e.from} imports ${e.to}: nothing imports a server's code (talk to it over MCP)`);
    else if (l.servers.includes(from)) {
      if (to !== "tools/contracts" && to !== "lib") out.push(`${e.from} imports ${e.to}: a server imports only itself, tools/contracts and lib`);
    } else if ((rank.get(to) ?? 0) >= (rank.get(from) ?? 0)) out.push(`${e.from} imports ${e.to}: ${from} may not import ${to} (same or higher layer)`);
  }
  return out;
}

const layers = readLayers(fs.readFileSync(path.join(ROOT, "ARCHITECTURE.md"), "utf8"));

describe("architecture layers (ARCHITECTURE.md)", () => {
  it("no import points up or sideways, no server imports another, agent/core does no I/O", () => {
    expect(violations(edgesOf(), layers)).toEqual([]);
  });

  it("the check catches a planted import of each kind", () => {
    const planted: Edge[] = [
      { from: "agent/core/loop.ts", to: "agent/session/run-session.ts", spec: "../session/run-session.ts" },
      { from: "agent/guard/budget.ts", to: "agent/planners/index.ts", spec: "../planners/index.ts" },
      { from: "tools/tinker/backends/local/pretrain.ts", to: "tools/hf-datasets/catalog.ts", spec: "../../../hf-datasets/catalog.ts" },
      { from: "agent/config/recipes.ts", to: "tools/tinker/grpo.ts", spec: "../../tools/tinker/grpo.ts" },
      { from: "lib/run-files.ts", to: "tools/contracts/checklist.ts", spec: "../tools/contracts/checklist.ts" },
      { from: "agent/core/events.ts", to: "node:fs", spec: "node:fs" },
      { from: "agent/newfolder/x.ts", to: "agent/core/loop.ts", spec: "../core/loop.ts" },
    ];
    expect(violations(planted, layers)).toHaveLength(planted.length);
  });

  it("every folder under agent/, tools/ and lib/ is placed in a layer, and agent/'s root holds at most 6 files", () => {
    const unplaced: string[] = [];
    for (const r of SOURCE_ROOTS)
      for (const file of sourceFiles(path.join(ROOT, r))) if (!folderOf(path.relative(ROOT, file), layers)) unplaced.push(path.relative(ROOT, file));
    expect(unplaced).toEqual([]);
    const rootFiles = fs.readdirSync(path.join(ROOT, "agent"), { withFileTypes: true }).filter((e) => e.isFile());
    expect(rootFiles.length).toBeLessThanOrEqual(6);
  });
});

describe("ARCHITECTURE.md names only paths that exist", () => {
  it("every path in backticks exists", () => {
    const md = fs.readFileSync(path.join(ROOT, "ARCHITECTURE.md"), "utf8");
    const named = new Set<string>();
    for (const m of md.matchAll(/`([a-zA-Z0-9_.-]+\/[a-zA-Z0-9_./-]*)`/g)) named.add(m[1]!.replace(/\/$/, ""));
    for (const line of [...layers.order.flat(), ...layers.servers]) named.add(line);
    const missing = [...named].filter((p) => !p.startsWith("../") && !fs.existsSync(path.join(ROOT, p)));
    expect(named.size).toBeGreaterThan(40);
    expect(missing).toEqual([]);
  });
});

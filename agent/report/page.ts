/**
 * One self-contained HTML page: styles, uPlot, the page script and the run data are
 * all inlined, and a Content-Security-Policy forbids every request except (in a live
 * view) the event stream from the page's own server. Nothing leaves the page.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { buildSync } from "esbuild";
import type { PagePayload } from "./payload.ts";

const require = createRequire(import.meta.url);
const CLIENT_ENTRY = path.join(import.meta.dirname, "client", "app.ts");

let cachedScript: string | undefined;

/** The page script: client/app.ts with uPlot and the shared model, bundled and minified once per process. */
function pageScript(): string {
  cachedScript ??= buildSync({
    entryPoints: [CLIENT_ENTRY],
    bundle: true,
    format: "iife",
    minify: true,
    write: false,
    platform: "browser",
    target: "es2020",
    legalComments: "inline",
    logLevel: "silent",
  }).outputFiles[0]!.text;
  return cachedScript;
}

/**
 * Bundles the page script now, so that a report written later takes milliseconds: the gateway
 * writes one on the first signal of a client's shutdown, half a second before SIGKILL.
 */
export function warmPageScript(): void {
  pageScript();
}

function uplotCss(): string {
  return fs.readFileSync(path.join(path.dirname(require.resolve("uplot")), "uPlot.min.css"), "utf8");
}

/** JSON that is safe inside a <script> element whatever strings it carries. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** Text that is safe in HTML body or attribute context. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const FILTERS = [
  ["text", "planner text"],
  ["call", "calls"],
  ["guard", "guard decisions"],
  ["alert", "alerts"],
  ["retry", "retries"],
  ["compaction", "compactions"],
  ["note", "notes"],
  ["error", "errors"],
] as const;

/** The whole page for `payload`; `title` is plain text. */
export function renderPage(payload: PagePayload, title: string): string {
  const live = payload.kind === "run" && payload.live !== undefined;
  const csp = `default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src ${live ? "'self'" : "'none'"}; base-uri 'none'; form-action 'none'`;
  const runBody = `
<section id="charts-section"><h2>Training curves</h2><div id="charts" class="charts"></div></section>
<section id="timeline-section">
  <h2>Timeline <small id="timeline-count"></small></h2>
  <div id="filters" class="filters">
    ${FILTERS.map(([k, label]) => `<label><input type="checkbox" data-kind="${k}" checked> ${label}</label>`).join("\n    ")}
    <label><input type="checkbox" name="flagged"> only turns with guard decisions, alerts, retries, compactions or errors</label>
    <input type="search" placeholder="search the timeline" aria-label="search the timeline">
  </div>
  <div id="timeline"></div>
</section>
<section id="samples-section"><h2>Last holdout samples</h2><div id="samples"></div></section>`;
  const compareBody = `
<section id="tables-section"></section>
<section><h2>Runs</h2><div id="compare-table"></div></section>
<section id="charts-section"><h2>Curves</h2><div id="charts" class="charts"></div></section>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="tinkerloop">
<title>${escapeHtml(title)}</title>
<style>${uplotCss()}</style>
<style>${STYLE}</style>
</head>
<body>
<header class="top">
  <h1 id="title"></h1>
  ${live ? '<p id="live" class="live">live: connecting…</p>' : ""}
  <p id="objective" class="objective"></p>
  <dl id="facts" class="facts"></dl>
</header>
<main>${payload.kind === "run" ? runBody : compareBody}</main>
<script type="application/json" id="report-data">${scriptJson(payload)}</script>
<script>${pageScript()}</script>
</body>
</html>
`;
}

const STYLE = `
:root { --fg:#111827; --muted:#6b7280; --line:#e5e7eb; --bg:#fff; --soft:#f9fafb; --err:#b91c1c; --ok:#15803d; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); margin: 0; }
header.top { padding: 16px 24px 8px; border-bottom: 1px solid var(--line); background: var(--soft); }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
h2 small { color: var(--muted); font-weight: normal; }
main { padding: 0 24px 48px; }
.objective { white-space: pre-wrap; margin: 4px 0 8px; max-height: 6em; overflow: auto; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 4px 16px; margin: 0; }
.facts div { display: flex; gap: 6px; }
.facts dt { color: var(--muted); white-space: nowrap; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.badge { font-size: 12px; padding: 2px 8px; border-radius: 10px; vertical-align: middle; }
.badge.running { background: #dbeafe; color: #1d4ed8; }
.badge.ended { background: #e5e7eb; color: #374151; }
.live { color: #1d4ed8; margin: 0; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure.chart { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
figcaption { font-weight: 600; margin-bottom: 4px; }
.empty { color: var(--muted); }
.filters { display: flex; flex-wrap: wrap; gap: 4px 14px; align-items: center; margin-bottom: 8px; color: var(--muted); }
.filters input[type=search] { padding: 4px 8px; min-width: 220px; }
article.turn { border-left: 3px solid var(--line); padding: 4px 0 4px 12px; margin: 8px 0; }
article.turn:target { border-left-color: #2563eb; background: #eff6ff; }
article.turn header { display: flex; gap: 10px; align-items: baseline; }
.anchor { font-weight: 600; color: var(--fg); text-decoration: none; }
.when { color: var(--muted); font-size: 12px; }
.tag { font-size: 11px; padding: 0 6px; border-radius: 8px; background: #f3f4f6; }
.tag.guard, .tag.error { background: #fee2e2; color: var(--err); }
.tag.alert { background: #fef3c7; color: #92400e; }
.text { white-space: pre-wrap; margin: 4px 0; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--soft); border: 1px solid var(--line); padding: 6px 8px; margin: 4px 0; max-height: 320px; overflow: auto; font-size: 12px; }
.call summary { cursor: pointer; }
.ok { color: var(--ok); } .err { color: var(--err); } .pending { color: var(--muted); }
.guard { font-size: 12px; padding: 0 6px; border-radius: 8px; }
.guard.rewrite { background: #fef3c7; color: #92400e; } .guard.reject, .guard.stop { background: #fee2e2; color: var(--err); }
.guard-msg, .retry, .compaction, .note { color: #92400e; margin: 2px 0; }
.alerts { color: #92400e; margin: 4px 0; }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
td pre { margin: 0; max-height: 160px; }
td.num { text-align: right; }
table.compare td { white-space: nowrap; }
.bars { max-width: 760px; margin: 8px 0 16px; }
.bar-row { display: grid; grid-template-columns: 160px 1fr 140px; gap: 8px; align-items: center; margin: 4px 0; }
.bar-label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.bar-track { background: #eef0f3; height: 16px; border-radius: 3px; }
.bar { display: block; height: 100%; background: #3b6fd8; border-radius: 3px; }
.bar.bar-ref { background: #9aa3ad; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; }
`;

/// <reference lib="dom" />
/**
 * The report page: reads the run data embedded in the page, draws it, and in a live
 * view folds in the events the server pushes (server-sent events) without a reload.
 */
import type uPlot from "uplot";
import { END_REASON_TEXT } from "../../core/run-end.ts";
import { ReportFolder } from "../model.ts";
import type { CallEntry, ReportModel, TurnEntry } from "../model-shape.ts";
import type { PagePayload } from "../payload.ts";
import type { RecordedEvent } from "../../transcript/transcript.ts";
import { compareCharts, mountChart, runCharts, PALETTE } from "./charts.ts";
import type { ChartSpec, MountedChart } from "./charts.ts";
import { el, fmt } from "./dom.ts";
import { compareRows, formatUsd, spendOf } from "../compare-table.ts";

/** What tests (and curious users) can read from the console: the charts and the model. */
type ReportHandle = { charts: Record<string, uPlot>; model: () => ReportModel | ReportModel[]; updates: number };
declare global {
  interface Window {
    __report: ReportHandle;
  }
}

const payload = JSON.parse(document.getElementById("report-data")!.textContent ?? "{}") as PagePayload;
const mounted = new Map<string, MountedChart>();
const handle: ReportHandle = { charts: {}, model: () => (payload.kind === "run" ? folder!.m : payload.runs), updates: 0 };
window.__report = handle;
const folder = payload.kind === "run" ? new ReportFolder(payload.model) : undefined;
const openDetails = new Set<string>();
const filters = { kinds: new Set(["text", "call", "guard", "alert", "retry", "compaction", "note", "error"]), query: "", onlyFlagged: false };

const chartWidth = () => Math.max(320, Math.min(560, (document.getElementById("charts")?.clientWidth ?? 1100) / 2 - 24));

function drawCharts(specs: ChartSpec[]): void {
  const host = document.getElementById("charts")!;
  const seen = new Set<string>();
  for (const spec of specs) {
    seen.add(spec.id);
    let fig = host.querySelector<HTMLElement>(`figure[data-chart="${spec.id}"]`);
    if (!fig) {
      fig = el("figure", { class: "chart", "data-chart": spec.id }, el("figcaption", {}, spec.title), el("div", { class: "plot" }));
      host.append(fig);
    }
    const m = mountChart(spec, fig.querySelector<HTMLElement>(".plot")!, mounted.get(spec.id), chartWidth());
    mounted.set(spec.id, m);
    handle.charts[spec.id] = m.plot;
    fig.setAttribute("data-points", String(spec.data[0].length));
  }
  for (const [id, m] of mounted) {
    if (seen.has(id)) continue;
    m.plot.destroy();
    mounted.delete(id);
    delete handle.charts[id];
    host.querySelector(`figure[data-chart="${id}"]`)?.remove();
  }
  if (!specs.length) host.replaceChildren(el("p", { class: "empty" }, "No training metrics yet."));
  else host.querySelector(".empty")?.remove();
}

function holdoutLine(m: ReportModel): string {
  if (!m.holdout.length) return "no holdout evaluation";
  const base = m.holdout[0]!.score;
  const last = m.holdout[m.holdout.length - 1]!.score;
  const best = Math.max(...m.holdout.map((h) => h.score));
  return `${fmt.pct(base)} → ${fmt.pct(last)} (best ${fmt.pct(best)}; ${fmt.signed(last - base)}; ${m.holdout.length} evaluations)`;
}

/** The harness's grade, first in the header: baseline → final with the lift's interval, or "ungraded". */
function examLine(m: ReportModel): string {
  if (!m.exam) return "ungraded (no exam in the run's definition; the holdout below is the planner's own)";
  const base = m.exam.sittings.find((s) => s.label === "baseline");
  const final = m.exam.sittings.find((s) => s.label === "final");
  const head = `${m.exam.name}, ${m.exam.items} hidden items: ${base ? fmt.pct(base.mean) : "—"} → ${final ? fmt.pct(final.mean) : "—"}`;
  if (!final?.lift) return `${head}${final ? "" : " (no final sitting yet)"}`;
  return `${head} (lift ${fmt.signed(final.lift.mean)}, 95% CI ${fmt.signed(final.lift.low)} to ${fmt.signed(final.lift.high)}; on ${final.weights})`;
}

function renderHeader(m: ReportModel): void {
  const state = m.state === "ended" ? ((END_REASON_TEXT as Record<string, string>)[m.endReason ?? ""] ?? m.endReason ?? "ended") : "running";
  const facts: Array<[string, string]> = [
    ["exam", examLine(m)],
    ["model", m.model],
    ["planner", m.planner],
    ["outcome", `${state}${m.endDetail ? ` — ${m.endDetail}` : ""}`],
    [m.exam ? "self-reported holdout" : "holdout", holdoutLine(m)],
    ["time", fmt.duration(m.elapsedMs)],
    ["turns", String(m.turns)],
    [
      "tokens",
      `${fmt.int(m.tokens.input)} in · ${fmt.int(m.tokens.output)} out${m.tokens.cacheRead || m.tokens.cacheWrite ? ` · cache ${fmt.int(m.tokens.cacheRead)} read / ${fmt.int(m.tokens.cacheWrite)} written` : ""}`,
    ],
    [
      "cost",
      `${formatUsd(spendOf(m))}${spendOf(m).estimated && spendOf(m).usd > 0 ? " (estimated from tokens at list prices)" : ""}${m.trainingCostUsd !== null ? ` (planner ${formatUsd({ usd: m.costUsd ?? 0, estimated: false })}, training ${formatUsd({ usd: m.trainingCostUsd, estimated: false })})` : ""}`,
    ],
    ["tool calls", `${m.toolCalls} (${m.toolErrors} errors)`],
    ["guard interventions", String(m.guardInterventions)],
    ...(m.parent ? ([["continues", m.parent]] as Array<[string, string]>) : []),
  ];
  document
    .getElementById("title")!
    .replaceChildren(el("span", { class: `badge ${m.state}` }, m.state === "ended" ? "ended" : "running"), ` ${m.runId || "run"}`);
  document.getElementById("objective")!.textContent = m.objective;
  document.getElementById("facts")!.replaceChildren(...facts.map(([k, v]) => el("div", { "data-fact": k }, el("dt", {}, k), el("dd", {}, v))));
  document.title = `tinkerloop · ${m.runId}${m.state === "running" ? " (running)" : ""}`;
}

function kindsOf(t: TurnEntry): string[] {
  const k: string[] = [];
  if (t.text || t.thinking) k.push("text");
  if (t.calls.length) k.push("call");
  if (t.calls.some((c) => c.guard && c.guard.action !== "allow")) k.push("guard");
  if (t.alerts.length) k.push("alert");
  if (t.retries.length) k.push("retry");
  if (t.compactions.length) k.push("compaction");
  if (t.notes.length) k.push("note");
  if (t.error || t.calls.some((c) => c.result?.isError)) k.push("error");
  return k;
}

function details(id: string, summary: Node | string, ...body: Node[]): HTMLDetailsElement {
  const d = el("details", { "data-id": id, open: openDetails.has(id) }, el("summary", {}, summary), ...body);
  d.addEventListener("toggle", () => (d.open ? openDetails.add(id) : openDetails.delete(id)));
  return d;
}

function renderCall(turn: number, c: CallEntry): HTMLElement {
  const g = c.guard;
  const badge = g && g.action !== "allow" ? el("span", { class: `guard ${g.action}` }, `${g.action}${g.rule ? ` (${g.rule})` : ""}`) : null;
  const status = c.result
    ? el(
        "span",
        { class: c.result.isError ? "err" : "ok" },
        c.result.isError ? `✗ error · ${(c.result.ms / 1000).toFixed(1)}s` : `✓ ${(c.result.ms / 1000).toFixed(1)}s`,
      )
    : el("span", { class: "pending" }, g && (g.action === "reject" || g.action === "stop") ? "not run" : "…");
  return el(
    "div",
    { class: "call" },
    details(
      `${turn}:${c.id}:in`,
      el("span", {}, el("code", {}, c.name), " ", status, " ", badge),
      el("pre", { class: "input" }, c.input),
      ...(g?.message ? [el("p", { class: "guard-msg" }, `guard: ${g.message}`)] : []),
      ...(c.result ? [el("pre", { class: c.result.isError ? "result err" : "result" }, c.result.text)] : []),
    ),
  );
}

function renderTurn(t: TurnEntry): HTMLElement {
  const kinds = kindsOf(t);
  return el(
    "article",
    { class: "turn", id: `turn-${t.turn}`, "data-turn": t.turn, "data-kinds": kinds.join(" ") },
    el(
      "header",
      {},
      el("a", { href: `#turn-${t.turn}`, class: "anchor" }, `turn ${t.turn}`),
      el("span", { class: "when" }, `${t.minutes.toFixed(1)} min`),
      ...kinds.filter((k) => k !== "text" && k !== "call").map((k) => el("span", { class: `tag ${k}` }, k)),
    ),
    t.text ? el("div", { class: "text" }, t.text) : null,
    t.thinking ? details(`${t.turn}:thinking`, "thinking", el("pre", { class: "thinking" }, t.thinking)) : null,
    t.error ? el("p", { class: "err" }, `planner error: ${t.error}`) : null,
    ...t.retries.map((r) => el("p", { class: "retry" }, `retry ${r.attempt}${r.delayMs ? ` after ${(r.delayMs / 1000).toFixed(1)}s` : ""}: ${r.error}`)),
    ...t.calls.map((c) => renderCall(t.turn, c)),
    ...t.compactions.map((c) =>
      el(
        "p",
        { class: "compaction" },
        `context compacted (${c.trigger}): ${c.elided} results elided, ~${fmt.int(c.tokensBefore)} → ~${fmt.int(c.tokensAfter)} tokens`,
      ),
    ),
    ...t.notes.map((n) => el("p", { class: "note" }, n)),
    t.alerts.length ? el("ul", { class: "alerts" }, ...t.alerts.map((a) => el("li", {}, a))) : null,
    t.feedback ? details(`${t.turn}:feedback`, "feedback block", el("pre", { class: "feedback" }, t.feedback)) : null,
  );
}

function visible(t: TurnEntry, node: HTMLElement): boolean {
  const kinds = kindsOf(t);
  if (filters.onlyFlagged && !kinds.some((k) => ["guard", "alert", "retry", "compaction", "error"].includes(k))) return false;
  if (!kinds.some((k) => filters.kinds.has(k)) && kinds.length) return false;
  if (filters.query && !node.textContent!.toLowerCase().includes(filters.query)) return false;
  return true;
}

function renderTimeline(m: ReportModel): void {
  const host = document.getElementById("timeline")!;
  const nodes = m.timeline.map((t) => {
    const n = renderTurn(t);
    n.hidden = !visible(t, n);
    return n;
  });
  host.replaceChildren(...nodes);
  document.getElementById("timeline-count")!.textContent = `${nodes.filter((n) => !n.hidden).length} of ${nodes.length} turns`;
}

function renderSamples(m: ReportModel): void {
  const host = document.getElementById("samples")!;
  const s = m.lastSamples;
  host.replaceChildren(
    s
      ? el(
          "div",
          {},
          el("p", {}, `From the holdout sample at turn ${s.turn}: ${s.rows.length} of ${s.total} completions.`),
          el(
            "table",
            { class: "samples" },
            el("thead", {}, el("tr", {}, el("th", {}, "prompt"), el("th", {}, "completion"), el("th", {}, "reward"))),
            el(
              "tbody",
              {},
              ...s.rows.map((r) =>
                el(
                  "tr",
                  {},
                  el("td", {}, el("pre", {}, r.prompt)),
                  el("td", {}, el("pre", {}, r.completion)),
                  el("td", { class: "num" }, r.reward === null ? "–" : r.reward.toFixed(2)),
                ),
              ),
            ),
          ),
        )
      : el("p", { class: "empty" }, "No holdout samples yet."),
    el("h3", {}, "Reward function"),
    m.rewardCode ? el("pre", { class: "code" }, m.rewardCode) : el("p", { class: "empty" }, "No reward function used."),
  );
}

function renderRun(): void {
  const m = folder!.m;
  renderHeader(m);
  drawCharts(runCharts(m));
  renderTimeline(m);
  renderSamples(m);
  handle.updates++;
}

function wireFilters(): void {
  const bar = document.getElementById("filters");
  if (!bar) return;
  for (const box of bar.querySelectorAll<HTMLInputElement>("input[type=checkbox][data-kind]")) {
    box.addEventListener("change", () => {
      const k = box.dataset.kind!;
      if (box.checked) filters.kinds.add(k);
      else filters.kinds.delete(k);
      renderTimeline(folder!.m);
    });
  }
  bar.querySelector<HTMLInputElement>("input[name=flagged]")?.addEventListener("change", (e) => {
    filters.onlyFlagged = (e.target as HTMLInputElement).checked;
    renderTimeline(folder!.m);
  });
  bar.querySelector<HTMLInputElement>("input[type=search]")?.addEventListener("input", (e) => {
    filters.query = (e.target as HTMLInputElement).value.trim().toLowerCase();
    renderTimeline(folder!.m);
  });
}

function connectLive(path: string): void {
  const status = document.getElementById("live")!;
  let pending = false;
  const schedule = () => {
    if (pending) return;
    pending = true;
    setTimeout(() => {
      pending = false;
      renderRun();
    }, 200);
  };
  // The path carries the live view's token as a query: the next parameter joins it.
  const source = new EventSource(`${path}${path.includes("?") ? "&" : "?"}after=${folder!.m.seq}`);
  source.onopen = () => (status.textContent = "live: connected");
  source.onmessage = (msg) => {
    folder!.apply(JSON.parse(msg.data) as RecordedEvent);
    schedule();
  };
  source.addEventListener("closing", () => {
    status.textContent = "live: the run's server has stopped; this page shows where it ended";
    source.close();
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) status.textContent = "live: disconnected";
    else status.textContent = "live: reconnecting…";
  };
}

/** Tables shown above the runs (a sweep's leaderboard), text cells only. */
function renderTables(tables: NonNullable<Extract<PagePayload, { kind: "compare" }>["tables"]>): void {
  const host = document.getElementById("tables-section")!;
  host.replaceChildren(
    ...tables.flatMap((t) => [
      el("h2", {}, t.title),
      el(
        "table",
        { class: "compare leaderboard" },
        el("thead", {}, el("tr", {}, ...t.columns.map((c) => el("th", {}, c)))),
        el("tbody", {}, ...t.rows.map((r) => el("tr", {}, ...r.map((v) => el("td", {}, v))))),
      ),
    ]),
  );
}

/** A suite's scores as bars above the tables (the value printed; the bar clamped to 0..1). */
function renderBars(chart: NonNullable<Extract<PagePayload, { kind: "compare" }>["bars"]>): void {
  const host = document.getElementById("tables-section")!;
  const rows = chart.bars.map((b) =>
    el(
      "div",
      { class: "bar-row" },
      el("span", { class: "bar-label" }, b.label),
      el(
        "span",
        { class: "bar-track" },
        el("span", { class: `bar${b.note === "reference row" ? " bar-ref" : ""}`, style: `width:${Math.max(0, Math.min(1, b.value)) * 100}%` }),
      ),
      el("span", { class: "bar-value" }, `${b.value.toFixed(2)}${b.note ? ` (${b.note})` : ""}`),
    ),
  );
  host.prepend(el("h2", {}, chart.title), el("div", { class: "bars", role: "img", "aria-label": chart.title }, ...rows));
}

function renderCompare(runs: ReportModel[]): void {
  document.getElementById("title")!.textContent = `Comparing ${runs.length} runs`;
  if (payload.kind === "compare" && payload.tables) renderTables(payload.tables);
  if (payload.kind === "compare" && payload.bars) renderBars(payload.bars);
  const rows = compareRows(runs);
  const table = el(
    "table",
    { class: "compare" },
    el("thead", {}, el("tr", {}, el("th", {}, ""), ...rows.columns.map((c) => el("th", {}, c)))),
    el(
      "tbody",
      {},
      ...rows.rows.map((r, i) =>
        el(
          "tr",
          { "data-run": runs[i]!.runId },
          el("td", {}, el("span", { class: "swatch", style: `background:${PALETTE[i % PALETTE.length]}` })),
          ...r.map((v) => el("td", {}, v)),
        ),
      ),
    ),
  );
  document.getElementById("compare-table")!.replaceChildren(table);
  document.getElementById("objective")!.textContent = [...new Set(runs.map((r) => r.objective))].join(" · ");
  drawCharts(compareCharts(runs));
  handle.updates++;
}

if (payload.kind === "run") {
  wireFilters();
  renderRun();
  if (payload.live) connectLive(payload.live.events);
} else {
  renderCompare(payload.runs);
}

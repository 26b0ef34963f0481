/// <reference lib="dom" />
/**
 * The charts of a report and of a comparison, drawn with uPlot. A chart is described
 * as data first (ChartSpec), then mounted, so a live update only swaps the data.
 */
import uPlot from "uplot";
import type { CheckpointMark, ReportModel } from "../model-shape.ts";

export type SeriesSpec = {
  label: string;
  color: string;
  kind?: "line" | "bars" | "band-edge";
  dash?: number[];
  value?: (u: uPlot, v: number | null, si: number, i: number) => string;
};

export type ChartSpec = {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: SeriesSpec[];
  data: uPlot.AlignedData;
  /** Fill between two series (indexes into data). */
  band?: [number, number];
  /** Vertical markers on the x axis (checkpoints on the time axis). */
  marks?: CheckpointMark[];
  yRange?: [number, number];
  /** The x axis counts iterations or epochs: whole-number ticks, bars get half a step of room. */
  xSteps?: boolean;
  /** Counts: the y axis starts at 0. */
  yFromZero?: boolean;
};

export const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f", "#6b7280", "#a16207"];

const GROUP_COLORS = { mixed: "#16a34a", allZero: "#dc2626", allOne: "#2563eb", other: "#9ca3af" };

/** The charts one run's report shows; a chart with nothing to draw is left out. */
export function runCharts(m: ReportModel): ChartSpec[] {
  const out: ChartSpec[] = [];
  const g = m.grpo;
  if (g.length) {
    const x = g.map((p) => p.index);
    const mean = g.map((p) => p.rewardMean);
    const std = g.map((p) => p.rewardStd ?? 0);
    out.push({
      id: "reward",
      title: "GRPO reward (mean ± std) per iteration",
      xLabel: "iteration",
      yLabel: "reward",
      series: [
        { label: "reward mean", color: PALETTE[0]! },
        { label: "mean + std", color: "#93c5fd", kind: "band-edge" },
        { label: "mean − std", color: "#93c5fd", kind: "band-edge" },
      ],
      data: [x, mean, mean.map((v, i) => (v === null ? null : v + std[i]!)), mean.map((v, i) => (v === null ? null : v - std[i]!))],
      band: [2, 3],
      xSteps: true,
    });
    // Stacked: each series is the running total, drawn from the tallest down, so the
    // visible slice of each bar is that category's count; the legend shows the count itself.
    const cats = [
      { key: "other", label: "no signal (other)", counts: g.map((p) => p.other) },
      { key: "allOne", label: "ALL-1", counts: g.map((p) => p.allOne) },
      { key: "allZero", label: "ALL-0", counts: g.map((p) => p.allZero) },
      { key: "mixed", label: "mixed", counts: g.map((p) => p.mixed) },
    ] as const;
    const totals = cats.map((_, ci) => g.map((_, i) => cats.slice(ci).reduce((a, c) => a + c.counts[i]!, 0)));
    out.push({
      id: "groups",
      title: "Groups per iteration: mixed / ALL-0 / ALL-1 (stacked)",
      xLabel: "iteration",
      yLabel: "groups",
      series: cats.map((c, ci) => ({
        label: c.label,
        color: GROUP_COLORS[c.key],
        kind: "bars" as const,
        value: (_u: uPlot, _v: number | null, _si: number, i: number) => (i === null || i === undefined ? "–" : String(cats[ci]!.counts[i] ?? "–")),
      })),
      data: [x, ...totals],
      xSteps: true,
      yFromZero: true,
    });
    if (g.some((p) => p.kl !== null))
      out.push(line("kl", "KL (sampler vs learner) per iteration", "iteration", "KL", x, [{ label: "KL", values: g.map((p) => p.kl) }]));
    if (g.some((p) => p.learningRate !== null))
      out.push(line("lr", "Learning rate per iteration", "iteration", "learning rate", x, [{ label: "learning rate", values: g.map((p) => p.learningRate) }]));
    if (g.some((p) => p.truncation !== null))
      out.push({
        ...line("truncation", "Truncation share (samples cut off at max_tokens)", "iteration", "share", x, [
          { label: "truncated", values: g.map((p) => p.truncation) },
        ]),
        yRange: [0, 1],
      });
  }
  if (m.sft.length) {
    const x = m.sft.map((p) => p.index);
    out.push(
      line("sft-loss", "SFT loss per epoch", "epoch", "loss", x, [
        { label: "train loss", values: m.sft.map((p) => p.trainLoss) },
        { label: "validation loss", values: m.sft.map((p) => p.valLoss) },
      ]),
    );
  }
  if (m.exam?.sittings.length) {
    // The harness's sittings (baseline, --exam-every, final): the graded curve, first of the scores.
    out.push({
      ...line(
        "exam",
        "Exam score (graded by the harness on hidden items)",
        "minutes since start",
        "exam score",
        m.exam.sittings.map((s) => s.minutes),
        [{ label: "exam score", values: m.exam.sittings.map((s) => s.mean) }],
      ),
      yRange: [0, 1],
    });
  }
  if (m.holdout.length) {
    out.push({
      ...line(
        "holdout",
        m.exam ? "Self-reported holdout score over time (checkpoints marked)" : "Holdout score over time (checkpoints marked)",
        "minutes since start",
        "holdout score",
        m.holdout.map((p) => p.minutes),
        [{ label: "holdout score", values: m.holdout.map((p) => p.score) }],
      ),
      marks: m.checkpoints,
      yRange: [0, 1],
    });
  }
  return out;
}

/** One colour per run, curves overlaid. */
export function compareCharts(runs: ReportModel[]): ChartSpec[] {
  const out: ChartSpec[] = [];
  const label = (m: ReportModel, i: number) => `${i + 1}. ${m.runId} (${m.planner})`;
  const overlay = (
    id: string,
    title: string,
    xLabel: string,
    yLabel: string,
    pick: (m: ReportModel) => { x: number[]; y: Array<number | null> },
    yRange?: [number, number],
  ) => {
    const tables = runs.map(pick);
    if (!tables.some((t) => t.x.length)) return;
    const joined = uPlot.join(tables.map((t) => [t.x, t.y] as uPlot.AlignedData));
    out.push({
      id,
      title,
      xLabel,
      yLabel,
      series: runs.map((m, i) => ({ label: label(m, i), color: PALETTE[i % PALETTE.length]! })),
      data: joined,
      ...(yRange ? { yRange } : {}),
    });
  };
  overlay("reward", "GRPO reward mean per iteration", "iteration", "reward", (m) => ({ x: m.grpo.map((p) => p.index), y: m.grpo.map((p) => p.rewardMean) }));
  overlay(
    "mixed",
    "Share of mixed groups (learning signal) per iteration",
    "iteration",
    "share",
    (m) => ({
      x: m.grpo.map((p) => p.index),
      y: m.grpo.map((p) => {
        const t = p.mixed + p.allZero + p.allOne + p.other;
        return t ? p.mixed / t : null;
      }),
    }),
    [0, 1],
  );
  overlay("kl", "KL per iteration", "iteration", "KL", (m) => ({ x: m.grpo.map((p) => p.index), y: m.grpo.map((p) => p.kl) }));
  overlay("sft-train", "SFT train loss per epoch", "epoch", "loss", (m) => ({ x: m.sft.map((p) => p.index), y: m.sft.map((p) => p.trainLoss) }));
  overlay("sft-val", "SFT validation loss per epoch", "epoch", "loss", (m) => ({ x: m.sft.map((p) => p.index), y: m.sft.map((p) => p.valLoss) }));
  overlay(
    "holdout",
    "Holdout score over time",
    "minutes since start",
    "holdout score",
    (m) => ({ x: m.holdout.map((p) => p.minutes), y: m.holdout.map((p) => p.score) }),
    [0, 1],
  );
  return out;
}

function line(id: string, title: string, xLabel: string, yLabel: string, x: number[], ys: Array<{ label: string; values: Array<number | null> }>): ChartSpec {
  return {
    id,
    title,
    xLabel,
    yLabel,
    series: ys.map((y, i) => ({ label: y.label, color: PALETTE[i % PALETTE.length]! })),
    data: [x, ...ys.map((y) => y.values)],
    xSteps: xLabel === "iteration" || xLabel === "epoch",
  };
}

/** Axis numbers that stay readable from learning rates (1e-5) to token counts. */
function tick(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a < 0.01 || a >= 1e6) return v.toExponential(1);
  if (a >= 100) return String(Math.round(v));
  return String(Number(v.toPrecision(3)));
}

const STEP_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000];

/** Draws checkpoint markers as dashed vertical lines with their names. */
function markPlugin(marks: () => CheckpointMark[]): uPlot.Plugin {
  return {
    hooks: {
      draw: (u: uPlot) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.font = `${Math.round(10 * devicePixelRatio)}px system-ui, sans-serif`;
        // Labels are staggered over three rows and flipped left near the right edge, so close checkpoints stay readable.
        for (const [i, mk] of marks().entries()) {
          const x = Math.round(u.valToPos(mk.minutes, "x", true));
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
          ctx.strokeStyle = mk.kind === "load" ? "#9333ea" : mk.kind === "emergency" ? "#dc2626" : mk.kind === "resume" ? "#d1d5db" : "#6b7280";
          ctx.setLineDash([4, 4]);
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
          // The harness's resume points come every few calls: a faint line each, no label.
          if (mk.kind === "resume") continue;
          ctx.fillStyle = ctx.strokeStyle;
          const label = `${mk.kind === "load" ? "⟲ " : "◆ "}${mk.name}`.slice(0, 40);
          const right = x + 3 + ctx.measureText(label).width > u.bbox.left + u.bbox.width;
          ctx.textAlign = right ? "right" : "left";
          ctx.fillText(label, right ? x - 3 : x + 3, u.bbox.top + (12 + (i % 3) * 12) * devicePixelRatio);
        }
        ctx.restore();
      },
    },
  };
}

export type MountedChart = { spec: ChartSpec; plot: uPlot };

/** Creates the chart, or swaps the data of an existing one when its series are unchanged. */
export function mountChart(spec: ChartSpec, host: HTMLElement, existing: MountedChart | undefined, width: number): MountedChart {
  if (existing && existing.spec.series.length === spec.series.length && existing.spec.series.every((s, i) => s.label === spec.series[i]!.label)) {
    existing.spec.marks = spec.marks;
    existing.spec.data = spec.data;
    existing.plot.setData(spec.data);
    return existing;
  }
  existing?.plot.destroy();
  const bars = uPlot.paths.bars!({ size: [0.7, 40] });
  const opts: uPlot.Options = {
    width,
    height: 220,
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
    scales: {
      x: {
        time: false,
        ...(spec.xSteps
          ? { range: (_u: uPlot, min: number, max: number): uPlot.Range.MinMax => [Math.floor(min) - 0.5, Math.ceil(max) + 0.5] }
          : spec.marks
            ? {
                // The time axis spans the checkpoints too, so a save after the last evaluation is still marked.
                range: (_u: uPlot, min: number, max: number): uPlot.Range.MinMax => {
                  const xs = (spec.marks ?? []).map((mk) => mk.minutes);
                  const lo = Math.min(min, ...xs);
                  const hi = Math.max(max, ...xs);
                  const pad = (hi - lo || 1) * 0.03;
                  return [Math.max(0, lo - pad), hi + pad];
                },
              }
            : {}),
      },
      ...(spec.yRange
        ? { y: { range: spec.yRange } }
        : spec.yFromZero
          ? { y: { range: (_u: uPlot, _min: number, max: number): uPlot.Range.MinMax => [0, Math.max(1, max)] } }
          : {}),
    },
    axes: [
      { label: spec.xLabel, ...(spec.xSteps ? { incrs: STEP_INCRS } : {}), values: (_u: uPlot, vals: number[]) => vals.map(tick) },
      { label: spec.yLabel, size: 60, values: (_u: uPlot, vals: number[]) => vals.map(tick) },
    ],
    series: [
      { label: spec.xLabel },
      ...spec.series.map(
        (s): uPlot.Series => ({
          label: s.label,
          stroke: s.color,
          width: s.kind === "band-edge" ? 1 : 2,
          ...(s.kind === "bars" ? { paths: bars, fill: s.color, points: { show: false } } : { points: { show: true, size: s.kind === "band-edge" ? 3 : 5 } }),
          ...(s.value ? { value: s.value as uPlot.Series["value"] } : {}),
          spanGaps: true,
        }),
      ),
    ],
    ...(spec.band ? { bands: [{ series: spec.band, fill: "rgba(147,197,253,0.25)" }] } : {}),
    plugins: spec.marks ? [markPlugin(() => spec.marks ?? [])] : [],
  };
  const plot = new uPlot(opts, spec.data, host);
  return { spec, plot };
}

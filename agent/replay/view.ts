import { addUsage, ZERO_USAGE } from "../core/conversation.ts";
import type { Block, Usage } from "../core/conversation.ts";
import { describeSpend, SpendLedger } from "../spend/ledger.ts";
import { SPEND_META, spendShape } from "../spend/priced-executor.ts";
import { formatUsd, plannerCostUsd, PriceTable } from "../spend/prices.ts";
import type { RecordedEvent, TranscriptReadResult } from "../transcript/transcript.ts";
import { ExamCollector, formatExam } from "../summary/exam-summary.ts";

const clip = (s: string, n: number) => {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
};

export type ViewOptions = { full?: boolean; width?: number };

/** Renders a transcript for a terminal: turns, text and thinking, calls, guard decisions, results and what they cost, feedback, usage and spend. */
export function renderTranscript(read: TranscriptReadResult, o: ViewOptions = {}): string[] {
  const w = o.full ? 100_000 : (o.width ?? 200);
  const out: string[] = [];
  let usage: Usage = ZERO_USAGE;
  const spend = new SpendLedger();
  const estimates = new Map<string, number>();
  // The harness's grade comes first, right under the run's header line(s).
  const exam = new ExamCollector();
  for (const e of read.events) exam.on(e);
  let gradeShown = false;
  for (const e of read.events) {
    if (!gradeShown && e.type !== "run") {
      out.push(...formatExam(exam.summary(), null).map((l) => l.trim()));
      gradeShown = true;
    }
    spend.on(e);
    if (e.type === "guard" && e.estimate) estimates.set(e.toolUseId, e.estimate.usd);
    out.push(...renderEvent(e, w, o.full ?? false, (u) => (usage = addUsage(usage, u)), estimates));
  }
  out.push(
    "",
    `tokens: in ${usage.inputTokens} · out ${usage.outputTokens} · cache read ${usage.cacheReadTokens} · cache write ${usage.cacheWriteTokens}`,
    spendLine(read, spend, usage),
  );
  if (read.tornTail !== undefined)
    out.push(`note: the last line was cut off mid-write (${read.tornTail.length} bytes), probably by a crash; everything before it is shown.`);
  if (read.damage) out.push(`note: line ${read.damage.line} is damaged (${read.damage.reason}); the events after it are not shown.`);
  return out;
}

/** The run's spend as recorded; a transcript from before costs were recorded is priced at today's list price of its planner, and says so. */
function spendLine(read: TranscriptReadResult, spend: SpendLedger, usage: Usage): string {
  const planner = read.events.find((e) => e.type === "run")?.planner ?? "";
  const recorded = read.events.some((e) => e.type === "assistant" && e.usage.costUsd !== undefined);
  if (!recorded && spend.plannerUnpriced) {
    const p = PriceTable.builtIn().planner(planner);
    if ("price" in p) return `spend: not recorded; the planner's tokens at today's list price for ${planner}: ≈${formatUsd(plannerCostUsd(usage, p.price))}`;
    return `spend: not recorded, and no price is listed for ${planner}`;
  }
  return `spend: ${describeSpend(spend)}`;
}

function renderEvent(e: RecordedEvent, w: number, full: boolean, addU: (u: Usage) => void, estimates: Map<string, number>): string[] {
  switch (e.type) {
    case "run":
      return [
        `run ${e.runId}${e.parent ? ` (from ${e.parent})` : ""} · planner ${e.planner} · model ${e.model} · started ${e.startedAt}`,
        `tools: ${e.tools.map((t) => t.name).join(", ")}`,
      ];
    case "system":
      return full ? ["system prompt:", e.text] : [`system prompt: ${e.text.length} characters (--full shows it)`];
    case "user": {
      if (e.turn !== 0) {
        const texts = e.message.content.filter((b: Block) => b.type === "text").map((b) => (b as { text: string }).text);
        const nudges = texts.filter((t) => !t.startsWith("── training feedback"));
        return nudges.map((t) => `  user: ${clip(t, w)}`);
      }
      const t = e.message.content.find((b: Block) => b.type === "text") as { text: string } | undefined;
      return t ? [`kickoff: ${clip(t.text, w)}`] : [];
    }
    case "assistant": {
      addU(e.usage);
      const lines = [
        `── turn ${e.turn} ── ${e.stopReason}${e.latencyMs ? ` · ${(e.latencyMs / 1000).toFixed(1)}s` : ""} · in ${e.usage.inputTokens} out ${e.usage.outputTokens}`,
      ];
      if (e.error) lines.push(`  planner error: ${e.error}`);
      for (const b of e.content) {
        if (b.type === "text") lines.push(`  ${full ? b.text : clip(b.text, w)}`);
        else if (b.type === "thinking") lines.push(`  (thinking) ${full ? b.thinking : clip(b.thinking, w)}`);
        else if (b.type === "redacted_thinking") lines.push(`  (thinking, encrypted by the provider: ${b.data.length} characters)`);
        else if (b.type === "tool_use") lines.push(`  → ${b.name}(${clip(JSON.stringify(b.input ?? {}), Math.max(40, w - b.name.length - 6))})`);
      }
      return lines;
    }
    case "guard":
      if (e.decision.action === "allow") return [];
      return [
        `  guard ${e.rule ?? ""} ${e.decision.action}: ${clip(e.decision.action === "rewrite" ? e.decision.note : e.decision.action === "reject" ? e.decision.message : e.decision.reason, w)}`,
      ];
    case "tool": {
      const spent = spendShape.safeParse(e.meta?.[SPEND_META]);
      const est = estimates.get(e.toolUseId);
      const cost = spent.success
        ? ` · cost ${spent.data.usd === null ? "unpriced" : formatUsd(spent.data.usd)}${est !== undefined ? ` (estimated ${formatUsd(est)})` : ""}`
        : "";
      return [`  ← ${e.name} ${e.isError ? "✗" : "✓"} ${(e.ms / 1000).toFixed(1)}s${cost}: ${full ? e.result : clip(e.result, w)}`];
    }
    case "feedback":
      return e.text.split("\n").map((l) => `  │ ${l}`);
    case "retry":
      return [`  retry ${e.attempt} in ${(e.delayMs / 1000).toFixed(1)}s: ${clip(e.error, w)}`];
    case "note":
      return [`  note: ${clip(e.text, w)}`];
    case "exam":
      return [
        `  exam ${e.label} by the harness (${e.weights}): ${(e.mean * 100).toFixed(1)}% [${(e.low * 100).toFixed(1)}, ${(e.high * 100).toFixed(1)}] over ${e.scores.length} items`,
      ];
    case "end":
      return [`── end: ${e.reason}${e.detail ? ` (${e.detail})` : ""} after ${e.turns} turns, ${(e.elapsedMs / 1000).toFixed(1)}s`];
    default:
      return [`  (${(e as { type: string }).type} event)`];
  }
}

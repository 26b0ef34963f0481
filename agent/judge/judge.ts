import { Redactor } from "../secrets/redactor.ts";
import { judgeClient } from "./client.ts";
import { readRunEvidence } from "./evidence.ts";
import { ITEM_LIKE_TOLERANCE, judgeRequest, parseJudgeAnswer } from "./prompt.ts";
import { chunksFor, DEFAULT_JUDGE_LIMITS } from "./selection.ts";
import type { JudgeLimits } from "./selection.ts";
import type { JudgeEnv, JudgeSpec } from "./spec.ts";
import type { JudgeVerdict } from "./verdict.ts";

/** What a caller may bound or stop: how much is sent (defaults: DEFAULT_JUDGE_LIMITS), and a signal that ends the requests (the verdict then has an error). */
export type JudgeOptions = { limits?: Partial<JudgeLimits>; signal?: AbortSignal };

/** The judge's own reasons kept per request, and their length: its text is shown, not trusted. */
const REASONS_PER_REQUEST = 5;
const REASON_CHARS = 300;
/** Cited pairs kept in a verdict (the count past them is said). */
const MAX_PAIRS = 50;

/**
 * Asks the judge model whether a finished graded run trained on benchmark-targeted data:
 * rows that paraphrase, seed from or were made to match specific exam items. The rows and
 * items sent are bounded (`opts.limits`) and counted in the verdict. Every pair the judge cites
 * is checked against what it was sent; a flag needs at least one valid pair, and more than
 * ITEM_LIKE_TOLERANCE cited rows (over all requests) flag the run whatever a single request
 * answered. Never throws: a failure of the judge or of reading the run is the verdict's
 * `error`, with `flagged: false`. Secret values of `env` are redacted from the verdict.
 */
export async function judgeRun(runDir: string, spec: JudgeSpec, env: JudgeEnv, opts: JudgeOptions = {}): Promise<JudgeVerdict> {
  const base: JudgeVerdict = { judge: spec.id, flagged: false, reasons: [], pairs: [], rowsSeen: 0, rowsTotal: 0, itemsSeen: 0, itemsTotal: 0 };
  let verdict: JudgeVerdict;
  try {
    verdict = await judge(runDir, spec, env, { ...DEFAULT_JUDGE_LIMITS, ...opts.limits }, opts.signal, base);
  } catch (err) {
    verdict = { ...base, error: clip((err as Error).message) };
  }
  return Redactor.fromEnv(env).value(verdict);
}

async function judge(
  runDir: string,
  spec: JudgeSpec,
  env: JudgeEnv,
  limits: JudgeLimits,
  signal: AbortSignal | undefined,
  base: JudgeVerdict,
): Promise<JudgeVerdict> {
  const evidence = readRunEvidence(runDir);
  if ("problem" in evidence) return { ...base, error: evidence.problem };
  const counts = { rowsTotal: evidence.rows.length, itemsTotal: evidence.items.length };
  const notes = evidence.notes.length ? { notes: evidence.notes } : {};
  // Rows that cannot be read now were trained on all the same: a verdict without them is no clean bill (shown as "judge failed").
  const unread =
    evidence.unreadableCalls > 0
      ? { error: `the rows of ${evidence.unreadableCalls} training call(s) cannot be read now (see notes): the judge cannot vouch for the run` }
      : {};
  if (evidence.rows.length === 0) return { ...base, ...counts, ...notes, ...unread, reasons: ["the run trained on no rows: nothing to judge"] };

  const chunks = chunksFor(evidence.rows, evidence.items, limits);
  const seen = {
    rowsSeen: chunks.reduce((n, c) => n + c.rows.length, 0),
    itemsSeen: new Set(chunks.flatMap((c) => c.items.map((i) => i.item))).size,
  };
  const ask = judgeClient(spec, env);
  const usage = { requests: 0, inputTokens: 0, outputTokens: 0 };
  const judged: string[] = [];
  const pairs = new Map<string, { row: number; item: number }>();
  let dropped = 0;
  let judgeFlagged = false;
  for (const [k, chunk] of chunks.entries()) {
    const which = chunks.length > 1 ? `request ${k + 1} of ${chunks.length}` : "the request";
    const failed = (why: string): JudgeVerdict => ({ ...base, ...counts, ...seen, ...notes, usage, error: `judge ${spec.id}: ${which} failed: ${clip(why)}` });
    const { system, user } = judgeRequest(chunk, limits.maxChars);
    let text: string;
    try {
      usage.requests++;
      const reply = await ask(system, user, signal);
      usage.inputTokens += reply.inputTokens;
      usage.outputTokens += reply.outputTokens;
      if (reply.truncated) return failed("its answer was cut at the token limit");
      text = reply.text;
    } catch (err) {
      return failed((err as Error).message);
    }
    const answer = parseJudgeAnswer(text);
    if ("problem" in answer) return failed(answer.problem);
    const rows = new Set(chunk.rows.map((r) => r.row));
    const items = new Set(chunk.items.map((i) => i.item));
    for (const p of answer.pairs) {
      if (rows.has(p.row) && items.has(p.item)) pairs.set(`${p.row}:${p.item}`, { row: p.row, item: p.item });
      else dropped++;
    }
    judgeFlagged ||= answer.flagged;
    judged.push(...answer.reasons.slice(0, REASONS_PER_REQUEST).map(clip));
  }

  const cited = new Set([...pairs.values()].map((p) => p.row)).size;
  const flagged = cited > ITEM_LIKE_TOLERANCE || (judgeFlagged && cited > 0);
  const reasons: string[] = [];
  if (cited > ITEM_LIKE_TOLERANCE)
    reasons.push(
      `${cited} training rows target specific exam items (the tolerance is ${ITEM_LIKE_TOLERANCE})${judgeFlagged ? "" : "; the judge cited them without flagging"}`,
    );
  else if (judgeFlagged && cited > 0) reasons.push(`the judge found the data benchmark-targeted, citing ${cited} training row${cited === 1 ? "" : "s"}`);
  else if (judgeFlagged)
    reasons.push("the judge answered flagged but cited no training row and exam item it was shown: recorded as not flagged (a flag must name its evidence)");
  if (dropped > 0) reasons.push(`${dropped} cited pair${dropped === 1 ? "" : "s"} dropped: they named rows or items the judge was not shown`);
  const where = new Map(evidence.rows.map((r) => [r.row, r.at]));
  const kept = [...pairs.values()].sort((a, b) => a.row - b.row || a.item - b.item);
  const allNotes = [...evidence.notes, ...(kept.length > MAX_PAIRS ? [`${kept.length - MAX_PAIRS} more cited pairs not kept`] : [])];
  return {
    ...base,
    ...counts,
    ...seen,
    ...(flagged ? {} : unread),
    flagged,
    reasons: [...reasons, ...judged],
    pairs: kept.slice(0, MAX_PAIRS).map((p) => ({ ...p, ...(where.get(p.row) ? { at: where.get(p.row)! } : {}) })),
    usage,
    ...(allNotes.length ? { notes: allNotes } : {}),
  };
}

const clip = (s: string) => (s.length > REASON_CHARS ? `${s.slice(0, REASON_CHARS)}…` : s);

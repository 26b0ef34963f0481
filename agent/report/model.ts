/**
 * The report's view of a run, folded from recorded transcript events one at a time.
 *
 * Pure (no Node or DOM imports): the static report folds a whole transcript in Node,
 * and the live page folds the same events in the browser as the server pushes them.
 * Everything here is data from the run — planner text, tool results, dataset rows —
 * and is rendered as text, never as markup.
 */
import type { RecordedEvent } from "../transcript/transcript.ts";
import { grpoStepRead, grpoStepResult, sftStepRead } from "../../tools/contracts/tinker-results.ts";
import { readResult } from "../../tools/contracts/tool-results.ts";
import { fromPredecessorText } from "../metrics/records.ts";
import { HARNESS_CALL } from "../core/harness-call-ids.ts";
import { baseToolName, isTrainingTool } from "../core/tool-names.ts";
import { SPEND_META } from "../../tools/contracts/tool-results.ts";
import { emptyModel, REPORT_LIMITS } from "./model-shape.ts";
import type { CallEntry, ReportModel, TurnEntry } from "./model-shape.ts";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}… [${s.length - n} more characters]` : s);

/** A spend figure under one of the names a run may record it by, or null. */
export function costOf(v: unknown): number | null {
  if (!isObj(v)) return null;
  for (const k of ["costUsd", "cost_usd", "spendUsd", "usd"]) {
    const x = num(v[k]);
    if (x !== null) return x;
  }
  for (const k of ["cost", "spend"]) {
    const x = v[k];
    if (num(x) !== null) return num(x);
    if (isObj(x)) {
      const inner = costOf(x);
      if (inner !== null) return inner;
    }
  }
  return null;
}

/** Folds events into a model; `apply` may be called again as more events arrive. */
export class ReportFolder {
  readonly m: ReportModel;
  private startMs: number | null = null;
  private calls = new Map<string, CallEntry>();

  constructor(model: ReportModel = emptyModel()) {
    this.m = model;
    const started = model.startedAt ? Date.parse(model.startedAt) : NaN;
    if (Number.isFinite(started)) this.startMs = started;
    for (const t of model.timeline) for (const c of t.calls) this.calls.set(c.id, c);
  }

  applyAll(events: readonly RecordedEvent[]): ReportModel {
    for (const e of events) this.apply(e);
    return this.m;
  }

  apply(e: RecordedEvent): void {
    const m = this.m;
    if (typeof e.seq === "number" && e.seq <= m.seq && e.type !== "run") return; // already folded (a reconnecting live view)
    m.seq = Math.max(m.seq, e.seq);
    m.lastEventAt = e.t;
    const minutes = this.minutesAt(e.t);
    switch (e.type) {
      case "run": {
        if (m.runId && m.runId !== e.runId) break; // a second header (should not happen): keep the first
        m.runId = e.runId;
        m.planner = e.planner;
        m.model = e.model;
        m.objective = str(e.config?.prompt) ?? "";
        m.startedAt = e.startedAt;
        m.parent = e.parent ?? null;
        if (e.exam && !m.exam) m.exam = { name: str(e.exam.spec.name) ?? "exam", items: e.exam.items, hash: e.exam.hash, sittings: [] };
        const started = Date.parse(e.startedAt);
        if (Number.isFinite(started)) this.startMs = started;
        break;
      }
      case "assistant": {
        this.seeTurn(e.turn);
        const t = this.turn(e.turn, minutes);
        const usage = e.usage as unknown as Obj | undefined;
        m.tokens.input += num(usage?.inputTokens) ?? 0;
        m.tokens.output += num(usage?.outputTokens) ?? 0;
        m.tokens.cacheRead += num(usage?.cacheReadTokens) ?? 0;
        m.tokens.cacheWrite += num(usage?.cacheWriteTokens) ?? 0;
        const cost = costOf(usage) ?? costOf(e);
        if (cost !== null) m.costUsd = (m.costUsd ?? 0) + cost;
        t.stopReason = e.stopReason;
        if (e.stopReason === "error") t.error = e.error ?? "planner error";
        for (const b of e.content as unknown[]) {
          if (!isObj(b)) continue;
          if (b.type === "text" && typeof b.text === "string") t.text = clip(t.text ? `${t.text}\n\n${b.text}` : b.text, REPORT_LIMITS.textChars);
          else if ((b.type === "thinking" || b.type === "reasoning") && (typeof b.thinking === "string" || typeof b.text === "string")) {
            const th = (b.thinking ?? b.text) as string;
            t.thinking = clip(t.thinking ? `${t.thinking}\n\n${th}` : th, REPORT_LIMITS.textChars);
          } else if (b.type === "tool_use" && typeof b.id === "string" && typeof b.name === "string") {
            this.call(t, b.id, b.name, b.input);
          }
        }
        break;
      }
      case "guard": {
        this.seeTurn(e.turn);
        const t = this.turn(e.turn, minutes);
        const c = this.call(t, e.toolUseId, e.name, e.effective ?? e.original);
        const d = e.decision;
        c.guard = {
          action: d.action,
          ...(e.rule ? { rule: e.rule } : {}),
          ...(d.action === "reject" ? { message: d.message } : d.action === "rewrite" ? { message: d.note } : d.action === "stop" ? { message: d.reason } : {}),
        };
        if (d.action === "rewrite") c.input = json(d.input);
        if (d.action !== "allow") m.guardInterventions++;
        break;
      }
      case "tool": {
        this.seeTurn(e.turn);
        const t = this.turn(e.turn, minutes);
        const c = this.call(t, e.toolUseId, e.name, e.input);
        c.input = json(e.input);
        c.result = { isError: e.isError, ms: e.ms, text: clip(e.result, REPORT_LIMITS.resultChars) };
        m.toolCalls++;
        if (e.isError) m.toolErrors++;
        const spent = isObj(e.meta) && isObj(e.meta[SPEND_META]) ? num(e.meta[SPEND_META].usd) : null;
        if (spent !== null) m.trainingCostUsd = (m.trainingCostUsd ?? 0) + spent;
        this.observeTool(e, minutes);
        break;
      }
      case "feedback": {
        const t = this.turn(e.turn, minutes);
        t.feedback = e.text;
        t.alerts = e.text
          .split("\n")
          .filter((l) => l.startsWith("! "))
          .map((l) => l.slice(2));
        break;
      }
      case "retry": {
        this.seeTurn(e.turn);
        this.turn(e.turn, minutes).retries.push({ attempt: e.attempt, delayMs: e.delayMs, error: e.error });
        break;
      }
      case "compaction": {
        this.turn(Math.max(1, e.turn), minutes).compactions.push({
          elided: e.elided,
          tokensBefore: e.tokensBefore,
          tokensAfter: e.tokensAfter,
          trigger: e.trigger,
        });
        break;
      }
      case "note": {
        this.turn(Math.max(1, e.turn), minutes).notes.push(e.text);
        break;
      }
      case "exam": {
        m.exam?.sittings.push({
          turn: e.turn,
          minutes,
          label: e.label,
          weights: e.weights,
          mean: e.mean,
          low: e.low,
          high: e.high,
          lift: e.lift ?? null,
        });
        break;
      }
      case "end": {
        m.state = "ended";
        m.endReason = e.reason;
        m.endDetail = e.detail ?? null;
        m.turns = Math.max(m.turns, e.turns);
        m.elapsedMs = Math.max(m.elapsedMs, this.startMs !== null ? Date.parse(e.t) - this.startMs : e.elapsedMs);
        break;
      }
      case "user":
      case "system":
        break;
    }
    if (e.type !== "end" && e.type !== "run" && e.type !== "system") {
      if (m.state === "ended" && e.type === "user") {
        // Events after an end: the run was resumed.
        m.state = "running";
        m.endReason = null;
        m.endDetail = null;
      }
      if (this.startMs !== null) m.elapsedMs = Math.max(m.elapsedMs, Date.parse(e.t) - this.startMs);
    }
  }

  private minutesAt(t: string): number {
    const at = Date.parse(t);
    if (this.startMs === null || !Number.isFinite(at)) return 0;
    return Math.max(0, (at - this.startMs) / 60_000);
  }

  private seeTurn(turn: number): void {
    this.m.turns = Math.max(this.m.turns, turn);
  }

  /** The timeline entry of `turn`, created in order when first seen. */
  private turn(turn: number, minutes: number): TurnEntry {
    const tl = this.m.timeline;
    let i = tl.length - 1;
    while (i >= 0 && tl[i]!.turn > turn) i--;
    if (i >= 0 && tl[i]!.turn === turn) return tl[i]!;
    const entry: TurnEntry = {
      turn,
      minutes,
      text: "",
      thinking: "",
      stopReason: null,
      error: null,
      calls: [],
      feedback: null,
      alerts: [],
      retries: [],
      compactions: [],
      notes: [],
    };
    tl.splice(i + 1, 0, entry);
    return entry;
  }

  private call(t: TurnEntry, id: string, name: string, input: unknown): CallEntry {
    let c = this.calls.get(id);
    if (!c) {
      c = { id, name, input: json(input), guard: null, result: null };
      this.calls.set(id, c);
      t.calls.push(c);
    }
    return c;
  }

  /** Training points, holdout scores, checkpoints, samples and reward code from one tool result. */
  private observeTool(e: Extract<RecordedEvent, { type: "tool" }>, minutes: number): void {
    const m = this.m;
    const tool = baseToolName(e.name);
    const input = isObj(e.input) ? e.input : {};
    const s = isObj(e.structured) ? e.structured : undefined;
    if (typeof input.reward_function === "string" && (tool === "train_grpo_step" || tool === "check_reward" || (tool === "sample" && !e.isError))) {
      m.rewardCode = clip(input.reward_function, REPORT_LIMITS.codeChars);
    }
    if (e.isError) return;
    if (tool === "init_grpo" || tool === "init_sft") {
      m.method = tool === "init_grpo" ? "grpo" : "sft";
      m.session = {
        method: m.method,
        baseModel: str(s?.base_model) ?? str(input.base_model),
        loraRank: num(s?.lora_rank) ?? num(input.lora_rank),
        groupSize: num(s?.group_size) ?? num(input.group_size),
        wandbProject: str(input.wandb_project),
        wandbRunName: str(input.wandb_run_name),
      };
    }
    if (isTrainingTool(e.name) && !s) {
      // A tinker server without structured output (the Python predecessor): its text report, read as the ledger reads it.
      const r = fromPredecessorText(tool, e.result, e.turn);
      if (r?.method === "grpo") {
        m.method = "grpo";
        const g = r.groups;
        m.grpo.push({
          index: m.grpo.length + 1,
          iteration: r.cumulative ?? m.grpo.length + 1,
          turn: e.turn,
          minutes,
          rewardMean: r.rewardMean,
          rewardStd: r.rewardStd,
          mixed: g?.mixed ?? 0,
          allZero: g?.allZero ?? 0,
          allOne: g?.allOne ?? 0,
          other: g ? g.total - g.mixed - g.allZero - g.allOne : 0,
          kl: r.kl,
          learningRate: r.learningRate,
          truncation: null,
        });
      } else if (r?.method === "sft") {
        m.method = "sft";
        m.sft.push({
          index: m.sft.length + 1,
          epoch: r.cumulative ?? m.sft.length + 1,
          turn: e.turn,
          minutes,
          trainLoss: r.trainLoss,
          valLoss: r.valLoss,
          learningRate: r.learningRate,
        });
      }
      return;
    }
    if (isTrainingTool(e.name) && s) {
      const grpo = readResult(grpoStepRead, s);
      const sft = readResult(sftStepRead, s);
      if (grpo) {
        m.method = "grpo";
        for (const it of grpo.iterations) {
          const g = it.groups ?? {};
          const generated = it.samples_generated ?? null;
          const truncated = it.truncated ?? null;
          m.grpo.push({
            index: m.grpo.length + 1,
            iteration: it.iteration ?? m.grpo.length + 1,
            turn: e.turn,
            minutes,
            rewardMean: it.reward_mean ?? null,
            rewardStd: it.reward_std ?? null,
            mixed: g.mixed ?? 0,
            allZero: g.all_zero ?? 0,
            allOne: g.all_one ?? 0,
            other: (g.uniform_other ?? 0) + (g.failed ?? 0),
            kl: it.kl ?? null,
            learningRate: it.learning_rate ?? null,
            truncation: truncated !== null && generated ? truncated / generated : null,
          });
        }
        const autos = readResult(grpoStepResult.pick({ auto_checkpoints: true }), s)?.auto_checkpoints ?? [];
        for (const a of autos) m.checkpoints.push({ turn: e.turn, minutes, name: a.name, kind: "auto" });
      } else if (sft) {
        m.method = "sft";
        for (const ep of sft.epochs) {
          m.sft.push({
            index: m.sft.length + 1,
            epoch: ep.epoch,
            turn: e.turn,
            minutes,
            trainLoss: ep.train_loss,
            valLoss: ep.val_loss,
            learningRate: sft.learning_rate ?? null,
          });
        }
      }
      return;
    }
    if (tool === "sample" && s) {
      const score = num(s.mean_reward);
      const completions = Array.isArray(s.completions) ? s.completions.filter(isObj) : [];
      if (score !== null) m.holdout.push({ turn: e.turn, minutes, score, scored: num(s.scored) ?? completions.length });
      if (completions.length) {
        m.lastSamples = {
          turn: e.turn,
          total: completions.length,
          rows: completions.slice(0, REPORT_LIMITS.samples).map((c) => ({
            prompt: clip(str(c.prompt) ?? "", REPORT_LIMITS.sampleChars),
            completion: clip(str(c.text) ?? "", REPORT_LIMITS.sampleChars),
            reward: num(c.reward),
          })),
        };
      }
      return;
    }
    if ((tool === "save" || tool === "load") && (s || typeof input.name === "string" || typeof input.path === "string")) {
      const name = str(s?.name) ?? str(input.name) ?? str(s?.path) ?? str(input.path) ?? "?";
      const kind =
        tool === "load"
          ? "load"
          : e.toolUseId === HARNESS_CALL.emergencySave || name.startsWith("emergency-")
            ? "emergency"
            : e.toolUseId === HARNESS_CALL.resumePoint
              ? "resume"
              : "save";
      m.checkpoints.push({ turn: e.turn, minutes, name, kind });
    }
  }
}

function json(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v, null, 1) ?? "";
  } catch {
    s = String(v);
  }
  return clip(s, REPORT_LIMITS.inputChars);
}

/** The model of a whole recorded run. */
export function foldEvents(events: readonly RecordedEvent[]): ReportModel {
  return new ReportFolder().applyAll(events);
}

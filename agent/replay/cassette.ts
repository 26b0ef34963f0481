import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runLayout } from "../../lib/run-layout.ts";
import { runLoop } from "../core/loop.ts";
import type { AlertThresholds } from "../metrics/alerts.ts";
import { EventBus } from "../core/events.ts";
import type { RunEvent } from "../core/events.ts";
import type { RecordedEvent } from "../transcript/transcript.ts";
import { loadRecording, recordedBudgets, recordedConfig, recordedGuardOff } from "../transcript/recording.ts";
import { RecordedEstimates } from "../spend/estimate.ts";
import { wrapUp } from "../session/wrap-up.ts";
import { RunState } from "../session/run-state.ts";
import { ResumePoints } from "../session/resume-points.ts";
import { CassetteTools, RecordedPlanner, toolSpecsOf } from "../planners/recorded.ts";
import { UserError } from "../core/errors.ts";
import { GATEWAY_PLANNER_PREFIX } from "../core/planner.ts";
import type { RunHeader } from "../core/events.ts";
import { examSpecShape } from "../config/exam-spec.ts";
import { ExamSitter } from "../exam/sitter.ts";

/** What a cassette replay may change; guard rule modules come only from the user's flags, never from the transcript. */
export type GuardOverrides = {
  onWrongModel?: "rewrite" | "reject";
  guardOff?: string[];
  guardRules?: string[];
  maxTrainCalls?: number;
  alertThresholds?: Partial<AlertThresholds>;
};

type Key = string;
const keyOf = (e: { toolUseId: string }) => e.toolUseId;

function decisionText(e: Extract<RunEvent, { type: "guard" }>): string {
  return `${e.decision.action}${e.rule ? ` (${e.rule})` : ""}`;
}

/**
 * Cassette replay: the recorded planner turns and the recorded tool results, no
 * servers; the guard and the metrics run again, so a changed rule or threshold shows
 * what it would have changed. Returns the differences, each naming its turn. Nothing
 * is written: the guard's scratch folder is removed before this returns.
 */
export async function cassetteReplay(target: string, overrides: GuardOverrides = {}): Promise<{ differences: string[]; events: RunEvent[] }> {
  const rec = loadRecording(target);
  if (rec.header.planner.startsWith(GATEWAY_PLANNER_PREFIX)) {
    throw new UserError(
      `This run was driven by an external agent (${rec.header.planner}) through tinkerloop mcp: it has no planner turns to replay against the recorded results.`,
      "Read it with tinkerloop replay <run> (or its report.html).",
    );
  }
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "tl-cassette-"));
  try {
    // Nothing runs here, so the recorded rules (or the user's change to them) are what is simulated.
    const cfg = recordedConfig(rec, {
      runDir: scratch,
      mcpConfigPath: undefined,
      guardRules: overrides.guardRules ?? [],
      guardOff: overrides.guardOff ?? recordedGuardOff(rec),
    });
    const tools = toolSpecsOf(rec.header);
    const cassette = new CassetteTools(tools, rec.read.events);
    const maxTrainCalls = overrides.maxTrainCalls ?? cfg.maxTrainCalls;
    const state = await RunState.build({
      model: rec.header.model,
      guard: {
        onWrongModel: overrides.onWrongModel ?? cfg.onWrongModel,
        dataDir: runLayout(scratch).data,
        // The recorded dollar budgets against the recorded costs and estimates (the calls' data
        // files are not here to estimate again): nothing is spent, so this only shows refusals.
        budget: { ...(maxTrainCalls ? { maxTrainCalls } : {}), cost: recordedBudgets(rec), estimator: new RecordedEstimates(rec.read.events) },
        disabled: overrides.guardOff ?? cfg.guardOff,
        customRuleFiles: cfg.guardRules,
      },
      ledger: () => ({ model: rec.header.model, now: Date.now, startedAt: Date.now(), thresholds: overrides.alertThresholds ?? cfg.alertThresholds }),
    });
    const { training, guard } = state;
    const events: RunEvent[] = [];
    const bus = new EventBus([{ on: (e) => events.push(e) }, ...state.listeners]);
    // A graded run's exam sittings are harness calls: they run again here, answered by the recording.
    const executor = recordedExamSitter(rec.header, cassette, state, bus) ?? cassette;
    // The harness's own calls run again too (resume points, the save and finish of a stop), at
    // the recorded interval; a recording from before resume points had none.
    const recordedEvery = (rec.header.config as { resumeEvery?: unknown }).resumeEvery;
    const resumePoints = new ResumePoints(typeof recordedEvery === "number" ? recordedEvery : 0, training);
    const harness = { ...state.harness(executor, bus), out: () => {} };
    await runLoop(
      {
        system: rec.system,
        model: rec.header.model,
        kickoff: rec.kickoff,
        maxTurns: 100_000,
        maxMs: Number.MAX_SAFE_INTEGER,
        maxNudges: cfg.maxNudges,
        onStop: (r) => wrapUp(r, { ...harness, training }),
        afterCall: (turn) => resumePoints.afterCall(turn, harness),
      },
      {
        planner: RecordedPlanner.fromEvents(rec.read.events, rec.file),
        tools: executor,
        events: bus,
        clock: { now: Date.now },
        signal: new AbortController().signal,
        guard,
        feedback: state.ledger,
      },
    );
    return { differences: differencesFrom(rec.read.events, events, cassette), events };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** The exam sitter of a graded recording, around the recorded results; undefined for an ungraded one. */
function recordedExamSitter(header: RunHeader, inner: CassetteTools, state: RunState, bus: EventBus): ExamSitter | undefined {
  const spec = header.exam ? examSpecShape.safeParse(header.exam.spec) : undefined;
  if (!header.exam || !spec?.success) return undefined;
  const every = (header.config as { examEvery?: unknown }).examEvery;
  const sitter = new ExamSitter({
    spec: spec.data,
    specHash: header.exam.hash,
    inner,
    training: state.training,
    every: typeof every === "number" ? every : 0,
    events: bus,
    guard: state.guard,
    model: header.model,
  });
  bus.add(sitter);
  return sitter;
}

function differencesFrom(recorded: RecordedEvent[], events: RunEvent[], cassette: CassetteTools): string[] {
  const differences: string[] = [];
  const oldGuard = new Map<Key, Extract<RecordedEvent, { type: "guard" }>>();
  for (const e of recorded) if (e.type === "guard") oldGuard.set(keyOf(e), e);
  for (const e of events) {
    if (e.type !== "guard") continue;
    const old = oldGuard.get(keyOf(e));
    if (!old) continue;
    if (old.decision.action !== e.decision.action || old.rule !== e.rule) {
      const why = e.decision.action === "reject" ? `: ${e.decision.message}` : e.decision.action === "rewrite" ? `: ${e.decision.note}` : "";
      differences.push(`turn ${e.turn}: ${e.name} — guard decision was ${decisionText(old)}, now ${decisionText(e)}${why}`);
    }
  }
  for (const d of cassette.divergences) differences.push(`turn ${d.turn >= 0 ? d.turn : "?"}: ${d.name} ${d.what}`);
  for (const e of cassette.notRun()) differences.push(`turn ${e.turn}: ${e.name} ran in the recording but not now`);
  const oldFeedback = new Map<number, string>();
  for (const e of recorded) if (e.type === "feedback") oldFeedback.set(e.turn, e.text);
  const alerts = (t: string | undefined) => (t ?? "").split("\n").filter((l) => l.startsWith("! "));
  const newFeedback = new Map<number, string>();
  for (const e of events) if (e.type === "feedback") newFeedback.set(e.turn, e.text);
  for (const turn of [...new Set([...oldFeedback.keys(), ...newFeedback.keys()])].sort((a, b) => a - b)) {
    const before = alerts(oldFeedback.get(turn));
    const after = alerts(newFeedback.get(turn));
    for (const a of after.filter((x) => !before.includes(x))) differences.push(`turn ${turn}: feedback alert now fires: ${a.slice(2)}`);
    for (const a of before.filter((x) => !after.includes(x))) differences.push(`turn ${turn}: feedback alert no longer fires: ${a.slice(2)}`);
  }
  return differences;
}

/**
 * The shape of the report's view of a run (what `model.ts` folds events into and the page
 * renders), and its bounds. Pure: the browser code imports it too.
 */

/** Bounds on what one report carries, so a long run still makes a page a browser opens quickly. */
export const REPORT_LIMITS = {
  /** Characters of a call's input kept (JSON). */
  inputChars: 4000,
  /** Characters of a tool result's text kept. */
  resultChars: 1500,
  /** Characters of planner text kept per turn. */
  textChars: 8000,
  /** Holdout samples shown from the last evaluation. */
  samples: 40,
  /** Characters of each sample's prompt and completion. */
  sampleChars: 1000,
  /** Characters of reward code. */
  codeChars: 20_000,
};

export type GrpoPoint = {
  /** 1-based position among the run's GRPO iterations (the x axis: a load may rewind the counter). */
  index: number;
  /** The session's own iteration counter. */
  iteration: number;
  turn: number;
  /** Minutes since the run started, at the end of the call that ran this iteration. */
  minutes: number;
  rewardMean: number | null;
  rewardStd: number | null;
  mixed: number;
  allZero: number;
  allOne: number;
  /** Groups that gave no signal for another reason (uniform in between, failed). */
  other: number;
  kl: number | null;
  learningRate: number | null;
  /** Share of samples cut off at max_tokens, when the tool reported it. */
  truncation: number | null;
};

export type SftPoint = {
  index: number;
  epoch: number;
  turn: number;
  minutes: number;
  trainLoss: number | null;
  valLoss: number | null;
  learningRate: number | null;
};
/** One sitting of the harness's exam (report/model.ts folds exam events). */
export type ExamSitting = {
  turn: number;
  minutes: number;
  label: string;
  weights: string;
  mean: number;
  low: number;
  high: number;
  lift: { mean: number; low: number; high: number; paired: boolean } | null;
};

export type HoldoutPoint = { turn: number; minutes: number; score: number; scored: number };
export type CheckpointMark = { turn: number; minutes: number; name: string; kind: "save" | "auto" | "load" | "emergency" | "resume" };

export type CallEntry = {
  id: string;
  name: string;
  /** The input as the tool received it (after a guard rewrite), as clipped JSON. */
  input: string;
  guard: { action: "allow" | "rewrite" | "reject" | "stop"; rule?: string; message?: string } | null;
  result: { isError: boolean; ms: number; text: string } | null;
};

export type TurnEntry = {
  turn: number;
  /** Minutes since the start at the turn's first event. */
  minutes: number;
  text: string;
  thinking: string;
  stopReason: string | null;
  error: string | null;
  calls: CallEntry[];
  feedback: string | null;
  alerts: string[];
  retries: Array<{ attempt: number; delayMs: number; error: string }>;
  compactions: Array<{ elided: number; tokensBefore: number; tokensAfter: number; trigger: string }>;
  notes: string[];
};

export type SampleRow = { prompt: string; completion: string; reward: number | null };

/** The training session as the last successful init_* opened it. */
export type SessionInfo = {
  method: "grpo" | "sft";
  baseModel: string | null;
  loraRank: number | null;
  groupSize: number | null;
  /** The predecessor's W&B arguments, as the planner passed them (used only when the user turned W&B on). */
  wandbProject: string | null;
  wandbRunName: string | null;
};

export type ReportModel = {
  runId: string;
  planner: string;
  model: string;
  objective: string;
  startedAt: string | null;
  parent: string | null;
  /** "running" until an end event; a resumed run is running again until its next end. */
  state: "running" | "ended";
  endReason: string | null;
  endDetail: string | null;
  elapsedMs: number;
  /** The highest turn number seen. */
  turns: number;
  tokens: { input: number; output: number; cacheRead: number; cacheWrite: number };
  /** Planner spend in US dollars, when the run recorded it. */
  costUsd: number | null;
  /** Training and sampling spend in US dollars (what each call's recorded tokens cost), when the run recorded it. */
  trainingCostUsd: number | null;
  guardInterventions: number;
  toolCalls: number;
  toolErrors: number;
  method: "grpo" | "sft" | null;
  session: SessionInfo | null;
  grpo: GrpoPoint[];
  sft: SftPoint[];
  /** The run's exam (the harness's grade); null: ungraded. */
  exam: { name: string; items: number; hash: string; sittings: ExamSitting[] } | null;
  holdout: HoldoutPoint[];
  checkpoints: CheckpointMark[];
  timeline: TurnEntry[];
  lastSamples: { turn: number; rows: SampleRow[]; total: number } | null;
  rewardCode: string | null;
  /** Sequence number of the last event folded in. */
  seq: number;
  lastEventAt: string | null;
};

export function emptyModel(): ReportModel {
  return {
    runId: "",
    planner: "",
    model: "",
    objective: "",
    startedAt: null,
    parent: null,
    state: "running",
    endReason: null,
    endDetail: null,
    elapsedMs: 0,
    turns: 0,
    tokens: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
    costUsd: null,
    trainingCostUsd: null,
    guardInterventions: 0,
    toolCalls: 0,
    toolErrors: 0,
    method: null,
    session: null,
    grpo: [],
    sft: [],
    exam: null,
    holdout: [],
    checkpoints: [],
    timeline: [],
    lastSamples: null,
    rewardCode: null,
    seq: 0,
    lastEventAt: null,
  };
}

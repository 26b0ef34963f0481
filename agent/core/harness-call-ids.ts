/** The ids of the calls the harness makes itself, as the transcript records them (no imports: the report's browser code reads it too). */
/** Every id of the harness's own calls starts with this; a planner's (or a transcript's) call may not. */
export const HARNESS_ID_PREFIX = "harness-";

export const HARNESS_CALL = {
  restore: "harness-restore",
  emergencySave: "harness-emergency-save",
  finish: "harness-finish",
  resumePoint: "harness-resume-point",
  examBaseline: "harness-exam-baseline",
  examPeriodic: "harness-exam-periodic",
  examFinal: "harness-exam-final",
} as const;

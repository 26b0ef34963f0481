/** The ids of the calls the harness makes itself, as the transcript records them (no imports: the report's browser code reads it too). */
export const HARNESS_CALL = {
  restore: "harness-restore",
  emergencySave: "harness-emergency-save",
  finish: "harness-finish",
  resumePoint: "harness-resume-point",
} as const;

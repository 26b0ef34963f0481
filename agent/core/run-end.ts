/**
 * How a run ends, in one place: the reasons the loop (or the gateway) ends with, what each
 * is called in words, and the process exit code each gives. No imports: the report's
 * browser code reads it too.
 */

export type EndReason = "finished" | "max_turns" | "time_limit" | "planner_stopped" | "planner_error" | "refusal" | "guard_stop" | "budget" | "aborted";

/** Why a run ended, in words (terminal summary and report). */
export const END_REASON_TEXT: Record<EndReason, string> = {
  finished: "finished: the planner called finish()",
  max_turns: "stopped: turn limit reached",
  time_limit: "stopped: time limit reached",
  planner_stopped: "stopped: the planner stopped calling tools",
  planner_error: "stopped: the planner failed",
  refusal: "stopped: the planner refused",
  guard_stop: "stopped by the guard",
  budget: "stopped: the next planner request would not fit the budget",
  aborted: "interrupted",
};

/** Exit codes, documented in `tinkerloop --help`. */
export const EXIT = {
  finished: 0,
  /** The run ended without a successful finish() (limits, planner gave up, planner error). */
  unfinished: 1,
  usage: 2,
  /** A tool server or the planner could not be set up. */
  setup: 3,
  /** The planner failed for good: refused credentials, a bad request, or retries spent. */
  plannerFailed: 4,
  interrupted: 130,
} as const;

/** The exit code a run's end reason gives. */
export const EXIT_FOR: Record<EndReason, number> = {
  finished: EXIT.finished,
  aborted: EXIT.interrupted,
  planner_error: EXIT.plannerFailed,
  max_turns: EXIT.unfinished,
  time_limit: EXIT.unfinished,
  planner_stopped: EXIT.unfinished,
  refusal: EXIT.unfinished,
  guard_stop: EXIT.unfinished,
  budget: EXIT.unfinished,
};

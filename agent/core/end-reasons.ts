import type { EndReason } from "./loop.ts";

/** Why a run ended, in words (terminal summary and report). */
export const END_REASON_TEXT: Record<EndReason, string> = {
  finished: "finished: the planner called finish()",
  max_turns: "stopped: turn limit reached",
  time_limit: "stopped: time limit reached",
  planner_stopped: "stopped: the planner stopped calling tools",
  planner_error: "stopped: the planner failed",
  refusal: "stopped: the planner refused",
  guard_stop: "stopped by the guard",
  aborted: "interrupted",
};

/**
 * An error caused by the user's input or setup (bad flag, missing key, unreadable
 * file). The CLI prints `message` and `hint` without a stack trace and exits with
 * `exitCode`.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode: number = 2,
  ) {
    super(message);
    this.name = "UserError";
  }
}

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

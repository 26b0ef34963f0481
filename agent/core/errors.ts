import { EXIT } from "./run-end.ts";

/**
 * An error caused by the user's input or setup (bad flag, missing key, unreadable
 * file). The CLI prints `message` and `hint` without a stack trace and exits with
 * `exitCode`.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
    this.name = "UserError";
  }
}

import { MALFORMED_ARGS } from "../conversation.ts";
import type { GuardRule } from "./types.ts";

/** A call whose arguments the planner's provider could not parse is answered with the parse error. */
export const malformedArgsRule: GuardRule = {
  name: "malformed-args",
  check(call) {
    const input = call.input as Record<string, unknown> | null;
    if (!input || typeof input !== "object" || !(MALFORMED_ARGS in input)) return { action: "allow" };
    const raw = String(input[MALFORMED_ARGS]);
    return {
      action: "reject",
      message: `The arguments of ${call.name} were not valid JSON (${String(input.error ?? "parse error")}): ${raw.slice(0, 300)}. Send them again as one JSON object.`,
    };
  },
};

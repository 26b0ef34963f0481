import { MALFORMED_ARGS } from "../core/conversation.ts";
import { HARNESS_ID_PREFIX } from "../core/harness-call-ids.ts";
import type { GuardRule } from "../core/guard.ts";

/**
 * A call whose arguments the planner's provider could not parse is answered with the parse
 * error; a planner's call under an id reserved for the harness's own calls is not run (the
 * transcript, replay and report tell the two apart by id).
 */
export const malformedArgsRule: GuardRule = {
  name: "malformed-args",
  check(call) {
    if (call.harness !== true && call.id.startsWith(HARNESS_ID_PREFIX)) {
      return {
        action: "reject",
        message: `This ${call.name} call was not run: its id "${call.id.slice(0, 80)}" starts with "${HARNESS_ID_PREFIX}", which is reserved for the harness's own calls. Call the tool again (your provider gives it a new id).`,
      };
    }
    const input = call.input as Record<string, unknown> | null;
    if (!input || typeof input !== "object" || !(MALFORMED_ARGS in input)) return { action: "allow" };
    const raw = String(input[MALFORMED_ARGS]);
    return {
      action: "reject",
      message: `The arguments of ${call.name} were not valid JSON (${String(input.error ?? "parse error")}): ${raw.slice(0, 300)}. Send them again as one JSON object.`,
    };
  },
};

import type { RecordedEvent } from "../transcript/transcript.ts";

/**
 * How long a run had run before this session continued it (a resume), from its recorded
 * events: each earlier session's own elapsed time where it ended (its `end` event), else —
 * a session that was cut off — the span from its first event to its last. Sessions are
 * told apart by their `end` events, so the time between a stop and its resume never counts.
 */
export function elapsedBefore(events: readonly RecordedEvent[]): number {
  let total = 0;
  let first: number | undefined;
  let last: number | undefined;
  for (const e of events) {
    const t = Date.parse(e.t);
    if (e.type === "end") {
      total += e.elapsedMs;
      first = last = undefined;
      continue;
    }
    if (!Number.isFinite(t)) continue;
    first ??= t;
    last = t;
  }
  if (first !== undefined && last !== undefined) total += last - first;
  return total;
}

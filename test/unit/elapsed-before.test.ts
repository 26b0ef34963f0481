import { describe, expect, it } from "vitest";
import { MetricsLedger } from "../../agent/metrics/ledger.ts";
import { elapsedBefore } from "../../agent/session/elapsed-before.ts";
import type { RecordedEvent } from "../../agent/transcript/transcript.ts";

/** A resumed run's time is the whole run's: every earlier session's, never the time between a stop and its resume. */

const at = (seq: number, minute: number, e: Record<string, unknown>) =>
  ({ seq, t: new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString(), ...e }) as unknown as RecordedEvent;

describe("elapsedBefore", () => {
  it("adds each ended session's own elapsed time and a cut-off session's span; the gaps between sessions do not count", () => {
    const events = [
      at(1, 0, { type: "run" }),
      at(2, 3, { type: "turn", turn: 1 }),
      at(3, 5, { type: "end", reason: "max_turns", turns: 1, elapsedMs: 4.5 * 60_000 }),
      // Resumed an hour later; cut off (no end event) after 7 minutes.
      at(4, 65, { type: "turn", turn: 2 }),
      at(5, 72, { type: "turn", turn: 3 }),
    ];
    expect(elapsedBefore(events)).toBe(4.5 * 60_000 + 7 * 60_000);
    expect(elapsedBefore(events.slice(0, 3))).toBe(4.5 * 60_000);
    expect(elapsedBefore([])).toBe(0);
  });

  it("the feedback block gives the whole run's minutes and this session's against --max-minutes", () => {
    const ledger = (elapsedBeforeMs?: number) =>
      new MetricsLedger({ model: "local/tiny-arith", now: () => 2 * 60_000, startedAt: 0, maxMinutes: 30, ...(elapsedBeforeMs ? { elapsedBeforeMs } : {}) });
    const failed = { content: "failed", isError: true };
    const resumed = ledger(10 * 60_000);
    resumed.observe({ id: "c", name: "train_sft_step", input: {} }, failed);
    expect(resumed.block(1)).toContain(" · 12.0 min in all (2.0 of 30 since the resume)");
    const fresh = ledger();
    fresh.observe({ id: "c", name: "train_sft_step", input: {} }, failed);
    expect(fresh.block(1)).toContain(" · 2.0 of 30 min");
  });
});

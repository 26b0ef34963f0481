import type { AssistantTurn, PlannerErrorKind } from "../core/conversation.ts";
import type { Planner, PlannerRequest } from "../core/planner.ts";

/** Loop-level retry of planner failures the SDKs do not retry themselves (errors inside a stream, dropped connections). */
export type RetryPolicy = {
  /** Attempts after the first. */
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Random 0..1 for jitter; injected for tests. */
  random?: () => number;
};

export const DEFAULT_RETRY: RetryPolicy = { retries: 4, baseDelayMs: 2000, maxDelayMs: 60_000 };

/** Failures worth asking again; anything else (a refused key, a bad request, an overflow) is final for this wrapper. */
export const RETRYABLE: readonly PlannerErrorKind[] = ["overloaded", "rate_limit", "server", "connection", "timeout"];

/** Waits `ms`, or until `signal` aborts. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export const realSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/**
 * Retries retryable planner failures with exponential backoff and jitter. Each failed
 * attempt is reported through the request's `onRetry` as it happens (the loop records
 * it), so a long backoff is visible while it lasts.
 */
export class RetryingPlanner implements Planner {
  constructor(
    private readonly inner: Planner,
    private readonly policy: RetryPolicy = DEFAULT_RETRY,
    private readonly sleep: Sleep = realSleep,
    private readonly now: () => number = Date.now,
  ) {}

  get id(): string {
    return this.inner.id;
  }

  async next(req: PlannerRequest): Promise<AssistantTurn> {
    for (let attempt = 0; ; attempt++) {
      const asked = this.now();
      const reply = await this.inner.next(req);
      if (reply.stopReason !== "error" || req.signal.aborted || reply.errorKind === "aborted") return reply;
      if (!RETRYABLE.includes(reply.errorKind ?? "other") || attempt >= this.policy.retries) {
        if (attempt === 0) return reply;
        return { ...reply, error: `${reply.error ?? "planner error"} (after ${attempt} retr${attempt === 1 ? "y" : "ies"})` };
      }
      const jitter = 0.75 + 0.5 * (this.policy.random ?? Math.random)();
      const delayMs = Math.round(Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** attempt) * jitter);
      req.onRetry?.({ failed: reply, latencyMs: this.now() - asked, attempt: attempt + 1, delayMs });
      await this.sleep(delayMs, req.signal);
      if (req.signal.aborted) return reply;
    }
  }
}

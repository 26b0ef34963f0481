import type { AssistantTurn, SdkRetry } from "../core/conversation.ts";

const RETRIED = new Set([408, 409, 429, 500, 502, 503, 504, 529]);

/**
 * A fetch for an SDK client that notes every failed attempt the SDK will retry on its
 * own, so the harness can record those retries too (the SDK keeps them to itself).
 */
export class RetryWatch {
  private seen: SdkRetry[] = [];

  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    try {
      const res = await fetch(input, init);
      if (RETRIED.has(res.status)) {
        const after = res.headers.get("retry-after-ms") ?? (res.headers.get("retry-after") ? String(Number(res.headers.get("retry-after")) * 1000) : null);
        this.seen.push({ status: res.status, ...(after && Number.isFinite(Number(after)) ? { retryAfterMs: Number(after) } : {}) });
      }
      return res;
    } catch (err) {
      this.seen.push({ status: 0, error: (err as Error).message });
      throw err;
    }
  };

  /**
   * The turn with the attempts the SDK retried since the last call. The last failed
   * attempt of a failed turn is the turn's own error, not a retry.
   */
  attachTo(turn: AssistantTurn): AssistantTurn {
    const retried = this.seen;
    this.seen = [];
    if (turn.stopReason === "error") retried.pop();
    return retried.length ? { ...turn, sdkRetries: retried } : turn;
  }
}

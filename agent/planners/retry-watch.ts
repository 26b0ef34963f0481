import type { SdkRetry } from "../conversation.ts";

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

  /** The failed attempts since the last call (the final one, if it failed too, is the turn's error). */
  take(): SdkRetry[] {
    const s = this.seen;
    this.seen = [];
    return s;
  }
}

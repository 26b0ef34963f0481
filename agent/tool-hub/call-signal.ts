/**
 * A per-call AbortSignal that follows a long-lived one. Some SDKs leave a listener on
 * the signal they are given; handing them a fresh signal per call keeps the run's own
 * signal from collecting hundreds of listeners.
 */
export function callSignal(outer: AbortSignal | undefined): { signal: AbortSignal; release: () => void } {
  const inner = new AbortController();
  const onAbort = () => inner.abort();
  if (outer?.aborted) inner.abort();
  outer?.addEventListener("abort", onAbort, { once: true });
  return { signal: inner.signal, release: () => outer?.removeEventListener("abort", onAbort) };
}

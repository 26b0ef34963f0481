/**
 * Agent clients stop a stdio server with a sequence of signals: Claude Code sends SIGINT,
 * SIGTERM 100 ms later and SIGKILL 400 ms after that. A signal this soon after the first is
 * part of that sequence, and the wrap-up goes on; a later one is a person asking again.
 */
export const SIGNAL_SEQUENCE_MS = 2000;

/**
 * An abort signal the first SIGINT or SIGTERM trips (the run stops gracefully). Signals within
 * SIGNAL_SEQUENCE_MS of the first are noted and the wrap-up continues; a signal after that
 * exits at once (the record is durable by then: the gateway writes it on the first signal).
 */
export function gatewaySignals(o: { err: (line: string) => void; exitNow: () => void; now?: () => number }): AbortSignal {
  const now = o.now ?? Date.now;
  const controller = new AbortController();
  let first: number | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (first === undefined) {
      first = now();
      o.err(
        `${sig}: stopping: the run's record is written now, then unsaved training is saved (${sig} again after ${SIGNAL_SEQUENCE_MS / 1000} s exits at once)`,
      );
      controller.abort();
      return;
    }
    if (now() - first < SIGNAL_SEQUENCE_MS) {
      o.err(`${sig}: the wrap-up continues`);
      return;
    }
    o.err(`${sig} again: exiting now; the record written at the first signal stays.`);
    o.exitNow();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return controller.signal;
}

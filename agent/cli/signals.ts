import { EXIT } from "../core/run-end.ts";
import { printErr } from "./output.ts";

/** An abort signal that the first Ctrl-C trips; a second one exits at once. */
export function interruptible(): AbortSignal {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) {
      printErr("second interrupt: exiting now; the transcript is intact up to the last event.\n");
      process.exit(EXIT.interrupted);
    }
    printErr(`${sig}: stopping after the current step (interrupt again to exit at once)\n`);
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return controller.signal;
}

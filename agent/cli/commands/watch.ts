import type { Command } from "commander";
import { LIVE_DEFAULTS, liveOptionsFrom, startLiveServer } from "../../report/live-server.ts";
import { readRunTranscript } from "../../report/report.ts";
import { runTarget } from "../../transcript/recording.ts";
import { flag } from "../flags.ts";
import { print } from "../output.ts";
import { interruptible } from "../signals.ts";

/** `tinkerloop watch`: a run's report served live while it goes. */
export function registerWatch(program: Command): void {
  program
    .command("watch")
    .description("serve a run's report on 127.0.0.1, updated as the run goes (server-sent events); Ctrl-C stops")
    .argument("<run>", "a run directory (runs/<id>), running or finished")
    .addOption(flag("port", `port to listen on (default ${LIVE_DEFAULTS.port}; 0 picks a free one)`))
    .addOption(flag("host", "listen on this address instead of loopback (e.g. 0.0.0.0)"))
    .action(async (target: string, f: { port?: string; host?: string }) => {
      const { runDir } = runTarget(target);
      readRunTranscript(runDir);
      const server = await startLiveServer({ runDir, ...liveOptionsFrom({ serve: true, ...f })! });
      print(`watching ${runDir}\nlive view: ${server.url}  (Ctrl-C to stop)\n`);
      await new Promise<void>((resolve) => interruptible().addEventListener("abort", () => resolve()));
      await server.close();
    });
}

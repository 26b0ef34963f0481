import type { Env } from "../config/run-config.ts";
import { liveOptionsFrom, startLiveServer } from "../report/live-server.ts";
import { WandbLogger, wandbRequested } from "../wandb/logger.ts";
import { print } from "./output.ts";

/** The flags of what watches a run from outside (run and resume take them alike). */
export type WatcherFlags = { serve?: string | boolean; host?: string; wandb?: string };

/**
 * Runs `body` with what watches a run from outside its loop: the live view and W&B,
 * each following the transcript. Both are checked before the run starts; neither can fail it.
 */
export async function withWatchers<T>(runDir: string, flags: WatcherFlags, env: Env, body: () => Promise<T>): Promise<T> {
  const live = liveOptionsFrom(flags);
  const wandb = wandbRequested(flags.wandb, env);
  const server = live ? await startLiveServer({ runDir, ...live }) : undefined;
  if (server) print(`live view: ${server.url}\n`);
  const logger = wandb ? WandbLogger.start({ runDir, choice: wandb, env, out: (l) => print(`${l}\n`) }) : undefined;
  try {
    return await body();
  } finally {
    await logger?.finish();
    await server?.close();
  }
}

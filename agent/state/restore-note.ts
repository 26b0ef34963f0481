import type { SessionCounters } from "../../tools/contracts/tinker-results.ts";

/**
 * What a resumed or forked planner is told about its training session, in one
 * sentence of fixed form: an LLM planner reads it, and the scripted planner reads the
 * same facts back with `readRestore` (declared together so the two cannot drift).
 */
export type RestoreFacts =
  /** The session was restored from `checkpoint`; `lost` training calls made after it are gone. */
  | { checkpoint: string; counters: SessionCounters; lost: number }
  /** No session was restored (`why`): the servers are fresh; `lost` training calls of the session are gone. */
  | { checkpoint: null; why: string; lost: number };

/** The answer to a call that was made but never returned (the run stopped in between). */
export const ORPHAN_ANSWER =
  "Not run to the end: the run stopped (a crash or an interrupt) before this call returned, so it has no result and nothing of it was kept. " +
  "It can simply be called again.";

const calls = (n: number) => `${n} training call${n === 1 ? "" : "s"}`;

export function describeRestore(f: RestoreFacts): string {
  if (f.checkpoint === null) {
    return (
      `No training session was restored (${f.why}): the tool servers are fresh, so call init_* again before training or sampling. ` +
      `${calls(f.lost)} of the session ${f.lost === 1 ? "was" : "were"} lost; the session is at its start (GRPO iteration 0, SFT epoch 0, SFT step 0).`
    );
  }
  const c = f.counters;
  return (
    `The training session was restored from checkpoint ${f.checkpoint} (weights, optimizer state and counters): ` +
    `it is now at GRPO iteration ${c.grpo_iterations} (SFT epoch ${c.sft_epochs}, SFT step ${c.sft_steps}). ` +
    `${calls(f.lost)} made after that checkpoint ${f.lost === 1 ? "was" : "were"} lost: count steps, name checkpoints and judge scores from this point. ` +
    "Continue from it (warmup_ratio=0)."
  );
}

const RESTORED =
  /The training session was restored from checkpoint (\S+) \(weights, optimizer state and counters\): it is now at GRPO iteration (\d+) \(SFT epoch (\d+), SFT step (\d+)\)\. (\d+) training calls? made after/;
const NOT_RESTORED =
  /No training session was restored \((.*?)\): the tool servers are fresh, so call init_\* again before training or sampling\. (\d+) training calls? of the session/;

/** The facts of a restore note in `text`, if it holds one. */
export function readRestore(text: string): RestoreFacts | undefined {
  const r = RESTORED.exec(text);
  if (r) return { checkpoint: r[1]!, counters: { grpo_iterations: Number(r[2]), sft_epochs: Number(r[3]), sft_steps: Number(r[4]) }, lost: Number(r[5]) };
  const n = NOT_RESTORED.exec(text);
  if (n) return { checkpoint: null, why: n[1]!, lost: Number(n[2]) };
  return undefined;
}

import type { Rollout } from "./backend.ts";
import type { GrpoRecord } from "./data-input.ts";
import type { GroupCounts, GrpoOutcome, IterationMetrics } from "./grpo.ts";
import type { IterationBatch } from "./grpo-batch.ts";
import type { SessionLogs } from "./session-logs.ts";
import type { TrainingSession } from "./session.ts";

/**
 * The bookkeeping of one GRPO iteration, apart from its control flow (grpo.ts): what a
 * scored batch holds, the debug log lines, the auto-checkpoint.
 */

/** A scored batch counted: group outcomes, the rollouts with a learning signal, every reward, tokens and truncations; the first groups logged. */
export function tallyBatch(batch: IterationBatch, prompts: GrpoRecord[], logs: SessionLogs) {
  const counts: GroupCounts = { total: batch.groups.length, mixed: 0, allZero: 0, allOne: 0, uniformOther: 0, failed: 0 };
  const rollouts: Rollout[] = [];
  const all: number[] = [];
  let tokensSampled = 0;
  let truncated = 0;
  batch.groups.forEach((g, i) => {
    const o = batch.outcomes[i]!;
    for (const [j, c] of g!.entries()) {
      tokensSampled += c.tokenCount;
      if (c.finishReason === "length") truncated++;
      all.push(batch.scores[i]![j]!);
    }
    if (i < 3) {
      logs.write("sampling_debug.log", `[SAMPLE] prompt ${i}: ${JSON.stringify(prompts[i]!.prompt.slice(0, 80))}`);
      for (const [j, c] of g!.entries())
        logs.write(
          "sampling_debug.log",
          `  completion ${j} (${c.tokenCount} tokens, ${c.finishReason}, reward ${o.rewards[j]?.toFixed(2) ?? "-"}): ${JSON.stringify(c.text.slice(0, 120))}`,
        );
    }
    counts[o.kind]++;
    if (o.kind !== "mixed" && o.kind !== "failed") logs.write("training_debug.log", `[SKIP] prompt ${i}: uniform rewards (${o.mean.toFixed(2)})`);
    rollouts.push(...o.rollouts);
  });
  return { counts, rollouts, all, tokensSampled, truncated };
}

/** The first completion of the first four groups: the examples a GRPO report shows. */
export function firstCompletions(batch: IterationBatch, prompts: GrpoRecord[]): GrpoOutcome["examples"] {
  return batch.groups.slice(0, 4).map((g, i) => ({ prompt: prompts[i]!.prompt, completion: g?.[0]?.text ?? "", reward: batch.scores[i]?.[0] ?? 0 }));
}

/** One iteration in training_debug.log. */
export function iterationLogLine(m: IterationMetrics, split: boolean): string {
  const g = m.groups;
  return (
    `[ITER ${m.iteration}] reward=${m.rewardMean.toFixed(3)}±${m.rewardStd.toFixed(3)} lr=${m.learningRate.toExponential(2)} groups mixed/all0/all1/other/failed=${g.mixed}/${g.allZero}/${g.allOne}/${g.uniformOther}/${g.failed} ` +
    `used=${m.samplesUsed}/${m.samplesGenerated} loss=${m.loss?.toFixed(4) ?? "n/a"} kl(step)=${m.kl?.toFixed(5) ?? "n/a"} kl(sampler)=${m.klSampler?.toFixed(5) ?? "n/a"} tokens=${m.tokensSampled} ` +
    (split ? `minibatches=${m.minibatches} staleness=${m.staleness?.max ?? 0} dropped_stale=${m.droppedStale} ` : "") +
    `time sample/reward/train=${m.seconds.sampling.toFixed(2)}/${m.seconds.reward.toFixed(2)}/${m.seconds.training.toFixed(2)}s`
  );
}

/** Saves the weights after a new best iteration (by reward) as `auto-iter<N>-r<reward>`; a failure is a warning, not an error. */
export async function autoCheckpoint(session: TrainingSession, iteration: number, rewardMean: number, out: GrpoOutcome): Promise<void> {
  const name = `auto-iter${iteration}-r${rewardMean.toFixed(2).replace(".", "_")}`;
  try {
    const saved = await session.backend!.saveState(name, { method: "grpo", counters: { ...session.counters }, groupSize: session.groupSize });
    session.checkpoints.set(name, saved.path);
    session.bestAutoReward = rewardMean;
    session.unsavedSteps = 0;
    out.autoCheckpoints.push({ name, path: saved.path, rewardMean });
    session.logs.write("save_load_debug.log", `[AUTO-CHECKPOINT] ${name} -> ${saved.path}`);
  } catch (err) {
    out.warnings.push(`auto-checkpoint ${name} failed: ${(err as Error).message}`);
  }
}

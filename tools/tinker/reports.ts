import { pct } from "../../lib/format.ts";
import type { ModelCard } from "./backend.ts";
import type { GrpoOutcome, Guidance } from "./grpo.ts";
import { describeIsolation } from "./reward/sandbox.ts";
import type { SftOutcome } from "./sft.ts";
import type { Counters, Method } from "./session.ts";

/** Readable text reports for the tinker tools. The structured versions carry the same numbers. */

const rule = (title: string) => `${title}\n${"=".repeat(title.length)}`;

/** "N of M (P%) hit max_tokens T": every sampling result says how many completions were cut. */
export function truncationLine(truncated: number, total: number, maxTokens: number): string {
  return `${truncated} of ${total} completions (${pct(total > 0 ? truncated / total : 0)}) hit max_tokens ${maxTokens}${truncated && truncated === total ? " — every one was cut off" : ""}`;
}

export function logsFooter(dir: string): string {
  return `\nSession logs: ${dir}/ (training_debug.log, sampling_debug.log, reward_debug.log, grading_function.py, progress.txt)`;
}

export function initReport(method: Method, card: ModelCard, groupSize: number, generation: { tokens: number; why: string }, dir: string): string {
  const lines = [
    rule(`${method.toUpperCase()} session ready`),
    `Model: ${card.baseModel} (${card.backend} backend, ${card.parameters.toLocaleString("en-US")} parameters, context ${card.contextLength} tokens)`,
    `LoRA rank ${card.loraRank}: ${card.trainableParameters.toLocaleString("en-US")} trainable parameters`,
    `Prompts are rendered as ${JSON.stringify(card.renderer)}; stop sequences ${JSON.stringify(card.stop)}`,
    `Default max_tokens ${generation.tokens} (${generation.why}); an explicit max_tokens always wins. Watch the share of completions cut at max_tokens in every sampling result.`,
  ];
  if (method === "grpo") {
    lines.push(`group_size ${groupSize}: each prompt gets ${groupSize} samples per iteration`);
    lines.push("", "Next: validate your reward with check_reward, then train_grpo_step(prompts, reward_function, num_iterations=1).");
  } else {
    lines.push("", "Next: train_sft_step(examples, num_epochs=1). Watch the validation loss: if it rises while training loss falls, stop and save.");
  }
  return lines.join("\n") + logsFooter(dir);
}

export function grpoReport(o: GrpoOutcome, promptCount: number, groupSize: number, maxTokens: number, counters: Counters, g: Guidance, dir: string): string {
  const lines = [rule(o.aborted ? "GRPO step stopped: no learning signal" : "GRPO step complete")];
  lines.push(
    `Optimizer steps this call: ${o.iterations.filter((i) => i.stepped).length} of ${o.iterations.length} iteration(s) · cumulative iterations: ${counters.grpoIterations} · prompts ${promptCount} × group ${groupSize}`,
  );
  lines.push(`Schedule horizon ${o.horizon} steps · warmup ${o.effectiveWarmup} · rewards scored in the ${describeIsolation(o.isolation)}`);
  lines.push("", "Per iteration:");
  for (const it of o.iterations) {
    const gr = it.groups;
    lines.push(
      `  iter ${it.iteration}: reward ${it.rewardMean.toFixed(3)} ± ${it.rewardStd.toFixed(3)} · lr ${it.learningRate.toExponential(2)}` +
        (it.stepped ? (it.kl !== null ? ` · KL of the step ${it.kl.toFixed(5)}` : "") : " · NO STEP (no group had a learning signal)") +
        `\n    groups ${gr.total}: mixed ${gr.mixed}, ALL-0 ${gr.allZero}, ALL-1 ${gr.allOne}` +
        (gr.uniformOther ? `, other uniform ${gr.uniformOther}` : "") +
        (gr.failed ? `, failed ${gr.failed}` : "") +
        ` · samples used ${it.samplesUsed}/${it.samplesGenerated} (${pct(it.samplesGenerated > 0 ? it.samplesUsed / it.samplesGenerated : 0)})` +
        `\n    tokens sampled ${it.tokensSampled} · ${truncationLine(it.truncated, it.samplesGenerated, maxTokens)} · reward errors ${it.rewardErrors}` +
        ` · time sample ${it.seconds.sampling.toFixed(1)}s, reward ${it.seconds.reward.toFixed(1)}s, train ${it.seconds.training.toFixed(1)}s, other ${it.seconds.other.toFixed(1)}s` +
        (it.minibatches > 1 || (it.staleness?.max ?? 0) > 0 || it.droppedStale > 0
          ? `\n    pipelined: ${it.minibatches} minibatch(es) · rollouts up to ${it.staleness?.max ?? 0} step(s) old (mean ${(it.staleness?.mean ?? 0).toFixed(2)}) · ${it.droppedStale} dropped as too old · KL of the step is the step's own move, KL sampler ${it.klSampler?.toFixed(5) ?? "n/a"} holds the lag`
          : ""),
    );
  }
  if (o.aborted)
    lines.push(
      "",
      `${o.aborted} Nothing is wrong with the call itself: the model's answers got the same reward within every group. Use prompts it sometimes gets right, give partial credit, or raise temperature (or max_tokens, if answers are cut off).`,
    );
  if (o.autoCheckpoints.length)
    lines.push("", "Auto-checkpoints:", ...o.autoCheckpoints.map((c) => `  ${c.name} (reward ${c.rewardMean.toFixed(3)}) → ${c.path}`));
  if (o.examples.length)
    lines.push(
      "",
      "Sample completions:",
      ...o.examples.map((e) => `  [${e.reward.toFixed(2)}] ${JSON.stringify(e.prompt.slice(0, 60))} → ${JSON.stringify(e.completion.slice(0, 80))}`),
    );
  if (o.warnings.length) lines.push("", "Warnings:", ...o.warnings.map((w) => `  - ${w}`));
  lines.push("", `Assessment: ${g.verdict}`, `Next: ${g.next}`);
  return lines.join("\n") + logsFooter(dir);
}

export function sftReport(o: SftOutcome, counters: Counters, g: Guidance, dir: string): string {
  const lines = [rule("SFT step complete")];
  lines.push(
    `Examples: ${o.train} train / ${o.validation} validation · steps this call ${o.stepsThisCall} · cumulative epochs ${counters.sftEpochs}, steps ${counters.sftSteps}`,
  );
  lines.push(
    `Last learning rate ${o.lastLearningRate.toExponential(2)} · horizon ${o.horizon} · warmup ${o.effectiveWarmup} · ${o.tokens} response tokens · ${o.seconds.toFixed(1)}s`,
  );
  lines.push("", "Loss per epoch:");
  for (const e of o.epochs)
    lines.push(`  epoch ${e.epoch}: train ${e.trainLoss.toFixed(4)}${e.valLoss === null ? "" : ` · validation ${e.valLoss.toFixed(4)}`}`);
  if (o.overfitting) lines.push("", "WARNING: validation loss is above its best while training loss keeps falling — overfitting.");
  if (o.warnings.length) lines.push("", "Warnings:", ...o.warnings.map((w) => `  - ${w}`));
  lines.push("", `Assessment: ${g.verdict}`, `Next: ${g.next}`);
  return lines.join("\n") + logsFooter(dir);
}

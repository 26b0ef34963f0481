import path from "node:path";
import { z } from "zod";
import { cutText, shareBudget, writeCompletions } from "../completions.ts";
import type { CompletionRecord } from "../completions.ts";
import { loadRecords, toGrpoPrompts } from "../data-input.ts";
import { defaultMaxTokens } from "../generation-defaults.ts";
import { describeIsolation } from "../reward/sandbox.ts";
import type { Isolation } from "../reward/sandbox.ts";
import { logsFooter, truncationLine } from "../reports.ts";
import { failIn, asToolHandler, ok, records, rewardSource, sessionProblem } from "../tool-context.ts";
import type { ToolContext } from "../tool-context.ts";
import { checkRewardResult, sampleResult } from "../../contracts/tinker-results.ts";

/** The caller's stop strings, as `sample` and `train_grpo_step` take them. */
export const stopStrings = z.array(z.string().min(1).max(200)).max(8).optional().describe("stop strings: a completion ends before the first one that appears");

const sampleInput = {
  prompt: z.string().optional(),
  prompts: records.optional(),
  n: z.number().int().min(1).max(64).default(1),
  max_tokens: z.number().int().min(1).max(32768).optional(),
  temperature: z.number().min(0).max(2).default(0.7),
  stop: stopStrings,
  reward_function: z.string().optional(),
  limit: z.number().int().min(1).max(2000).default(200),
};

/** sample (one prompt, or a holdout scored with a reward) and check_reward. */
export function registerSamplingTools(ctx: ToolContext): void {
  const { session, sandbox } = ctx;
  ctx.server.registerTool(
    "sample",
    {
      description:
        "Generate from the current weights. Either one prompt, or prompts (a JSON array or .jsonl path of {prompt, ground_truth}) " +
        "to sample a holdout; with reward_function, every completion is scored and the mean reported. Completions are shown whole " +
        "up to about 12,000 characters per call (cut visibly beyond that), and every one is written to a JSONL file named in the result " +
        "(prompt, completion, reward, finish reason, tokens). The result says how many hit max_tokens. " +
        "stop: strings that end a completion — generation stops at the first one, the text is cut before it and the finish reason is 'stop'; " +
        "the model's own end-of-turn stop always applies as well.",
      inputSchema: sampleInput,
      outputSchema: sampleResult,
    },
    asToolHandler(ctx, "sample", async (a: z.infer<z.ZodObject<typeof sampleInput>>, progress) => {
      const problem = sessionProblem(session);
      if (problem) return failIn(session, problem);
      if ((a.prompt === undefined) === (a.prompts === undefined))
        return failIn(session, "Error: pass exactly one of prompt (a string) or prompts (a list or file of {prompt, ground_truth}).");
      const items =
        a.prompt !== undefined ? [{ prompt: a.prompt, ground_truth: "" }] : toGrpoPrompts(loadRecords(a.prompts ?? [], "prompts").records).slice(0, a.limit);
      if (items.length === 0) return failIn(session, "Error: no prompts to sample.");
      progress(`Sampling ${items.length}×${a.n}`);
      const maxTokens: number = a.max_tokens ?? defaultMaxTokens(session.card!).tokens;
      const groups = await session.backend!.sample(
        items.map((i) => i.prompt),
        a.n,
        { temperature: a.temperature, maxTokens, ...(a.stop ? { stop: a.stop } : {}) },
      );
      const flat = groups.flatMap((g, i) => g.map((c) => ({ prompt: items[i]!.prompt, ground_truth: items[i]!.ground_truth, c })));
      let rewards: Array<number | null> = flat.map(() => null);
      let errors: Array<string | null> = flat.map(() => null);
      let mean: number | null = null;
      let isolation: Isolation | null = null;
      if (a.reward_function) {
        const code = rewardSource(a.reward_function);
        const invalid = await sandbox.check(code);
        if (invalid) return failIn(session, `Error: the reward function was refused: ${invalid}.`);
        const scored = await sandbox.score(
          code,
          flat.map((f) => ({ completion: f.c.text, ground_truth: f.ground_truth })),
        );
        rewards = scored.scores;
        errors = scored.errors;
        isolation = scored.isolation;
        mean = scored.scores.reduce((x, y) => x + y, 0) / Math.max(1, scored.scores.length);
      }
      for (const f of flat.slice(0, 50))
        session.logs.write("sampling_debug.log", `[SAMPLE] ${JSON.stringify(f.prompt.slice(0, 100))} → ${JSON.stringify(f.c.text.slice(0, 200))}`);
      const records: CompletionRecord[] = flat.map((f, i) => ({
        prompt: f.prompt,
        completion: f.c.text,
        ...(a.prompts !== undefined ? { ground_truth: f.ground_truth } : {}),
        reward: rewards[i] ?? null,
        ...(errors[i] ? { error: errors[i] } : {}),
        finish_reason: f.c.finishReason,
        tokens: f.c.tokenCount,
      }));
      const file = writeCompletions({ run: process.env.TINKERLOOP_RUN_DIR, fallback: session.logs.dir }, "sample", records);
      const where = shownPath(file);
      const truncated = flat.filter((f) => f.c.finishReason === "length").length;
      const rewardErrors = errors.filter(Boolean).length;
      const shares = shareBudget(flat.map((f) => f.c.text.length));
      const shown = shares.map((n, i) => {
        const f = flat[i]!;
        const head = `[${i}]${rewards[i] === null ? "" : ` reward ${rewards[i]!.toFixed(2)}`} · ${f.c.finishReason === "length" ? "CUT AT max_tokens" : f.c.finishReason} · ${f.c.tokenCount} tokens${errors[i] ? ` · reward error: ${errors[i]}` : ""}`;
        return `${head}\n  prompt: ${JSON.stringify(f.prompt.length > 200 ? `${f.prompt.slice(0, 200)}…` : f.prompt)}\n  completion:\n${indent(cutText(f.c.text, n, `${where} line ${i + 1}`))}`;
      });
      const head = [
        mean === null
          ? `${flat.length} completion(s) at temperature ${a.temperature}`
          : `${flat.length} completions at temperature ${a.temperature}: mean reward ${mean.toFixed(3)}${rewardErrors ? ` (${rewardErrors} reward errors)` : ""}`,
        truncationLine(truncated, flat.length, maxTokens) +
          (truncated ? ": those answers were cut off before they ended; raise max_tokens or ask for shorter answers." : ""),
        `Every completion (prompt, completion, reward, finish reason, tokens) is in ${where}${isolation ? ` · rewards scored in the ${describeIsolation(isolation)}` : ""}.`,
      ];
      const more = flat.length > shown.length ? `… ${flat.length - shown.length} more completion(s) in ${where}` : "";
      return ok([...head, "", ...shown, more].filter((x, i, all) => x !== "" || i < all.length - 1).join("\n") + logsFooter(session.logs.dir), {
        session_dir: session.logs.dir,
        completions: flat.map((f, i) => ({
          prompt: f.prompt,
          text: f.c.text,
          reward: rewards[i] ?? null,
          finish_reason: f.c.finishReason,
          tokens: f.c.tokenCount,
        })),
        completions_file: where,
        mean_reward: mean,
        scored: mean === null ? 0 : flat.length,
        temperature: a.temperature,
        max_tokens: maxTokens,
        truncated,
        reward_errors: rewardErrors,
        sandbox: isolation,
      });
    }),
  );

  ctx.server.registerTool(
    "check_reward",
    {
      description:
        "Run a reward function on hand-made cases in the sandbox and show each score, error and mismatch with `expected`. " +
        "Use it before training: a right answer should score 1, a wrong one 0, garbage 0.",
      inputSchema: {
        reward_function: z.string().min(1),
        cases: z
          .array(z.object({ completion: z.string(), ground_truth: z.string(), expected: z.number().optional() }))
          .min(1)
          .max(1000),
      },
      outputSchema: checkRewardResult,
    },
    asToolHandler(
      ctx,
      "check_reward",
      async (a: { reward_function: string; cases: Array<{ completion: string; ground_truth: string; expected?: number }> }) => {
        const code = rewardSource(a.reward_function);
        const invalid = await sandbox.check(code);
        if (invalid) return failIn(session, `Error: the reward function was refused: ${invalid}.`);
        const r = await sandbox.score(code, a.cases);
        session.logs.writeGradingFunction(code);
        const rows = a.cases.map((c, i) => {
          const score = r.scores[i]!;
          const expected = c.expected ?? null;
          return {
            completion: c.completion,
            ground_truth: c.ground_truth,
            score,
            error: r.errors[i] ?? null,
            expected,
            matches: expected === null ? null : Math.abs(score - expected) < 1e-6,
          };
        });
        const file = writeCompletions(
          { run: process.env.TINKERLOOP_RUN_DIR, fallback: session.logs.dir },
          "check_reward",
          rows.map((x) => ({
            prompt: "",
            completion: x.completion,
            ground_truth: x.ground_truth,
            reward: x.score,
            error: x.error,
            ...(x.expected !== null ? { expected: x.expected } : {}),
          })),
        );
        const where = shownPath(file);
        const errors = rows.filter((x) => x.error).length;
        const mismatches = rows.filter((x) => x.matches === false).length;
        const shares = shareBudget(rows.map((x) => x.completion.length + Math.min(x.ground_truth.length, 400)));
        const lines = shares.map((n, i) => {
          const x = rows[i]!;
          const gtShare = Math.min(x.ground_truth.length, 400, Math.floor(n / 3) || 1);
          return (
            `  [${i}] score ${x.score.toFixed(3)}${x.expected === null ? "" : ` (expected ${x.expected}${x.matches ? ", ok" : ", MISMATCH"})`}${x.error ? ` error: ${x.error}` : ""}\n` +
            `      completion: ${JSON.stringify(cutText(x.completion, Math.max(1, n - gtShare), `${where} line ${i + 1}`))}\n` +
            `      ground truth: ${JSON.stringify(cutText(x.ground_truth, gtShare, `${where} line ${i + 1}`))}`
          );
        });
        const verdict =
          errors || mismatches
            ? `NOT READY: ${errors} error(s), ${mismatches} mismatch(es). Fix the reward before training.`
            : "OK: every case scored as expected.";
        if (r.output) session.logs.write("reward_debug.log", `[CHECK OUTPUT] ${r.output.slice(0, 2000)}`);
        const more = rows.length > lines.length ? `  … ${rows.length - lines.length} more case(s) in ${where}` : "";
        return ok(
          [
            `Reward check in the ${describeIsolation(r.isolation)}, ${r.ms} ms:`,
            ...lines,
            more,
            verdict,
            r.loadError ? `The module failed to load: ${r.loadError}` : "",
            r.output ? `The reward printed (first lines): ${r.output.slice(0, 300)}` : "",
            `Every case with its score is in ${where}.`,
          ]
            .filter(Boolean)
            .join("\n") + logsFooter(session.logs.dir),
          {
            session_dir: session.logs.dir,
            cases: rows,
            errors,
            mismatches,
            ok: errors === 0 && mismatches === 0,
            completions_file: where,
            sandbox: r.isolation,
          },
        );
      },
    ),
  );
}

/** A completions file as the planner can open it: relative to the run directory when it is inside. */
function shownPath(file: string): string {
  const run = process.env.TINKERLOOP_RUN_DIR;
  if (run) {
    const rel = path.relative(run, file);
    if (!rel.startsWith("..") && !path.isAbsolute(rel)) return rel;
  }
  return file;
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");
}

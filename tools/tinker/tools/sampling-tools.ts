import { z } from "zod";
import { defaultMaxTokens } from "../backends/select.ts";
import { loadRecords, toGrpoPrompts } from "../data-input.ts";
import { logsFooter } from "../reports.ts";
import { failIn, guarded, ok, records, rewardSource, sessionProblem } from "../tool-context.ts";
import type { ToolContext } from "../tool-context.ts";

/** sample (one prompt, or a holdout scored with a reward) and check_reward. */
export function registerSamplingTools(ctx: ToolContext): void {
  const { session, sandbox } = ctx;
  ctx.server.registerTool(
    "sample",
    {
      description:
        "Generate from the current weights. Either one prompt, or prompts (a JSON array or .jsonl path of {prompt, ground_truth}) " +
        "to sample a holdout; with reward_function, every completion is scored and the mean reported. " +
        "stop: strings that end a completion — generation stops at the first one, the text is cut before it and the finish reason is 'stop'; " +
        "the model's own end-of-turn stop always applies as well.",
      inputSchema: {
        prompt: z.string().optional(),
        prompts: records.optional(),
        n: z.number().int().min(1).max(64).default(1),
        max_tokens: z.number().int().min(1).max(32768).optional(),
        temperature: z.number().min(0).max(2).default(0.7),
        stop: z.array(z.string().min(1).max(200)).max(8).optional().describe("stop strings: a completion ends before the first one that appears"),
        reward_function: z.string().optional(),
        limit: z.number().int().min(1).max(2000).default(200),
      },
      outputSchema: z.object({
        session_dir: z.string(),
        completions: z.array(z.object({ prompt: z.string(), text: z.string(), reward: z.number().nullable(), finish_reason: z.string() })),
        mean_reward: z.number().nullable(),
        scored: z.number(),
        temperature: z.number(),
      }),
    },
    guarded(ctx, "sample", async (a: any, progress) => {
      const problem = sessionProblem(session);
      if (problem) return failIn(session, problem);
      if ((a.prompt === undefined) === (a.prompts === undefined)) return failIn(session, "Error: pass exactly one of prompt (a string) or prompts (a list or file of {prompt, ground_truth}).");
      const items = a.prompt !== undefined ? [{ prompt: a.prompt as string, ground_truth: "" }] : toGrpoPrompts(loadRecords(a.prompts, "prompts").records).slice(0, a.limit);
      if (items.length === 0) return failIn(session, "Error: no prompts to sample.");
      progress(`Sampling ${items.length}×${a.n}`);
      const maxTokens = a.max_tokens ?? defaultMaxTokens(session.card!);
      const groups = await session.backend!.sample(items.map((i) => i.prompt), a.n, { temperature: a.temperature, maxTokens, ...(a.stop ? { stop: a.stop } : {}) });
      const flat = groups.flatMap((g, i) => g.map((c) => ({ prompt: items[i]!.prompt, ground_truth: items[i]!.ground_truth, c })));
      let rewards: Array<number | null> = flat.map(() => null);
      let mean: number | null = null;
      if (a.reward_function) {
        const code = rewardSource(a.reward_function);
        const invalid = await sandbox.check(code);
        if (invalid) return failIn(session, `Error: the reward function was refused: ${invalid}.`);
        const scored = await sandbox.score(code, flat.map((f) => ({ completion: f.c.text, ground_truth: f.ground_truth })));
        rewards = scored.scores;
        mean = scored.scores.reduce((x, y) => x + y, 0) / Math.max(1, scored.scores.length);
      }
      for (const f of flat.slice(0, 50)) session.logs.write("sampling_debug.log", `[SAMPLE] ${JSON.stringify(f.prompt.slice(0, 100))} → ${JSON.stringify(f.c.text.slice(0, 200))}`);
      const shown = flat.slice(0, 20).map((f, i) => `[${i}]${rewards[i] === null ? "" : ` reward ${rewards[i]!.toFixed(2)}`} ${JSON.stringify(f.prompt.slice(0, 80))}\n    → ${JSON.stringify(f.c.text.slice(0, 300))}`);
      const head = mean === null ? `${flat.length} completion(s) at temperature ${a.temperature}` : `${flat.length} completions at temperature ${a.temperature}: mean reward ${mean.toFixed(3)}`;
      return ok([head, ...shown, flat.length > 20 ? `… ${flat.length - 20} more in the structured result` : ""].filter(Boolean).join("\n") + logsFooter(session.logs.dir), {
        session_dir: session.logs.dir,
        completions: flat.map((f, i) => ({ prompt: f.prompt, text: f.c.text, reward: rewards[i] ?? null, finish_reason: f.c.finishReason })),
        mean_reward: mean,
        scored: mean === null ? 0 : flat.length,
        temperature: a.temperature,
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
        cases: z.array(z.object({ completion: z.string(), ground_truth: z.string(), expected: z.number().optional() })).min(1).max(1000),
      },
      outputSchema: z.object({
        session_dir: z.string(),
        cases: z.array(z.object({ completion: z.string(), ground_truth: z.string(), score: z.number(), error: z.string().nullable(), expected: z.number().nullable(), matches: z.boolean().nullable() })),
        errors: z.number(),
        mismatches: z.number(),
        ok: z.boolean(),
      }),
    },
    guarded(ctx, "check_reward", async (a: { reward_function: string; cases: Array<{ completion: string; ground_truth: string; expected?: number }> }) => {
      const code = rewardSource(a.reward_function);
      const invalid = await sandbox.check(code);
      if (invalid) return failIn(session, `Error: the reward function was refused: ${invalid}.`);
      const r = await sandbox.score(code, a.cases);
      session.logs.writeGradingFunction(code);
      const rows = a.cases.map((c, i) => {
        const score = r.scores[i]!;
        const expected = c.expected ?? null;
        return { completion: c.completion, ground_truth: c.ground_truth, score, error: r.errors[i] ?? null, expected, matches: expected === null ? null : Math.abs(score - expected) < 1e-6 };
      });
      const errors = rows.filter((x) => x.error).length;
      const mismatches = rows.filter((x) => x.matches === false).length;
      const lines = rows.map((x, i) => `  [${i}] score ${x.score.toFixed(3)}${x.expected === null ? "" : ` (expected ${x.expected}${x.matches ? ", ok" : ", MISMATCH"})`}${x.error ? ` error: ${x.error}` : ""} · ${JSON.stringify(x.completion.slice(0, 60))} vs ${JSON.stringify(x.ground_truth.slice(0, 40))}`);
      const verdict = errors || mismatches ? `NOT READY: ${errors} error(s), ${mismatches} mismatch(es). Fix the reward before training.` : "OK: every case scored as expected.";
      if (r.output) session.logs.write("reward_debug.log", `[CHECK OUTPUT] ${r.output.slice(0, 2000)}`);
      return ok([`Reward check (${r.isolation} sandbox, ${r.ms} ms):`, ...lines, verdict, r.loadError ? `The module failed to load: ${r.loadError}` : ""].filter(Boolean).join("\n") + logsFooter(session.logs.dir), {
        session_dir: session.logs.dir,
        cases: rows,
        errors,
        mismatches,
        ok: errors === 0 && mismatches === 0,
      });
    }),
  );
}

import fs from "node:fs";
import type { z } from "zod";
import { defaultMaxTokens } from "../generation-defaults.ts";
import { failIn, asToolHandler, ok, sessionProblem } from "../tool-context.ts";
import type { ToolContext } from "../tool-context.ts";
import { EXAM_TOOL, examInput, examResult } from "../../contracts/exam.ts";
import { LOCAL_CHECKPOINT_PREFIX } from "../../contracts/checkpoint-names.ts";
import { EXAM_DIR_ENV, EXAM_FILES, examFile, examItemHash } from "../../../lib/exam-files.ts";
import type { ExamItem } from "../../../lib/exam-files.ts";

/**
 * sit_exam: the harness's exam on the weights this session holds (or a checkpoint of the run
 * restored first). Items are read from the exam folder the harness named at start; graded
 * completions go back there, never to the run directory or a log; the result holds scores
 * keyed by item hash only, so nothing of the exam reaches the transcript before the run ends.
 */
export function registerExamTool(ctx: ToolContext): void {
  const { session, sandbox } = ctx;
  ctx.server.registerTool(
    EXAM_TOOL,
    {
      description: "The harness's exam (harness only: refused for a planner or an external agent).",
      inputSchema: examInput,
      outputSchema: examResult,
    },
    asToolHandler(ctx, EXAM_TOOL, async (a: z.infer<z.ZodObject<typeof examInput>>, progress) => {
      const dir = process.env[EXAM_DIR_ENV];
      if (!dir) return failIn(session, "Error: this server was started without an exam.");
      const problem = sessionProblem(session);
      if (problem) return failIn(session, problem);
      let weights = "current weights";
      if (a.checkpoint) {
        const resolved = session.checkpoints.get(a.checkpoint) ?? `${LOCAL_CHECKPOINT_PREFIX}${a.checkpoint}`;
        progress(`Exam: restoring ${a.checkpoint}`);
        await session.backend!.loadState(resolved);
        weights = `checkpoint ${a.checkpoint}`;
      }
      const items = readItems(examFile(dir, EXAM_FILES.items));
      const maxTokens = a.max_tokens ?? defaultMaxTokens(session.card!).tokens;
      progress(`Exam ${a.label}: ${items.length}×${a.samples}`);
      const groups = await session.backend!.sample(
        items.map((i) => i.prompt),
        a.samples,
        // A seed of its own: the sitting leaves the seeds of the run's own sampling where they were.
        { temperature: a.temperature, maxTokens, seed: EXAM_SAMPLING_SEED },
      );
      const flat = groups.flatMap((g, i) => g.map((c) => ({ item: i, c })));
      const code = a.reward_function;
      const invalid = await sandbox.check(code);
      if (invalid) return failIn(session, `Error: the exam's scorer was refused: ${invalid}.`, "internal");
      const scored = await sandbox.score(
        code,
        flat.map((f) => ({ completion: f.c.text, ground_truth: items[f.item]!.ground_truth })),
      );
      const perItem = items.map(() => [] as number[]);
      for (const [k, f] of flat.entries()) perItem[f.item]!.push(scored.scores[k] ?? 0);
      const scores = items.map((it, i) => ({ item: examItemHash(it), score: mean(perItem[i]!) }));
      const lines = flat.map((f, k) =>
        JSON.stringify({
          ...items[f.item]!,
          item: examItemHash(items[f.item]!),
          completion: f.c.text,
          score: scored.scores[k] ?? 0,
          finish_reason: f.c.finishReason,
        }),
      );
      fs.writeFileSync(examFile(dir, EXAM_FILES.sitting(a.label)), `${lines.join("\n")}\n`, { mode: 0o600 });
      const m = mean(scores.map((s) => s.score));
      const truncated = flat.filter((f) => f.c.finishReason === "length").length;
      const rewardErrors = scored.errors.filter(Boolean).length;
      return ok(`Exam ${a.label} on the ${weights}: ${items.length} items × ${a.samples}, mean ${m.toFixed(4)}.`, {
        label: a.label,
        scores,
        mean: m,
        items: items.length,
        samples: a.samples,
        temperature: a.temperature,
        max_tokens: maxTokens,
        truncated,
        reward_errors: rewardErrors,
        weights,
      });
    }),
  );
}

/** The exam's sampling seed (backends that take one): fixed, so a sitting is the same on the same weights. */
const EXAM_SAMPLING_SEED = 28_028;

function readItems(file: string): ExamItem[] {
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as ExamItem);
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

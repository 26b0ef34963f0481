import { z } from "zod";
import { CATALOG, generatorEntries } from "../catalog.ts";
import { exportRoot, resolveOutput, writeJsonl } from "../export-writer.ts";
import { generate, TASKS } from "../../../lib/generators/generate.ts";
import { examPrompts } from "../../../lib/exam-files.ts";
import type { Difficulty } from "../../../lib/generators/generate.ts";
import type { Format } from "../mapping.ts";
import { asToolHandler, ok } from "../tool-context.ts";
import type { HfToolContext } from "../tool-context.ts";
import { catalogResult, generateResult } from "../../contracts/hf-datasets-results.ts";

/** generate_synthetic and list_catalog: the offline data. */
export function registerGeneratorTools(ctx: HfToolContext): void {
  ctx.server.registerTool(
    "generate_synthetic",
    {
      description:
        `Generate a seeded task dataset offline and write it as JSONL: ${TASKS.join(", ")}. ` +
        "Train and eval splits never share a prompt. GRPO records carry a checkable ground_truth; SFT records a worked response. " +
        'output is relative to the run directory (e.g. "data/pool.jsonl"); the tinker tools take the same path.',
      inputSchema: {
        task: z.enum(TASKS),
        n: z.number().int().min(1).max(20_000),
        seed: z.number().int().default(0),
        difficulty: z.union([z.literal("mixed"), z.number().int().min(1).max(4)]).default("mixed"),
        format: z.enum(["grpo", "sft"]).default("grpo"),
        split: z.enum(["train", "eval"]).default("train"),
        output: z.string().min(1),
        overwrite: z.boolean().default(false),
      },
      outputSchema: generateResult,
    },
    asToolHandler(
      async (a: {
        task: (typeof TASKS)[number];
        n: number;
        seed: number;
        difficulty: "mixed" | number;
        format: Format;
        split: "train" | "eval";
        output: string;
        overwrite: boolean;
      }) => {
        const root = exportRoot(ctx.env);
        const file = resolveOutput(root, a.output, a.overwrite);
        // A graded run's exam items are never handed out: the same seed gives the same items in
        // the same order, so the exam's are dropped and the next ones fill their places.
        const exam = examPrompts(ctx.env);
        const drawn = generate(a.task, { n: a.n + exam.size, seed: a.seed, difficulty: a.difficulty as Difficulty, split: a.split });
        const kept = drawn.items.filter((it) => !exam.has(it.prompt));
        const items = kept.slice(0, a.n);
        const exhausted = items.length < a.n;
        const withheld = drawn.items.length - kept.length;
        const records = items.map(
          (it): Record<string, string> =>
            a.format === "grpo" ? { prompt: it.prompt, ground_truth: it.ground_truth } : { prompt: it.prompt, response: it.response },
        );
        const w = writeJsonl(
          root,
          file,
          records,
          { generator: a.task, seed: a.seed, difficulty: a.difficulty, split: a.split, format: a.format, license: "generated" },
          a.overwrite,
        );
        const lines = [
          `Wrote ${records.length} ${a.task} ${a.format} records (${a.split} split, seed ${a.seed}, difficulty ${a.difficulty}) to ${file}.`,
          ...(exhausted ? [`Only ${records.length} distinct items exist at this difficulty and split; asked for ${a.n}.`] : []),
          ...(withheld ? [`${withheld} item(s) of this split are the run's hidden exam and were left out (others took their places).`] : []),
          ...records.slice(0, 3).map((r) => `  ${JSON.stringify(r)}`),
        ];
        return ok(lines.join("\n"), {
          path: file,
          task: a.task,
          format: a.format,
          split: a.split,
          rows_written: records.length,
          requested: a.n,
          exhausted,
          sha256: w.sha256,
          meta_path: w.metaPath,
          preview: records.slice(0, 3),
        });
      },
    ),
  );

  ctx.server.registerTool(
    "list_catalog",
    {
      description: "The built-in catalog: common datasets with licenses and ready-made mapping presets (usable offline), and the synthetic generators.",
      inputSchema: {},
      outputSchema: catalogResult,
    },
    asToolHandler(async () => {
      const datasets = CATALOG.map((d) => ({
        id: d.id,
        license: d.license,
        commercial_use: d.commercialUse,
        description: d.description,
        presets: d.presets.map((p) => ({ name: p.name, format: p.format, note: p.note ?? null })),
      }));
      const generators = generatorEntries().map((g) => ({ task: g.task, description: g.description, ground_truth: g.groundTruth, levels: g.levels }));
      const lines = [
        "Datasets (presets work with export_dataset {preset: ...}):",
        ...datasets.map(
          (d) =>
            `- ${d.id} · ${d.license}${d.commercial_use ? "" : " (non-commercial or undeclared)"} · presets: ${d.presets.map((p) => p.name).join(", ")}\n  ${d.description}`,
        ),
        "Generators (generate_synthetic, offline):",
        ...generators.map((g) => `- ${g.task}: ${g.description}. Ground truth: ${g.ground_truth}. Levels: ${g.levels}`),
      ];
      return ok(lines.join("\n"), { datasets, generators, offline: ctx.hub.config.offline });
    }),
  );
}

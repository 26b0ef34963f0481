import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { DEFAULT_MODELS_DIR } from "../../lib/package-paths.ts";

export const indexShape = z.array(z.object({ name: z.string(), shape: z.array(z.number()), offset: z.number(), length: z.number() }));
const configShape = z.object({
  vocabSize: z.number(),
  contextLength: z.number(),
  dModel: z.number(),
  nLayers: z.number(),
  nHeads: z.number(),
  dFF: z.number(),
});

/** `models/<name>/manifest.json`: a shipped base model. */
export const manifestShape = z.object({
  id: z.string(),
  description: z.string(),
  config: configShape,
  parameters: z.number(),
  weights: z.object({ file: z.string(), sha256: z.string(), index: indexShape }),
  renderer: z.string(),
  stop: z.array(z.string()),
  pretraining: z.record(z.string(), z.unknown()),
  baseline: z.record(z.string(), z.unknown()).optional(),
});
export type ModelManifest = z.infer<typeof manifestShape>;

/** Lists the shipped local models (ids like "local/tiny-arith"). */
export function listLocalModels(modelsDir = DEFAULT_MODELS_DIR): ModelManifest[] {
  if (!fs.existsSync(modelsDir)) return [];
  return fs
    .readdirSync(modelsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(modelsDir, d.name, "manifest.json")))
    .map((d) => manifestShape.parse(JSON.parse(fs.readFileSync(path.join(modelsDir, d.name, "manifest.json"), "utf8"))));
}

/** Ids of the local models (`local/<folder>`) without reading their weights: cheap enough for flag checks. */
export function localModelIds(modelsDir = DEFAULT_MODELS_DIR): string[] {
  if (!fs.existsSync(modelsDir)) return [];
  return fs
    .readdirSync(modelsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(modelsDir, d.name, "manifest.json")))
    .map((d) => `local/${d.name}`);
}

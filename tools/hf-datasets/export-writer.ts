import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { configNameIn, configNameRefusal } from "../../lib/config-names.ts";
import { PathRefused, resolveInRoot } from "../../lib/run-files.ts";
import { plainFoldersTo, writeInsideRoot } from "../../lib/run-file-writes.ts";
import { isHarnessOwned } from "../../lib/run-layout.ts";

export class OutputPathError extends Error {}

/**
 * Where output paths resolve: the run directory under the harness (the one path rule
 * every tool follows), else HF_DATASETS_EXPORT_DIR, else ./data/exports.
 */
export function exportRoot(env: Record<string, string | undefined>): string {
  if (env.TINKERLOOP_RUN_DIR) return path.resolve(env.TINKERLOOP_RUN_DIR);
  if (env.HF_DATASETS_EXPORT_DIR) return path.resolve(env.HF_DATASETS_EXPORT_DIR);
  return path.resolve("data", "exports");
}

/**
 * Checks an output path before any work is done: a `.jsonl` file inside the export
 * root, reached through plain folders only, not a harness file, not an existing file
 * unless `overwrite`. Returns the absolute path.
 */
export function resolveOutput(root: string, output: string, overwrite: boolean): string {
  if (!output.trim().endsWith(".jsonl")) throw new OutputPathError(`Output must be a .jsonl file, got ${JSON.stringify(output)}.`);
  fs.mkdirSync(root, { recursive: true });
  const realRoot = fs.realpathSync(root);
  try {
    const target = resolveInRoot(realRoot, output, "output");
    if (isHarnessOwned(path.relative(realRoot, target)))
      throw new OutputPathError(`${output} is a harness file or folder (read-only to tools); write under data/ instead.`);
    const config = configNameIn(path.relative(realRoot, target));
    if (config !== undefined) throw new OutputPathError(configNameRefusal(config));
    plainFoldersTo(realRoot, target, false);
    for (const f of [target, sidecarOf(target)]) {
      const st = lstatOrUndefined(f);
      if (st?.isSymbolicLink()) throw new OutputPathError(`${path.relative(realRoot, f)} is a symbolic link; refused.`);
      if (f === target && st && !overwrite)
        throw new OutputPathError(`${path.relative(realRoot, f)} already exists; pass overwrite: true to replace it, or choose another name.`);
    }
    return target;
  } catch (err) {
    if (err instanceof PathRefused) throw new OutputPathError(err.message);
    throw err;
  }
}

const sidecarOf = (file: string) => `${file}.meta.json`;

function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

/**
 * Writes records as JSONL plus a `.meta.json` sidecar, both under the one write rule
 * (temp file and rename, no symbolic link followed, harness files refused).
 */
export function writeJsonl(
  root: string,
  file: string,
  records: Array<Record<string, string>>,
  meta: Record<string, unknown>,
  overwrite: boolean,
): { sha256: string; bytes: number; metaPath: string } {
  const body = records.map((r) => JSON.stringify(r)).join("\n") + (records.length ? "\n" : "");
  const write = (target: string, data: string, replace: boolean) => {
    try {
      return writeInsideRoot(path.relative(fs.realpathSync(root), target), data, { root, overwrite: replace });
    } catch (err) {
      if (err instanceof PathRefused) throw new OutputPathError(err.message);
      throw err;
    }
  };
  write(file, body, overwrite);
  const sha256 = crypto.createHash("sha256").update(body).digest("hex");
  const metaPath = write(
    sidecarOf(file),
    `${JSON.stringify({ ...meta, file: path.basename(file), rows: records.length, sha256, written_at: new Date().toISOString() }, null, 2)}\n`,
    true,
  );
  return { sha256, bytes: Buffer.byteLength(body), metaPath };
}

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export class OutputPathError extends Error {}

/** Where exports may be written: HF_DATASETS_EXPORT_DIR, else the run's data/, else ./data/exports. */
export function exportRoot(env: Record<string, string | undefined>): string {
  if (env.HF_DATASETS_EXPORT_DIR) return path.resolve(env.HF_DATASETS_EXPORT_DIR);
  if (env.TINKERLOOP_RUN_DIR) return path.join(env.TINKERLOOP_RUN_DIR, "data");
  return path.resolve("data", "exports");
}

/**
 * Checks an output path: a `.jsonl` file inside the export root, reached without
 * `..` or symbolic links. Creates missing folders. Returns the absolute path.
 */
export function resolveOutput(root: string, output: string, overwrite: boolean): string {
  if (!output.endsWith(".jsonl")) throw new OutputPathError(`Output must be a .jsonl file, got ${JSON.stringify(output)}.`);
  if (output.split(/[\\/]/).includes("..")) throw new OutputPathError(`Output paths may not contain "..": ${JSON.stringify(output)}.`);
  fs.mkdirSync(root, { recursive: true });
  const realRoot = fs.realpathSync(root);
  const target = path.isAbsolute(output) ? path.resolve(output) : path.resolve(realRoot, output);
  const rel = path.relative(realRoot, target);
  if (rel.startsWith("..") || path.isAbsolute(rel)) {
    throw new OutputPathError(`Output must be inside the export directory ${realRoot}; got ${output}. Pass a relative path like "gsm8k/train.jsonl".`);
  }
  let cur = realRoot;
  for (const part of rel.split(path.sep).slice(0, -1)) {
    cur = path.join(cur, part);
    if (!fs.existsSync(cur)) {
      fs.mkdirSync(cur);
      continue;
    }
    if (fs.lstatSync(cur).isSymbolicLink() || !fs.statSync(cur).isDirectory()) throw new OutputPathError(`${cur} is a symbolic link or not a folder; refused.`);
  }
  if (fs.existsSync(target) || isDanglingLink(target)) {
    if (fs.lstatSync(target).isSymbolicLink()) throw new OutputPathError(`${target} is a symbolic link; refused.`);
    if (!overwrite) throw new OutputPathError(`${target} already exists; pass overwrite: true to replace it, or choose another name.`);
  }
  return target;
}

function isDanglingLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Writes records as JSONL through a temp file and a rename, plus a `.meta.json` sidecar. */
export function writeJsonl(file: string, records: Array<Record<string, string>>, meta: Record<string, unknown>): { sha256: string; bytes: number; metaPath: string } {
  const body = records.map((r) => JSON.stringify(r)).join("\n") + (records.length ? "\n" : "");
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  fs.writeFileSync(tmp, body, { flag: "wx" });
  fs.renameSync(tmp, file);
  const sha256 = crypto.createHash("sha256").update(body).digest("hex");
  const metaPath = `${file}.meta.json`;
  // Through a fresh file and a rename too: `bash` can plant a link where the sidecar goes.
  const metaTmp = `${metaPath}.tmp-${process.pid}-${Date.now()}`;
  fs.writeFileSync(metaTmp, JSON.stringify({ ...meta, file: path.basename(file), rows: records.length, sha256, written_at: new Date().toISOString() }, null, 2) + "\n", { flag: "wx" });
  fs.renameSync(metaTmp, metaPath);
  return { sha256, bytes: Buffer.byteLength(body), metaPath };
}

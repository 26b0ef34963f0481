import fs from "node:fs";
import path from "node:path";
import { configNameIn, configNameRefusal } from "./config-names.ts";
import { isHarnessOwned } from "./run-layout.ts";
import { displayName, PathRefused, resolveInRoot, within } from "./run-files.ts";

/**
 * The one way the harness writes into a folder the planner can touch (a run directory): every
 * path walked one component at a time beneath its root, each folder opened inside the one
 * before without following links (openat-with-O_NOFOLLOW semantics through /proc/self/fd), so
 * a symbolic link the planner planted at any component is refused, never followed; files and
 * folders owner-only. `test/e2e/harness-writes.test.ts` fails on any other write path.
 */

/** Modes of everything the harness creates in a run directory: the owner's alone (other local users read nothing of a run). */
export const RUN_FILE_MODE = 0o600;
export const RUN_DIR_MODE = 0o700;

/**
 * Makes the run directory (and the folders above it that are missing) and makes it the
 * owner's alone, also when it existed (an empty folder the user made, a run resumed).
 */
export function makePrivateRunDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: RUN_DIR_MODE });
  fs.chmodSync(dir, RUN_DIR_MODE);
}

/**
 * The one way the harness writes into a folder the planner can touch (a run directory:
 * `bash` writes there). A path is walked from `root` one component at a time, each
 * opened relative to the descriptor of the folder before it with O_NOFOLLOW, so a
 * symbolic link at any component is refused and a folder swapped for a link between
 * two steps is never followed (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, done with
 * Node's calls: on Linux a path under /proc/self/fd/<dir> is resolved from that open
 * folder, not from its name). Where /proc is missing the walk checks each component
 * with lstat instead (a narrow race remains there). `root` itself is the user's choice
 * and may be reached through links; nothing below it may.
 */
const FD_DIR = "/proc/self/fd";
const fdPaths = process.platform === "linux" && fs.existsSync(`${FD_DIR}/0`);
const O_DIR = fs.constants.O_RDONLY | (fs.constants.O_DIRECTORY ?? 0) | fs.constants.O_NOFOLLOW;

/** The components of `rel` below root; `..`, absolute paths and NUL bytes are refused. */
function componentsOf(rel: string): string[] {
  if (rel.includes("\0")) throw new PathRefused("Refused: the path contains a NUL byte.");
  if (path.isAbsolute(rel)) throw new PathRefused(`Refused: ${displayName(rel)} must be relative to its folder.`);
  const parts = rel.split(/[\\/]+/).filter((p) => p && p !== ".");
  if (parts.some((p) => p === "..")) throw new PathRefused(`Refused: ${displayName(rel)} leads out of its folder.`);
  if (parts.length === 0) throw new PathRefused("Refused: give a file name, not the folder itself.");
  return parts;
}

function linkRefused(root: string, parts: string[], upTo: number): PathRefused {
  return new PathRefused(
    `Refused: ${displayName(parts.slice(0, upTo + 1).join("/"))} is a symbolic link or not a plain folder (in ${root}); the harness never writes through one.`,
  );
}

/** An open folder: its descriptor (or path, where /proc is missing) and how to name an entry in it. */
type Dir = { fd: number | undefined; path: string; entry(name: string): string; close(): void };

function openRoot(root: string): Dir {
  const real = fs.realpathSync(root);
  if (!fdPaths) return { fd: undefined, path: real, entry: (n) => path.join(real, n), close() {} };
  const fd = fs.openSync(real, fs.constants.O_RDONLY | (fs.constants.O_DIRECTORY ?? 0));
  return { fd, path: real, entry: (n) => `${FD_DIR}/${fd}/${n}`, close: () => fs.closeSync(fd) };
}

/** Steps from `dir` into its plain sub-folder `name` (made when `create`); the old Dir is closed. */
function step(dir: Dir, name: string, create: boolean, fail: () => PathRefused): Dir {
  const here = path.join(dir.path, name);
  const mk = () => {
    try {
      fs.mkdirSync(dir.entry(name), RUN_DIR_MODE);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  };
  if (dir.fd === undefined) {
    let st = lstatOrNone(here);
    if (!st && create) {
      mk();
      st = lstatOrNone(here);
    }
    if (!st) throw Object.assign(new Error(`no folder ${here}`), { code: "ENOENT" });
    if (st.isSymbolicLink() || !st.isDirectory()) throw fail();
    return { fd: undefined, path: here, entry: (n) => path.join(here, n), close() {} };
  }
  let fd: number;
  try {
    fd = fs.openSync(dir.entry(name), O_DIR);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && create) {
      mk();
      try {
        fd = fs.openSync(dir.entry(name), O_DIR);
      } catch (again) {
        dir.close();
        if (["ELOOP", "ENOTDIR"].includes((again as NodeJS.ErrnoException).code ?? "")) throw fail();
        throw again;
      }
    } else {
      dir.close();
      if (code === "ELOOP" || code === "ENOTDIR") throw fail();
      throw err;
    }
  }
  dir.close();
  return { fd, path: here, entry: (n) => `${FD_DIR}/${fd}/${n}`, close: () => fs.closeSync(fd) };
}

/** Opens the folder that holds `rel` (below `root`), refusing a link at any component. The caller closes it. */
function parentBeneath(root: string, rel: string, create: boolean): { dir: Dir; name: string; parts: string[] } {
  const parts = componentsOf(rel);
  let dir = openRoot(root);
  for (let i = 0; i < parts.length - 1; i++) {
    const r = dir.path;
    dir = step(dir, parts[i]!, create, () => linkRefused(r, parts, i));
  }
  return { dir, name: parts.at(-1)!, parts };
}

function lstatOrNone(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

export type BeneathWrite = {
  /** create: a new file (EEXIST if one is there); replace: through a temp file and a rename; append: add to the end. */
  how: "create" | "replace" | "append";
  /** Make missing folders on the way (owner-only). */
  mkdirs?: boolean;
};

/**
 * Writes `data` to `rel` below `root` under the rule above, and returns the absolute
 * path written. A link as the file itself is refused (create, append) or replaced by
 * the rename, never followed (replace).
 */
export function writeBeneath(root: string, rel: string, data: string | Buffer, o: BeneathWrite): string {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const { dir, name, parts } = parentBeneath(root, rel, o.mkdirs ?? false);
  try {
    const target = path.join(dir.path, name);
    if (o.how === "replace") {
      const tmp = `.${name}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
      writeFd(openIn(dir, tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, root, parts), bytes, true);
      try {
        fs.renameSync(dir.entry(tmp), dir.entry(name));
      } catch (err) {
        fs.rmSync(dir.entry(tmp), { force: true });
        throw err;
      }
      return target;
    }
    const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | (o.how === "create" ? fs.constants.O_EXCL : fs.constants.O_APPEND);
    writeFd(openIn(dir, name, flags, root, parts), bytes, false);
    return target;
  } finally {
    dir.close();
  }
}

/** Opens `rel` below `root` with `flags` (O_NOFOLLOW added) and returns the descriptor (a transcript kept open). */
export function openBeneath(root: string, rel: string, flags: number, o: { mkdirs?: boolean } = {}): number {
  const { dir, name, parts } = parentBeneath(root, rel, o.mkdirs ?? false);
  try {
    return openIn(dir, name, flags, root, parts);
  } finally {
    dir.close();
  }
}

/** Makes the folder `rel` below `root` (and those on the way, owner-only), refusing a link at any component; returns its path. */
export function mkdirBeneath(root: string, rel: string): string {
  const parts = componentsOf(rel);
  let dir = openRoot(root);
  for (let i = 0; i < parts.length; i++) {
    const r = dir.path;
    dir = step(dir, parts[i]!, true, () => linkRefused(r, parts, i));
  }
  dir.close();
  return dir.path;
}

function openIn(dir: Dir, name: string, flags: number, root: string, parts: string[]): number {
  try {
    return fs.openSync(dir.entry(name), flags | fs.constants.O_NOFOLLOW, RUN_FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw linkRefused(root, parts, parts.length - 1);
    throw err;
  }
}

function writeFd(fd: number, bytes: Buffer, sync: boolean): void {
  try {
    if (!fs.fstatSync(fd).isFile()) throw new PathRefused("Refused: not a regular file.");
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    if (sync) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Checks every folder from `root` down to `target`'s parent: each must be a plain
 * folder (no symbolic link). Missing ones are created when `create` is set; otherwise
 * the check ends there (nothing below a missing folder can be a link).
 */
export function plainFoldersTo(root: string, target: string, create: boolean): void {
  const parts = path.relative(root, path.dirname(target)).split(path.sep).filter(Boolean);
  let cur = root;
  for (const part of parts) {
    cur = path.join(cur, part);
    const st = lstatOrNone(cur);
    if (!st) {
      if (!create) return;
      fs.mkdirSync(cur, RUN_DIR_MODE);
      continue;
    }
    if (st.isSymbolicLink() || !st.isDirectory()) {
      throw new PathRefused(`Refused: ${displayName(path.relative(root, cur))} is not a plain folder of the run directory (a link or a file).`);
    }
  }
}

export type WriteRule = {
  /** The only folder written to (the run directory, or a folder inside it). */
  root: string;
  /** The run directory, for the harness-owned check (defaults to root). */
  runDir?: string;
  overwrite: boolean;
};

/**
 * Writes a file for a tool call inside `root`: harness-owned and configuration-like
 * names are refused, then writeBeneath replaces it (no link followed at any
 * component, a reader never sees half a file). Returns the absolute path written.
 */
export function writeInsideRoot(p: string, data: string | Buffer, rule: WriteRule): string {
  const root = fs.realpathSync(rule.root);
  const target = resolveInRoot(root, p);
  if (target === root) throw new PathRefused("Refused: give a file name, not the folder itself.");
  const runDir = rule.runDir ? fs.realpathSync(rule.runDir) : root;
  if (within(target, runDir) && isHarnessOwned(path.relative(runDir, target))) {
    throw new PathRefused(
      `Refused: ${displayName(path.relative(runDir, target))} belongs to the harness (transcript, metrics, summary, progress, report, logs/, checkpoints/, completions/) and is read-only to tools. Write under another name, e.g. data/ or notes/.`,
    );
  }
  const rel = path.relative(root, target);
  const config = configNameIn(rel);
  if (config !== undefined) throw new PathRefused(configNameRefusal(config));
  const existing = lstatBeneath(root, rel);
  if (existing?.isSymbolicLink()) throw new PathRefused(`Refused: ${displayName(p)} is a symbolic link.`);
  if (existing && !existing.isFile()) throw new PathRefused(`Refused: ${displayName(p)} exists and is not a regular file.`);
  if (existing && !rule.overwrite) throw new PathRefused(`${displayName(p)} already exists; pass overwrite: true to replace it, or choose another name.`);
  return writeBeneath(root, rel, data, { how: "replace", mkdirs: true });
}

/** lstat of `rel` below `root` (undefined when missing); a link among its folders is refused. */
function lstatBeneath(root: string, rel: string): fs.Stats | undefined {
  let opened: ReturnType<typeof parentBeneath>;
  try {
    opened = parentBeneath(root, rel, false);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    return lstatOrNone(opened.dir.entry(opened.name));
  } finally {
    opened.dir.close();
  }
}

/**
 * Replaces a file the harness owns (summary, report) in a folder the planner's shell can
 * also reach: through a fresh temp file and a rename in the same open folder, which
 * replaces whatever entry is there — a planted link included — without following it.
 * `root` is the run directory (default: the file's own folder).
 */
export function replaceFile(file: string, data: string | Buffer, root = path.dirname(file)): void {
  writeBeneath(root, path.relative(root, file), data, { how: "replace" });
}

/** Appends to a file the harness owns in a run directory (metrics, server logs), never through a link. */
export function appendRunFile(root: string, rel: string, data: string | Buffer): void {
  writeBeneath(root, rel, data, { how: "append", mkdirs: true });
}

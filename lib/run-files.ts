import fs from "node:fs";
import path from "node:path";

/**
 * The one path rule for every tool argument that names a file (reward_function,
 * prompts, examples, export output, the workspace tools):
 * - a relative path resolves against the run directory; an absolute one must lie inside it;
 * - only regular files are read (no FIFO, device or directory), through no symbolic link
 *   that leads out, up to a size cap, with an open that cannot block;
 * - writes refuse a symbolic link at every component and never touch harness-owned files.
 */

/** A path the rule refuses; the message is written for the planner. */
export class PathRefused extends Error {}

/** Extensions that make a one-line "source or path" value a path. */
const PATH_EXTENSIONS = [".py", ".json", ".jsonl"];

/** True when a value given where "source or a file" is accepted names a file. */
export function isPathLike(value: string): boolean {
  const t = value.trim();
  return t.length > 0 && !t.includes("\n") && PATH_EXTENSIONS.some((ext) => t.endsWith(ext));
}

/** Whether `p` is `root` or inside it (lexically: links are the caller's to check). */
export function within(p: string, root: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** Shows a file name with any control character (newline, escape…) escaped, so one name is one line. */
export function displayName(name: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f-\u009f]/.test(name) ? JSON.stringify(name) : name;
}

/** The absolute path an argument names: relative to `root`; absolute only inside it. */
export function resolveInRoot(root: string, p: string, what = "path"): string {
  if (p.includes("\0")) throw new PathRefused(`Refused: the ${what} contains a NUL byte.`);
  const target = path.resolve(root, p.trim());
  if (!within(target, root)) {
    throw new PathRefused(
      `Refused: ${displayName(p)} is outside the run directory. Give a path relative to the run directory (e.g. "data/pool.jsonl", "reward.py").`,
    );
  }
  return target;
}

/** What a missing file's error says: where it looked and what is there. */
export function missingFileMessage(root: string, p: string, what: string): string {
  const target = path.resolve(root, p.trim());
  const dir = path.dirname(target);
  // Only folders of the run directory are listed: a name elsewhere says nothing of what is there.
  if (!namesWithin(dir, [root])) return `No such file in the run directory: ${displayName(p.trim())} (relative paths are resolved against ${root}).`;
  let listing = "";
  try {
    const names = fs.readdirSync(dir).sort();
    const shown = names.slice(0, 20).map(displayName).join(", ");
    listing = names.length
      ? ` Files in ${path.relative(root, dir) || "the run directory"}: ${shown}${names.length > 20 ? `, … (${names.length} in all)` : ""}.`
      : ` ${path.relative(root, dir) || "The run directory"} is empty.`;
  } catch {
    listing = ` The folder ${path.relative(root, dir) || "."} does not exist in the run directory.`;
  }
  return `No such file: ${displayName(p.trim())} (looked for the ${what} at ${target}; relative paths are resolved against the run directory ${root}).${listing}`;
}

export type ReadRule = {
  /** Where relative paths resolve, and the first place reads are allowed. */
  root: string;
  /** Further folders whose files may be read (the playbook's folder, this run's tinker logs). */
  alsoReadable?: readonly string[];
  maxBytes: number;
  /** What the file is, for messages ("reward function", "prompts"). */
  what: string;
};

const O_READ = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (fs.constants.O_NOCTTY ?? 0);

/** The real path behind an open descriptor (Linux), else the real path of the name opened. */
function realPathOf(fd: number, opened: string): string {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return fs.realpathSync(opened);
  }
}

/**
 * Opens a regular file the rule allows and hands its descriptor to `use`. The open
 * cannot block (a FIFO opens at once and is then refused), the file actually opened is
 * checked against the allowed places (so a link cannot lead out), and nothing of a
 * refused file is read.
 */
function withAllowedFile<T>(p: string, rule: ReadRule, use: (fd: number, size: number, real: string) => T): T {
  if (p.includes("\0")) throw new PathRefused(`Refused: the ${rule.what} path contains a NUL byte.`);
  const target = path.resolve(rule.root, p.trim());
  const roots = [rule.root, ...(rule.alsoReadable ?? [])];
  const outside = () =>
    new PathRefused(
      `Refused: ${displayName(p)} is outside what may be read (the run directory${rule.alsoReadable?.length ? " and the run's read-only folders" : ""}). Give a path relative to the run directory.`,
    );
  // A name outside every allowed folder is refused before anything is opened (no side effect, no existence oracle).
  if (!namesWithin(target, roots)) throw outside();
  let fd: number;
  try {
    fd = fs.openSync(target, O_READ);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw new PathRefused(missingFileMessage(rule.root, p, rule.what));
    if (code === "EACCES" || code === "EPERM") throw new PathRefused(`Refused: ${displayName(p)} cannot be read (permission denied).`);
    throw err;
  }
  try {
    // A link inside an allowed folder may still lead out: the real path decides.
    const real = realPathOf(fd, target);
    if (!roots.map(realRoot).some((r) => r !== undefined && within(real, r))) throw outside();
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw new PathRefused(`Refused: ${displayName(p)} is a folder, not a file.`);
    if (!st.isFile()) throw new PathRefused(`Refused: ${displayName(p)} is not a regular file (a pipe, socket or device); only regular files are read.`);
    if (st.size > rule.maxBytes) throw new PathRefused(`Refused: ${displayName(p)} has ${st.size} bytes; the ${rule.what} may have at most ${rule.maxBytes}.`);
    return use(fd, st.size, real);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads a regular file the rule allows (see withAllowedFile); returns its real path and bytes. */
export function readAllowedFile(p: string, rule: ReadRule): { path: string; bytes: Buffer } {
  return withAllowedFile(p, rule, (fd, size, real) => ({ path: real, bytes: readWhole(fd, size) }));
}

/** The first `size` bytes of an open file (fewer if it is shorter by now). */
function readWhole(fd: number, size: number): Buffer {
  const bytes = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const n = fs.readSync(fd, bytes, off, size - off, off);
    if (n === 0) break;
    off += n;
  }
  return bytes.subarray(0, off);
}

/** Checks that a file is one readAllowedFile would read, without reading it; returns its real path. */
export function checkAllowedFile(p: string, rule: ReadRule): string {
  return withAllowedFile(p, rule, (_fd, _size, real) => real);
}

/** Whether a name (before links are followed) lies in one of the folders, as given or as their real paths. */
function namesWithin(target: string, roots: readonly string[]): boolean {
  return roots.some((r) => {
    if (within(target, path.resolve(r))) return true;
    const real = realRoot(r);
    return real !== undefined && within(target, real);
  });
}

function realRoot(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}

/** The largest configuration file the user names (prices, MCP config, prompt, template, sweep, .env). */
export const MAX_CONFIG_FILE_BYTES = 4 * 1024 * 1024;

/**
 * A file the user named on the command line, read whole only when it is a regular file of at
 * most `maxBytes`: a pipe would block for ever and a device never ends. Throws an Error whose
 * message says why (the caller words it for its flag).
 */
export function readConfigFile(file: string, maxBytes = MAX_CONFIG_FILE_BYTES): string {
  const fd = fs.openSync(file, O_READ);
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw new Error("a folder, not a file");
    if (!st.isFile()) throw new Error("not a regular file (a pipe, socket or device)");
    if (st.size > maxBytes) throw new Error(`${st.size} bytes, more than the ${maxBytes} a configuration file may have`);
    return readWhole(fd, st.size).toString("utf8");
  } finally {
    fs.closeSync(fd);
  }
}

/** Why a configuration file could not be read, in a few words. */
export function whyUnreadable(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  return code ?? (err as Error).message;
}

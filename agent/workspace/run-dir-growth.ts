import fs from "node:fs";
import path from "node:path";

/** How much one `bash` call may add to the run directory: allocated bytes and entries. */
export type GrowthLimits = { bytes: number; entries: number };

/** What a folder holds: totals, and per entry (device and inode) the size and blocks it had. */
export type TreeSnapshot = { bytes: number; entries: number; byInode: Map<string, { size: number; bytes: number }> };

/** What undoing a call's growth did (run-dir-relative names). */
export type UndoneGrowth = { removed: string[]; cut: string[]; bytes: number; entries: number };

/**
 * Bytes and entries under `root`: every entry is counted (a tree of many small files is
 * not cut off), the walk ends early only once `stopAt` entries are seen (past the entry
 * limit the command is stopped anyway). A file counts its allocated blocks or its size,
 * whichever is more (blocks reserved past its end, or holes it may fill later), and a
 * file with several names (hard links) once. The polling measure while a command runs.
 */
export function treeUsage(root: string, stopAt: number): { bytes: number; entries: number } {
  let bytes = 0;
  let entries = 0;
  const linked = new Set<string>();
  walk(root, (_p, st) => {
    entries++;
    bytes += blocksOnce(st, linked);
    return entries <= stopAt;
  });
  return { bytes, entries };
}

/** Every entry under `root` with its size and blocks, keyed by inode (a rename keeps its key). */
export function snapshotTree(root: string): TreeSnapshot {
  const byInode = new Map<string, { size: number; bytes: number }>();
  const linked = new Set<string>();
  let bytes = 0;
  let entries = 0;
  walk(root, (_p, st) => {
    entries++;
    bytes += blocksOnce(st, linked);
    byInode.set(key(st), { size: st.size, bytes: charged(st) });
    return true;
  });
  return { bytes, entries, byInode };
}

/**
 * Gives the owner back read, write and search on `root` and every folder below it. A
 * command runs as the harness's own user (mapped), so it can `chmod 300` a folder: the
 * harness could then not list it, and what it holds — files past the disk allowance, a
 * git directory for a later `git status` — would be invisible to the walks that measure,
 * undo and neutralise. Only after the sandbox is gone (nothing can swap a folder for a link
 * between the lstat and the chmod). Returns the folders changed, relative to `root`.
 */
export function restoreOwnerAccess(root: string): string[] {
  const changed: string[] = [];
  const stack = [root];
  while (stack.length) {
    const dir = stack.pop()!;
    try {
      const st = fs.lstatSync(dir);
      if (!st.isDirectory()) continue;
      if ((st.mode & 0o700) !== 0o700) {
        fs.chmodSync(dir, (st.mode & 0o7777) | 0o700);
        changed.push(path.relative(root, dir) || ".");
      }
      // Entry types from the listing itself: only folders are looked at again (a name test per entry, no stat).
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) stack.push(path.join(dir, e.name));
    } catch {
      // gone, or not ours (then it was not the command's either)
    }
  }
  return changed;
}

/** Whether `now` passes `limits` over `before`. */
export function overLimits(before: { bytes: number; entries: number }, now: { bytes: number; entries: number }, limits: GrowthLimits): boolean {
  return now.bytes - before.bytes > limits.bytes || now.entries - before.entries > limits.entries;
}

/**
 * Undoes what a call added to `root` since `before` was taken: every entry that was not
 * there (a new inode) is removed with everything below it, and every file that holds more
 * than it did (appended to, or blocks reserved past its end with fallocate's keep-size,
 * which the per-file size limit does not see) is cut back to its old size — cutting a file
 * to a size frees the blocks past it. Changes in place (same size) stay. Only safe when
 * nothing else writes to `root`: the caller runs it after the sandbox and every process in
 * it are gone. `keep`: top-level names left alone (the harness's own files, read-only to
 * the command, which the harness may write meanwhile). Links are never followed (lstat, rm of the link itself, open with O_NOFOLLOW).
 */
export function undoGrowth(root: string, before: TreeSnapshot, keep: readonly string[] = []): UndoneGrowth {
  const removed: string[] = [];
  const cut: string[] = [];
  walk(root, (p, st) => {
    const rel = path.relative(root, p);
    if (keep.includes(rel)) return "skip";
    const old = before.byInode.get(key(st));
    if (!old) {
      fs.rmSync(p, { recursive: true, force: true });
      removed.push(st.isDirectory() ? `${rel}/` : rel);
      return "skip";
    }
    if (st.isFile() && (charged(st) > old.bytes || st.size > old.size)) {
      let fd: number | undefined;
      try {
        // A command can grow a file and then take its write permission away: ours to give back.
        if ((st.mode & 0o200) === 0) fs.chmodSync(p, (st.mode & 0o7777) | 0o200);
        fd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
        fs.ftruncateSync(fd, Math.min(st.size, old.size));
        cut.push(rel);
      } catch {
        // not ours to write; left as it is, and the re-measure below says so
      } finally {
        if (fd !== undefined) fs.closeSync(fd);
      }
    }
    return true;
  });
  const after = treeUsage(root, Number.POSITIVE_INFINITY);
  return { removed, cut, bytes: after.bytes - before.bytes, entries: after.entries - before.entries };
}

/** A file's charge, counted at its first name only: hard links hold no more on disk. */
function blocksOnce(st: fs.Stats, linked: Set<string>): number {
  if (st.nlink > 1 && !st.isDirectory()) {
    if (linked.has(key(st))) return 0;
    linked.add(key(st));
  }
  return charged(st);
}

/**
 * What an entry is charged: its allocated blocks, or its size when that is more. A sparse
 * file is charged its whole size when it is made: filling its holes later allocates blocks
 * without changing its size, and no cut back to the same size frees them.
 */
function charged(st: fs.Stats): number {
  return st.isFile() ? Math.max(st.size, st.blocks * 512) : st.blocks * 512;
}

function key(st: fs.Stats): string {
  return `${st.dev}:${st.ino}`;
}

/** Depth-first over every entry below `root` (not `root`), never through a link; `visit` returns false to end, "skip" to not descend. */
function walk(root: string, visit: (p: string, st: fs.Stats) => boolean | "skip"): void {
  const stack = [root];
  while (stack.length) {
    const dir = stack.pop()!;
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const p = path.join(dir, name);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(p);
      } catch {
        continue; // gone meanwhile
      }
      const go = visit(p, st);
      if (go === false) return;
      if (go === true && st.isDirectory()) stack.push(p);
    }
  }
}

import fs from "node:fs";
import path from "node:path";

/**
 * A pids cgroup for one sandbox: the dependable process-count limit where the
 * harness runs as root (RLIMIT_NPROC does not bind root), and a way to kill every
 * member at once. Available where a cgroup can be created (cgroup v1 `pids`
 * hierarchy, or a writable cgroup v2 subtree with the pids controller).
 */
export type PidsCgroup = { dir: string; procsFile: string; killAll(): void; remove(): void };

let counter = 0;
let base: string | null | undefined;

/** The directory under which per-sandbox cgroups are made, or null where none can be. */
function cgroupBase(): string | null {
  if (base !== undefined) return base;
  base = null;
  if (process.platform !== "linux") return base;
  const candidates: string[] = ["/sys/fs/cgroup/pids"];
  try {
    const own = /^0::(.*)$/m.exec(fs.readFileSync("/proc/self/cgroup", "utf8"))?.[1];
    if (own !== undefined && fs.existsSync("/sys/fs/cgroup/cgroup.controllers")) candidates.push(path.join("/sys/fs/cgroup", own));
  } catch {
    // no /proc/self/cgroup: no cgroups
  }
  for (const c of candidates) {
    removeStale(c);
    const dir = path.join(c, `tinkerloop-${process.pid}`);
    try {
      fs.mkdirSync(dir, { recursive: true });
      if (!fs.existsSync(path.join(dir, "pids.max"))) {
        fs.rmdirSync(dir);
        continue;
      }
      base = dir;
      process.once("exit", () => {
        try {
          fs.rmdirSync(dir);
        } catch {
          // members still dying, or not empty: the OS cleans an empty cgroup up later
        }
      });
      return base;
    } catch {
      // not writable here
    }
  }
  return base;
}

/** Empty cgroups left by tinkerloop processes that died without cleaning up (killed by a signal). */
function removeStale(root: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^tinkerloop-(\d+)$/.exec(name)?.[1]);
    if (!pid || pid === process.pid || alive(pid)) continue;
    const dir = path.join(root, name);
    try {
      for (const sub of fs.readdirSync(dir, { withFileTypes: true })) if (sub.isDirectory()) fs.rmdirSync(path.join(dir, sub.name));
      fs.rmdirSync(dir);
    } catch {
      // still has members (or not ours to remove): leave it
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function pidsCgroupAvailable(): boolean {
  return cgroupBase() !== null;
}

/** A fresh cgroup with pids.max = `max`, or undefined where cgroups cannot be made. */
export function createPidsCgroup(max: number): PidsCgroup | undefined {
  const root = cgroupBase();
  if (!root) return undefined;
  const dir = path.join(root, `s${++counter}`);
  try {
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "pids.max"), String(max));
  } catch {
    return undefined;
  }
  const members = (): number[] => {
    try {
      return fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  const killAllIn = () => {
    // A process forking while we kill is caught by the next pass.
    for (let pass = 0; pass < 5; pass++) {
      const pids = members();
      if (pids.length === 0) return;
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
  };
  return {
    dir,
    procsFile: path.join(dir, "cgroup.procs"),
    killAll: killAllIn,
    remove() {
      // Members leave a moment after SIGKILL: retry a few times without blocking.
      const attempt = (left: number) => {
        try {
          fs.rmdirSync(dir);
        } catch {
          killAllIn();
          if (left > 0) setTimeout(() => attempt(left - 1), 50).unref();
        }
      };
      attempt(40);
    },
  };
}

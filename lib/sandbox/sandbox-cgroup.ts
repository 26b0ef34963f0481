import fs from "node:fs";
import path from "node:path";

/**
 * The cgroups of one sandbox: the kernel's limits on what all its processes together
 * may use — the process count (pids.max: RLIMIT_NPROC does not bind root) and the memory
 * (memory.max / memory.limit_in_bytes: a ceiling for the whole sandbox, where RLIMIT_AS
 * only bounds each process) — and a way to kill every member at once. Made where the
 * harness may create cgroups: under its own cgroup on cgroup v2 (one folder holds both
 * limits), or in the v1 `pids` and `memory` hierarchies. Where a controller is missing,
 * that limit is reported as absent (`sandboxLimits()`), never pretended.
 */
export type SandboxCgroup = {
  /** cgroup.procs files the sandbox's first process joins before anything forks. */
  procsFiles: string[];
  /** How many times the kernel killed a process of this sandbox for its memory ceiling. */
  oomKills(): number;
  killAll(): void;
  remove(): void;
};

export type CgroupLimits = { processes: number; memoryBytes: number };

type Controller = "pids" | "memory";
/** A place where per-sandbox cgroups are made, and which controllers it carries. */
type Base = { dir: string; controllers: Controller[]; v2: boolean };

let counter = 0;
let bases: Base[] | undefined;

/** Our own cgroup path in each hierarchy, from /proc/self/cgroup ("0::/x" on v2, "4:memory:/x" on v1). */
function ownPaths(): Map<string, string> {
  const out = new Map<string, string>();
  try {
    for (const line of fs.readFileSync("/proc/self/cgroup", "utf8").split("\n")) {
      const m = /^\d+:([^:]*):(.*)$/.exec(line);
      if (m) for (const c of m[1]!.split(",")) out.set(c, m[2]!);
    }
  } catch {
    // no /proc: no cgroups
  }
  return out;
}

/** Where per-sandbox cgroups can be made on this machine (cached per process). */
function findBases(): Base[] {
  if (bases) return bases;
  bases = [];
  if (process.platform !== "linux") return bases;
  const own = ownPaths();
  const candidates: Array<{ root: string; controllers: Controller[]; v2: boolean }> = [];
  if (own.has("") && fs.existsSync("/sys/fs/cgroup/cgroup.controllers"))
    candidates.push({ root: path.join("/sys/fs/cgroup", own.get("")!), controllers: ["pids", "memory"], v2: true });
  else {
    if (fs.existsSync("/sys/fs/cgroup/pids"))
      candidates.push({ root: path.join("/sys/fs/cgroup/pids", own.get("pids") ?? "/"), controllers: ["pids"], v2: false });
    if (fs.existsSync("/sys/fs/cgroup/memory"))
      candidates.push({ root: path.join("/sys/fs/cgroup/memory", own.get("memory") ?? "/"), controllers: ["memory"], v2: false });
  }
  for (const c of candidates) {
    removeStale(c.root);
    const dir = path.join(c.root, `tinkerloop-${process.pid}`);
    try {
      fs.mkdirSync(dir, { recursive: true });
      // On v2 a controller works in our child only when the parent delegates it; ask, and see what we got.
      if (c.v2) {
        try {
          fs.writeFileSync(path.join(dir, "cgroup.subtree_control"), "+pids +memory");
        } catch {
          // not delegated: whatever is available below decides
        }
      }
      const probe = path.join(dir, "probe");
      fs.mkdirSync(probe, { recursive: true });
      const controllers = c.controllers.filter((k) => fs.existsSync(path.join(probe, limitFile(k, c.v2))));
      fs.rmdirSync(probe);
      if (controllers.length === 0) {
        fs.rmdirSync(dir);
        continue;
      }
      bases.push({ dir, controllers, v2: c.v2 });
      process.once("exit", () => {
        try {
          fs.rmdirSync(dir);
        } catch {
          // members still dying: the OS cleans an empty cgroup up later
        }
      });
    } catch {
      // not writable here
    }
  }
  return bases;
}

function limitFile(c: Controller, v2: boolean): string {
  if (c === "pids") return "pids.max";
  return v2 ? "memory.max" : "memory.limit_in_bytes";
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

/** Which of the sandbox's shared limits the kernel enforces here. */
export function sandboxLimits(): { processes: boolean; memory: boolean } {
  const all = findBases().flatMap((b) => b.controllers);
  return { processes: all.includes("pids"), memory: all.includes("memory") };
}

/** Fresh cgroups with the limits set, or undefined where none can be made. */
export function createSandboxCgroup(limits: CgroupLimits): SandboxCgroup | undefined {
  const n = ++counter;
  const made: Array<{ dir: string; v2: boolean; controllers: Controller[] }> = [];
  for (const b of findBases()) {
    const dir = path.join(b.dir, `s${n}`);
    try {
      fs.mkdirSync(dir);
      for (const c of b.controllers) {
        if (c === "pids") fs.writeFileSync(path.join(dir, "pids.max"), String(limits.processes));
        else if (b.v2) {
          fs.writeFileSync(path.join(dir, "memory.max"), String(limits.memoryBytes));
          // Swap would let the sandbox pass its ceiling slowly instead of being stopped.
          writeIfPresent(path.join(dir, "memory.swap.max"), "0");
        } else {
          fs.writeFileSync(path.join(dir, "memory.limit_in_bytes"), String(limits.memoryBytes));
          writeIfPresent(path.join(dir, "memory.memsw.limit_in_bytes"), String(limits.memoryBytes));
        }
      }
      made.push({ dir, v2: b.v2, controllers: b.controllers });
    } catch {
      try {
        fs.rmdirSync(dir);
      } catch {
        // never made
      }
    }
  }
  if (made.length === 0) return undefined;
  const members = (): number[] =>
    made.flatMap((m) => {
      try {
        return fs.readFileSync(path.join(m.dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
      } catch {
        return [];
      }
    });
  const killAll = () => {
    // A process forking while we kill is caught by the next pass.
    for (let pass = 0; pass < 5; pass++) {
      const pids = [...new Set(members())];
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
    procsFiles: made.map((m) => path.join(m.dir, "cgroup.procs")),
    oomKills() {
      let kills = 0;
      for (const m of made.filter((x) => x.controllers.includes("memory"))) {
        try {
          const text = fs.readFileSync(path.join(m.dir, m.v2 ? "memory.events" : "memory.oom_control"), "utf8");
          kills += Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? 0);
        } catch {
          // gone
        }
      }
      return kills;
    },
    killAll,
    remove() {
      // Members leave a moment after SIGKILL: retry a few times without blocking.
      for (const m of made) {
        const attempt = (left: number) => {
          try {
            fs.rmdirSync(m.dir);
          } catch {
            killAll();
            if (left > 0) setTimeout(() => attempt(left - 1), 50).unref();
          }
        };
        attempt(40);
      }
    },
  };
}

function writeIfPresent(file: string, value: string): void {
  try {
    if (fs.existsSync(file)) fs.writeFileSync(file, value);
  } catch {
    // the kernel refuses this setting here: the main limit still holds
  }
}

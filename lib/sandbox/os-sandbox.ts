import { execFileSync, spawn, spawnSync } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { ProcessLimits } from "./limits.ts";
import { createSandboxCgroup, sandboxLimits } from "./sandbox-cgroup.ts";
import { identityArgs, mountArgs, visibleForPath, within } from "./visible-paths.ts";
import { maskedPaths } from "./masked-paths.ts";

/**
 * The OS sandbox shared by the `bash` tool and reward code: bubblewrap building the file
 * system from nothing by allowlist (visible-paths.ts: system programs and libraries, a
 * minimal /etc, the Python installation, the paths the caller names; writes only to named
 * directories), an unprivileged uid, no network, its own PID namespace so no /proc of the
 * harness, plus what bubblewrap leaves to its caller: a cleared environment, resource
 * limits, a private size-capped /tmp, and a kill of the whole process tree.
 */

export type SandboxStatus =
  | {
      available: true;
      kind: "bubblewrap";
      version: string;
      processLimit: "cgroup" | "rlimit" | "none";
      /** The whole sandbox's memory ceiling: a memory cgroup, or only RLIMIT_AS per process where none can be made. */
      memoryLimit: "cgroup" | "per-process";
      python: PythonInfo;
    }
  | { available: false; reason: string };

export type PythonInfo = { executable: string; version: string; dirs: string[] } | undefined;

/** What one sandboxed process may see and do. */
export type SandboxSpec = {
  argv: string[];
  /** Working directory inside the sandbox (it must be visible there: a writable dir, or /tmp). */
  cwd: string;
  /** Host directories mounted read-write (everything else is read-only or hidden). */
  writable?: string[];
  /** Paths inside writable directories that stay read-only (must exist). */
  readOnly?: string[];
  /** Paths to show read-only even inside hidden areas (home, /tmp): the playbook, tinker logs. */
  readable?: string[];
  /** Files inside visible paths that read as empty (/dev/null bound over them): a graded run's record. */
  masked?: string[];
  /** The whole environment of the sandboxed process (nothing is inherited). */
  env: Record<string, string>;
  limits: ProcessLimits;
  /** CPU seconds per process (RLIMIT_CPU); none for long-lived workers that limit their own children. */
  cpuSeconds?: number;
};

export type SandboxedProcess = {
  child: ChildProcessWithoutNullStreams;
  /** Kills every process of the sandbox (idempotent). */
  kill(): void;
  /** Resolves when the sandbox's own process has exited; it never waits for pipes held by others. */
  exited: Promise<SandboxExit>;
};

/** How a sandbox ended; `oomKills`: processes the kernel killed at the sandbox's memory ceiling. */
export type SandboxExit = { code: number | null; signal: NodeJS.Signals | null; oomKills: number };

const SWITCH = "TINKERLOOP_SANDBOX";
/** prlimit as the sandbox sees it (/usr is shown inside), for limits that must be set inside its user namespace. */
const PRLIMIT_INSIDE = ["/usr/bin/prlimit", "/bin/prlimit"].find((p) => fs.existsSync(p)) ?? "/usr/bin/prlimit";
let cached: SandboxStatus | undefined;

/** Whether the OS sandbox works on this machine, and if not, why (cached per process). */
export function sandboxStatus(env: Record<string, string | undefined> = process.env): SandboxStatus {
  if (cached) return cached;
  cached = probe(env);
  return cached;
}

function probe(env: Record<string, string | undefined>): SandboxStatus {
  if (env[SWITCH] === "off") return { available: false, reason: `switched off by ${SWITCH}=off` };
  if (process.platform !== "linux") return { available: false, reason: `no OS sandbox for ${process.platform} yet (bubblewrap is Linux only)` };
  let version: string;
  try {
    version = execFileSync("bwrap", ["--version"], { encoding: "utf8", timeout: 5000, stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return { available: false, reason: "bubblewrap is not installed (Debian/Ubuntu: sudo apt-get install bubblewrap)" };
  }
  try {
    execFileSync("prlimit", ["--version"], { stdio: "ignore", timeout: 5000 });
  } catch {
    return { available: false, reason: "prlimit (util-linux) is not installed" };
  }
  const python = pythonInfo(env);
  // A real start with every rule, so a kernel without user namespaces shows up here, not mid-run.
  const smoke = buildCommand({ argv: ["/bin/sh", "-c", "echo ok"], cwd: "/tmp", env: { PATH: "/usr/bin:/bin" }, limits: SMOKE_LIMITS }, python, []);
  const r = spawnSync(smoke[0]!, smoke.slice(1), { encoding: "utf8", timeout: 10_000, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  if (r.status !== 0 || r.stdout.trim() !== "ok") {
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split("\n")[0];
    return { available: false, reason: `bubblewrap cannot build a sandbox here (${why}); unprivileged user namespaces may be disabled` };
  }
  const kernel = sandboxLimits();
  const processLimit = kernel.processes ? "cgroup" : process.getuid?.() === 0 ? "none" : "rlimit";
  return { available: true, kind: "bubblewrap", version, processLimit, memoryLimit: kernel.memory ? "cgroup" : "per-process", python };
}

const SMOKE_LIMITS: ProcessLimits = {
  memoryBytes: 512 * 1024 * 1024,
  sandboxMemoryBytes: 512 * 1024 * 1024,
  processes: 16,
  fileBytes: 1024 * 1024,
  openFiles: 64,
  tmpBytes: 1024 * 1024,
};

let pythonCache: PythonInfo | null = null;

/** The user's python3: its real executable and the directories its packages live in (shown inside the sandbox). */
function pythonInfo(env: Record<string, string | undefined>): PythonInfo {
  if (pythonCache !== null) return pythonCache;
  pythonCache = undefined;
  const script =
    "import json, os, site, sys\n" +
    "dirs = [sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()]\n" +
    "try:\n    dirs.append(site.getusersitepackages())\nexcept Exception:\n    pass\n" +
    "print(json.dumps({'executable': os.path.realpath(sys.executable), 'version': sys.version.split()[0], 'dirs': dirs}))";
  try {
    const out = execFileSync(env.TINKERLOOP_PYTHON ?? "python3", ["-E", "-c", script], {
      // Not the working directory: `-c` would import a json.py or site.py found there (a run directory's, say).
      cwd: "/",
      encoding: "utf8",
      timeout: 20_000,
      stdio: ["ignore", "pipe", "ignore"],
      env: { PATH: env.PATH ?? "/usr/bin:/bin", ...(env.HOME ? { HOME: env.HOME } : {}) },
    });
    const v = JSON.parse(out) as { executable: string; version: string; dirs: string[] };
    pythonCache = {
      executable: v.executable,
      version: v.version,
      dirs: [...new Set([...v.dirs, path.dirname(path.dirname(v.executable))])].filter((d) => fs.existsSync(d)),
    };
  } catch {
    pythonCache = undefined;
  }
  return pythonCache;
}

/** PATH inside the sandbox: the user's python first, then the host PATH entries that exist inside. */
export function sandboxPath(status: SandboxStatus, hostPath = process.env.PATH ?? ""): string {
  const python = status.available && status.python ? status.python.dirs : [];
  const visible = visibleForPath(python);
  const entries = hostPath.split(":").filter((p) => p && path.isAbsolute(p) && visible.some((v) => within(p, v)));
  const first = status.available && status.python ? [path.dirname(status.python.executable)] : [];
  return [...new Set([...first, ...entries, "/usr/local/bin", "/usr/bin", "/bin"])].join(":");
}

function buildCommand(spec: SandboxSpec, python: PythonInfo, cgroupProcs: readonly string[]): string[] {
  const L = spec.limits;
  const args: string[] = [
    "--die-with-parent",
    "--new-session",
    "--unshare-user",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--disable-userns",
    "--cap-drop",
    "ALL",
    ...identityArgs(),
    ...mountArgs({
      python: python?.dirs ?? [],
      readable: spec.readable ?? [],
      writable: spec.writable ?? [],
      readOnly: spec.readOnly ?? [],
      tmpBytes: L.tmpBytes,
    }),
  ];
  // Last, so no bind above can show them again: a graded run's exam, wherever it lies inside a visible path, is an empty read-only folder.
  const visible = [...(python?.dirs ?? []), ...(spec.readable ?? []), ...(spec.writable ?? []), ...(spec.readOnly ?? [])];
  for (const m of maskedPaths()) if (fs.existsSync(m) && visible.some((v) => within(m, v))) args.push("--tmpfs", m, "--remount-ro", m);
  for (const f of spec.masked ?? []) if (fs.existsSync(f)) args.push("--ro-bind", "/dev/null", f);
  args.push("--chdir", spec.cwd, "--clearenv");
  for (const [k, v] of Object.entries(spec.env)) args.push("--setenv", k, v);
  const rootUser = process.getuid?.() === 0;
  // RLIMIT_NPROC counts every task of the real uid, the user's whole desktop included, when it
  // is set before the user namespace exists (clone fails with EAGAIN past it). Set inside the
  // sandbox's own user namespace it counts only the sandbox's tasks, and cannot be raised there.
  const nproc = rootUser ? [] : [PRLIMIT_INSIDE, `--nproc=${L.processes}`, "--"];
  args.push("--", ...nproc, ...spec.argv);

  const limits = [
    `--as=${L.memoryBytes}`,
    `--fsize=${L.fileBytes}`,
    `--nofile=${L.openFiles}`,
    "--core=0",
    ...(spec.cpuSeconds !== undefined ? [`--cpu=${Math.max(1, Math.ceil(spec.cpuSeconds))}`] : []),
  ];
  const command = ["prlimit", ...limits, "--", "bwrap", ...args];
  // Join the cgroups before anything forks: the shell enters them, then becomes prlimit, then bwrap.
  const join = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n - 1)); done; exec "$@"';
  return cgroupProcs.length ? ["/bin/sh", "-c", join, "sh", String(cgroupProcs.length), ...cgroupProcs, ...command] : command;
}

/** Starts `spec` in the OS sandbox. Throws when the sandbox is not available (callers check sandboxStatus first). */
export function spawnSandboxed(spec: SandboxSpec): SandboxedProcess {
  const status = sandboxStatus();
  if (!status.available) throw new Error(`the OS sandbox is not available: ${status.reason}`);
  const cgroup = createSandboxCgroup({ processes: spec.limits.processes, memoryBytes: spec.limits.sandboxMemoryBytes });
  const cmd = buildCommand(spec, status.python, cgroup?.procsFiles ?? []);
  const child = spawn(cmd[0]!, cmd.slice(1), { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, stdio: ["pipe", "pipe", "pipe"] });
  let killed = false;
  const kill = () => {
    if (killed) return;
    killed = true;
    // bwrap dies; --die-with-parent kills the namespace's init, and with it every process inside.
    child.kill("SIGKILL");
    cgroup?.killAll();
  };
  const exited = new Promise<SandboxExit>((resolve) => {
    child.once("exit", (code, signal) => {
      cgroup?.killAll();
      const oomKills = cgroup?.oomKills() ?? 0;
      cgroup?.remove();
      resolve({ code, signal, oomKills });
    });
    child.once("error", () => {
      cgroup?.remove();
      resolve({ code: null, signal: null, oomKills: 0 });
    });
  });
  return { child, kill, exited };
}

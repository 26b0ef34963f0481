import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * What a sandboxed process can see, by allowlist: the system's programs and libraries,
 * a minimal /etc (with a passwd and group of our own: no /etc/shadow, no host users),
 * the Python installation, and the paths its caller names (the run directory, the
 * playbook, this run's tinker logs). Everything else — the project around the run
 * directory, other runs, home directories, /tmp, /run and /var with the host's sockets —
 * does not exist inside: the sandbox starts from an empty, read-only root.
 */

/** The unprivileged uid and gid the sandboxed process runs as (inside its user namespace). */
export const SANDBOX_UID = 65534;

/** The system's programs and libraries (a symbolic link here stays a link, e.g. /bin -> usr/bin). */
const SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/** The parts of /etc that programs read to start and run (dynamic linker, locales, time zone, TLS roots, MIME, terminals). */
const ETC_ENTRIES = [
  "alternatives",
  "ld.so.cache",
  "ld.so.conf",
  "ld.so.conf.d",
  "localtime",
  "timezone",
  "locale.alias",
  "nsswitch.conf",
  "host.conf",
  "hosts",
  "protocols",
  "services",
  "os-release",
  // The public roots only: /etc/ssl/private holds keys (readable here when the harness is root).
  "ssl/certs",
  "ssl/openssl.cnf",
  "ca-certificates",
  "mime.types",
  "magic",
  "magic.mime",
  "inputrc",
  "terminfo",
  "fonts",
];

/** The sandbox's own account files: one unprivileged user, no host accounts, no password hashes. */
const OWN_ETC = path.join(import.meta.dirname, "etc");

export type Visible = {
  /** Directories of the Python installation (read-only). */
  python: readonly string[];
  /** Host paths shown read-only (files or directories). */
  readable: readonly string[];
  /** Host directories shown read-write. */
  writable: readonly string[];
  /** Paths inside writable directories that stay read-only. */
  readOnly: readonly string[];
  /** Size of the private /tmp and /dev/shm. */
  tmpBytes: number;
};

/** bubblewrap arguments that build the sandbox's file system from nothing. */
export function mountArgs(v: Visible): string[] {
  const args: string[] = [];
  for (const d of SYSTEM_DIRS) {
    const st = lstat(d);
    if (st?.isSymbolicLink()) args.push("--symlink", fs.readlinkSync(d), d);
    else if (st?.isDirectory()) args.push("--ro-bind", d, d);
  }
  args.push("--dir", "/etc");
  for (const name of [...ETC_ENTRIES, ...pythonEtc()]) {
    const p = path.join("/etc", name);
    if (exists(p)) args.push("--ro-bind", p, p);
  }
  for (const name of ["passwd", "group"]) args.push("--ro-bind", path.join(OWN_ETC, name), path.join("/etc", name));
  args.push("--dev", "/dev", "--proc", "/proc");
  args.push("--size", String(v.tmpBytes), "--tmpfs", "/tmp", "--size", String(v.tmpBytes), "--tmpfs", "/dev/shm");
  // The python installation and the named files, unless a system directory already shows them.
  const shown = [...new Set([...v.python, ...v.readable])].filter((p) => exists(p) && !SYSTEM_DIRS.some((s) => within(p, s)));
  for (const p of shown.sort((a, b) => a.length - b.length)) args.push("--ro-bind", p, p);
  for (const w of v.writable) args.push("--bind", w, w);
  for (const r of v.readOnly) if (exists(r)) args.push("--ro-bind", r, r);
  // Secrets that happen to lie inside something shown (a token in a visible HF_HOME, a .env next to the python).
  for (const s of secretsWithin([...shown, ...v.writable])) args.push(...mask(s));
  // The mount points made above live on bubblewrap's own root: read-only, so nothing can be created beside them.
  args.push("--remount-ro", "/");
  return args;
}

/** The bubblewrap arguments for an unprivileged uid and gid inside. */
export function identityArgs(): string[] {
  return ["--uid", String(SANDBOX_UID), "--gid", String(SANDBOX_UID)];
}

/** Directories a PATH entry may name inside the sandbox (everything else does not exist there). */
export function visibleForPath(python: readonly string[]): string[] {
  return [...SYSTEM_DIRS, ...python];
}

/** /etc/python3.X: the Debian python's site configuration. */
function pythonEtc(): string[] {
  try {
    return fs.readdirSync("/etc").filter((n) => /^python3(\.\d+)?$/.test(n));
  } catch {
    return [];
  }
}

const ENV_FILE = /^\.env(rc|\..+)?$/;
const ENV_EXAMPLE = /\.(example|sample|template|dist)$/;

/**
 * Files and folders that hold secrets, wherever they are: HF_HOME (its token), the
 * Hugging Face token of the home directory, and `.env`/`.envrc` files of the working
 * directory and of the package. They are masked when they lie inside anything shown.
 */
function secretCandidates(env: Record<string, string | undefined> = process.env): string[] {
  const out = new Set<string>();
  const home = os.homedir();
  for (const p of [env.HF_HOME, env.HF_TOKEN_PATH, path.join(home, ".cache", "huggingface"), path.join(home, ".huggingface")]) if (p) out.add(path.resolve(p));
  for (const dir of new Set([process.cwd(), path.resolve(import.meta.dirname, "..", "..")])) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) if (ENV_FILE.test(n) && !ENV_EXAMPLE.test(n)) out.add(path.join(dir, n));
  }
  return [...out];
}

function secretsWithin(shown: readonly string[]): string[] {
  return secretCandidates().filter((s) => exists(s) && shown.some((v) => within(s, v)));
}

function mask(p: string): string[] {
  return lstat(p)?.isDirectory() ? ["--tmpfs", p, "--remount-ro", p] : ["--ro-bind", "/dev/null", p];
}

function lstat(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

function exists(p: string): boolean {
  return fs.existsSync(p);
}

export function within(p: string, root: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

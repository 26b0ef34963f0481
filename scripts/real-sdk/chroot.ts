/**
 * The Debian 13 chroot `npm run test:real-sdk` runs the worker in: built once with
 * debootstrap (in a sibling directory, moved into place only when it works), and a
 * `python` that runs python3 inside it with the checkout and the SDK mounted read-only
 * for that process only.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/** What the SDK imports (pydantic 2 is why this is Debian 13), and torch, which the cookbook's renderers import. */
const PACKAGES = [
  "python3",
  "python3-pydantic",
  "python3-httpx",
  "python3-h2",
  "python3-anyio",
  "python3-distro",
  "python3-sniffio",
  "python3-numpy",
  "python3-protobuf",
  "python3-rich",
  "python3-click",
  "python3-orjson",
  "python3-zstandard",
  "python3-cffi-backend",
  "python3-typing-extensions",
  "python3-pil",
];
const LATE_PACKAGES = ["python3-torch"];
const MARKER = "tinkerloop-chroot.json";
/** Where the checkout and the SDK appear inside the chroot. */
export const IN_REPO = "/opt/tinkerloop/repo";
const IN_SDK = "/opt/tinker-sdk";
export const LAUNCH = `${IN_REPO}/scripts/real-sdk/launch.py`;

export function fail(message: string): never {
  process.stderr.write(`test:real-sdk: ${message}\n`);
  process.exit(2);
}

function run(cmd: string, args: string[], what: string, log: string): void {
  const r = spawnSync(cmd, args, {
    stdio: ["ignore", fs.openSync(log, "a"), fs.openSync(log, "a")],
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", DEBIAN_FRONTEND: "noninteractive", LANG: "C.UTF-8" },
  });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status ?? r.signal}); see ${log}`);
}

/** Unmounts whatever is mounted under `dir` (an interrupted debootstrap leaves its /proc mounted there). */
function unmountUnder(dir: string): void {
  const real = fs.realpathSync(dir);
  const mounted = () =>
    fs
      .readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[1]?.replace(/\\040/g, " "))
      .filter((m): m is string => !!m && (m === real || m.startsWith(`${real}/`)))
      .sort((a, b) => b.length - a.length);
  for (const m of mounted()) spawnSync("/usr/bin/umount", ["-l", m]);
  if (mounted().length) fail(`cannot unmount ${mounted().join(", ")}; unmount them and remove ${dir} by hand`);
}

/** Removes a chroot directory without ever reaching into a mounted file system. */
function removeTree(dir: string): void {
  if (!fs.existsSync(dir)) return;
  unmountUnder(dir);
  const r = spawnSync("/usr/bin/rm", ["-rf", "--one-file-system", fs.realpathSync(dir)]);
  if (r.status !== 0) fail(`could not remove ${dir}: ${r.stderr.toString().split("\n")[0]}`);
}

/** Builds the chroot in a sibling directory and moves it into place only when it works. */
export function buildChroot(root: string): void {
  if (!fs.existsSync("/usr/sbin/debootstrap")) fail("debootstrap is missing: apt-get install -y debootstrap (needed once, to build the Debian 13 chroot)");
  const mirror = process.env.TINKERLOOP_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
  const building = `${root}.building`;
  const log = `${root}.build.log`;
  removeTree(building);
  fs.mkdirSync(path.dirname(root), { recursive: true });
  fs.writeFileSync(log, "");
  process.stdout.write(`building the Debian 13 chroot in ${root} (a few minutes; log ${log})\n`);
  const t = Date.now();
  // debootstrap can stop at configuring a package; apt then finishes what it left.
  spawnSync("/usr/sbin/debootstrap", ["--variant=minbase", `--include=${PACKAGES.join(",")}`, "trixie", building, mirror], {
    stdio: ["ignore", fs.openSync(log, "a"), fs.openSync(log, "a")],
  });
  unmountUnder(building);
  if (!fs.existsSync(path.join(building, "usr", "bin", "python3"))) throw new Error(`debootstrap did not produce a usable system; see ${log}`);
  run("/usr/sbin/chroot", [building, "apt-get", "-y", "--fix-broken", "install"], "apt-get --fix-broken install", log);
  run(
    "/usr/sbin/chroot",
    [building, "apt-get", "-y", "--no-install-recommends", "install", ...LATE_PACKAGES],
    `apt-get install ${LATE_PACKAGES.join(" ")}`,
    log,
  );
  run("/usr/sbin/chroot", [building, "apt-get", "clean"], "apt-get clean", log);
  for (const dir of [IN_REPO, IN_SDK]) fs.mkdirSync(path.join(building, dir), { recursive: true });
  unmountUnder(building);
  fs.writeFileSync(
    path.join(building, MARKER),
    JSON.stringify({ packages: [...PACKAGES, ...LATE_PACKAGES], built: new Date().toISOString(), mirror }, null, 1),
  );
  removeTree(root);
  fs.renameSync(building, root);
  process.stdout.write(`chroot built in ${((Date.now() - t) / 1000).toFixed(0)} s\n`);
}

export function chrootReady(root: string): boolean {
  try {
    const marker = JSON.parse(fs.readFileSync(path.join(root, MARKER), "utf8")) as { packages: string[] };
    return [...PACKAGES, ...LATE_PACKAGES].every((p) => marker.packages.includes(p));
  } catch {
    return false;
  }
}

/** A `python` for TinkerBackend: python3 inside the chroot, with the checkout (`repo`) and the SDK mounted for this process only. */
export function writePythonWrapper(repo: string, root: string, sdk: string, dir: string): string {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const inner = [
    `mount --bind -o ro ${q(repo)} ${q(root + IN_REPO)}`,
    `mount --bind -o ro ${q(sdk)} ${q(root + IN_SDK)}`,
    `mount -t proc proc ${q(`${root}/proc`)}`,
    `exec /usr/sbin/chroot ${q(root)} /usr/bin/python3 "$@"`,
  ].join(" && ");
  const file = path.join(dir, "python-in-chroot");
  fs.writeFileSync(file, `#!/bin/sh\nexec /usr/bin/unshare -m /bin/sh -c ${q(inner)} sh "$@"\n`, { mode: 0o755 });
  return file;
}

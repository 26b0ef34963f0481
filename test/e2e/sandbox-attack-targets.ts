import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { expect } from "vitest";

/**
 * What the sandbox attack suites share (test/e2e/sandbox-attacks-*.test.ts): the attacks, and
 * the targets they aim at. Both processes under attack carry a planted key in their
 * environment and run in a project whose .env holds another; a file outside and a loopback
 * listener wait to be reached.
 */

export const ENV_SECRET = "sk-planted-env-7f3a9c1e5b2d";
export const DOTENV_SECRET = "planted-dotenv-51c2e8a04f9b";

/** The targets of one suite, set up by `setUpTargets` (in its beforeAll). */
export const targets = {
  /** The harness's cwd: holds a .env. */
  project: "",
  victimDir: "",
  victim: "",
  runDir: "",
  port: 0,
  connections: 0,
};
/** Every text and structured result a suite saw, for the secret check. */
export const seen: string[] = [];
let listener: net.Server | undefined;

/** One attack: a Python function body (it may use `completion`), and what the result must say was refused. */
export type Attack = { name: string; body: () => string; completion?: string; refused: RegExp; after?: () => void };

export const py = (s: string) => JSON.stringify(s);
export const markers = (m: string) =>
  execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(m) && !l.includes("ps -eo"));

export const attacks: Attack[] = [
  {
    name: "clears the audit hook's BLOCKED_EVENTS through sys.modules['__main__'], then writes outside",
    body: () => `import sys
main = sys.modules.get("__main__")
blocked = getattr(main, "BLOCKED_EVENTS", None)
if isinstance(blocked, set):
    blocked.clear()
open(${py(targets.victim)}, "w").write("pwned")`,
    // With the allowlist the victim's folder does not exist inside at all; a read-only mount would do too.
    refused: /Read-only file system|No such file or directory/,
  },
  {
    name: "os.open(O_WRONLY|O_CREAT), os.mkdir, os.mkfifo and os.truncate outside its directory",
    body: () => `import os
errors = []
for attempt in (lambda: os.close(os.open(${py(`${targets.victimDir}/created.txt`)}, os.O_WRONLY | os.O_CREAT)), lambda: os.mkdir(${py(`${targets.victimDir}/newdir`)}), lambda: os.mkfifo(${py(`${targets.victimDir}/fifo`)}), lambda: os.truncate(${py(targets.victim)}, 0)):
    try:
        attempt()
    except OSError as e:
        errors.append(e.strerror)
raise PermissionError("refused: " + ", ".join(errors))`,
    refused: /refused: (Read-only file system|No such file or directory)(, (Read-only file system|No such file or directory)){3}/,
  },
  {
    name: "_posixsubprocess.fork_exec of /bin/sh (through subprocess) that writes outside and hunts for keys",
    body: () => `import subprocess
r = subprocess.run(["/bin/sh", "-c", "echo pwned > ${targets.victim}; cat /proc/*/environ ${targets.project}/.env 2>/dev/null | tr '\\\\0' '\\\\n' | grep -i planted; echo sh-ran"], capture_output=True, text=True)
raise RuntimeError("sh exit %d: %s" % (r.returncode, (r.stdout + r.stderr).replace("\\n", " ")))`,
    refused: /^(?=.*cannot create .*(Read-only file system|Directory nonexistent))(?=.*sh-ran)/s,
  },
  {
    name: "reads /proc/<pid>/environ and /proc/<pid>/cwd/.env of every process it can see, and the project's .env",
    body: () => `import os
found, refused = [], []
for pid in [p for p in os.listdir("/proc") if p.isdigit()] + [str(os.getppid())]:
    for p in ("/proc/%s/environ" % pid, "/proc/%s/cwd/.env" % pid):
        try:
            found.append(open(p, "rb").read().decode("latin-1"))
        except OSError as e:
            refused.append(e.strerror)
for p in (${py(`${targets.project}/.env`)}, os.path.expanduser("~root") + "/.bash_history"):
    try:
        found.append(open(p).read())
    except OSError as e:
        refused.append(e.strerror)
text = "\\n".join(found)
raise RuntimeError("processes visible: %d; planted key found: %s; refused: %s" % (len([p for p in os.listdir("/proc") if p.isdigit()]), "planted" in text, sorted(set(refused))))`,
    refused: /planted key found: False/,
  },
  {
    name: "nsenter --net=/proc/<pid>/ns/net into the parent's network namespace to reach a loopback listener",
    body: () => `import os, subprocess
results = []
for pid in sorted(set([str(os.getppid()), "1"] + [p for p in os.listdir("/proc") if p.isdigit()])):
    r = subprocess.run(["nsenter", "--net=/proc/%s/ns/net" % pid, "python3", "-c", "import socket; socket.create_connection(('127.0.0.1', ${targets.port}), timeout=1)"], capture_output=True, text=True)
    results.append("%s:%d %s" % (pid, r.returncode, r.stderr.strip().splitlines()[-1][:80] if r.stderr.strip() else ""))
raise RuntimeError("nsenter: " + " | ".join(results))`,
    refused: /nsenter: .*(Operation not permitted|Connection refused|Network is unreachable)/,
  },
  {
    name: "opens a socket to a loopback port the test listens on",
    body: () => `import socket
socket.create_connection(("127.0.0.1", ${targets.port}), timeout=2)`,
    refused: /Connection refused|Network is unreachable/,
  },
  {
    name: "leaves an orphan holding stdout and stderr open (it made one check_reward take 101 s)",
    body: () => `import subprocess
subprocess.Popen(["sleep", "1001.5"], start_new_session=True)
raise RuntimeError("orphan started")`,
    refused: /orphan started/,
    after: () => expect(markers("sleep 1001.5")).toEqual([]),
  },
  {
    name: "raises an exception whose __str__ raises (it killed the runner for every later item)",
    body: () => `class Evil(Exception):
    def __str__(self):
        raise ValueError("no message for you")
    def __repr__(self):
        raise ValueError("no repr either")
raise Evil()`,
    refused: /Evil/,
  },
  {
    name: "runs a completion that forks without end",
    completion: "import os\nwhile True:\n    os.fork()\n",
    body: () => `import subprocess, sys
r = subprocess.run([sys.executable, "-c", completion], capture_output=True, text=True, timeout=1.5)
raise RuntimeError("fork bomb ended: " + r.stderr.strip().splitlines()[-1][:120])`,
    refused: /fork bomb ended: .*(BlockingIOError|Resource temporarily unavailable)|timed out|TimeoutExpired/,
  },
  {
    name: "runs a completion that fills the disk",
    completion: "chunk = b'0' * (1 << 20)\nwith open('fill.bin', 'wb') as f:\n    while True:\n        f.write(chunk)\n",
    body: () => `import subprocess, sys
r = subprocess.run([sys.executable, "-c", completion], capture_output=True, text=True, timeout=1.8)
raise RuntimeError("disk fill ended: %d %s" % (r.returncode, (r.stderr.strip().splitlines() or ["killed by signal"])[-1][:120]))`,
    refused: /disk fill ended: .*(No space left on device|File too large|killed by signal|-25)|timed out|TimeoutExpired/,
  },
  {
    name: "prints without end",
    body: () => `while True:
    print("x" * 1000)`,
    refused: /timed out/,
  },
  {
    name: "sleeps forever, with a child that sleeps too",
    body: () => `import subprocess, time
subprocess.Popen(["sleep", "1004.5"])
time.sleep(100000)`,
    refused: /timed out/,
    after: () => expect(markers("sleep 1004.5")).toEqual([]),
  },
  {
    name: "allocates without end",
    body: () => `x = bytearray(8 * 1024 ** 3)`,
    refused: /MemoryError/,
  },
];

export async function setUpTargets(): Promise<void> {
  targets.project = fs.mkdtempSync("/var/tmp/tl-project-");
  fs.writeFileSync(path.join(targets.project, ".env"), `PLANTED_DOTENV_TOKEN=${DOTENV_SECRET}\n`);
  targets.victimDir = fs.mkdtempSync("/var/tmp/tl-victim-");
  targets.victim = path.join(targets.victimDir, "victim.txt");
  fs.writeFileSync(targets.victim, "original\n");
  targets.runDir = fs.mkdtempSync(path.join(os.tmpdir(), "tl-attack-run-"));
  fs.writeFileSync(path.join(targets.runDir, "transcript.jsonl"), '{"type":"run"}\n');
  fs.mkdirSync(path.join(targets.runDir, "logs"));
  const server = net.createServer((s) => {
    targets.connections++;
    s.destroy();
  });
  listener = server;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  targets.port = (server.address() as net.AddressInfo).port;
}

export function tearDownTargets(): void {
  listener?.close();
  for (const d of [targets.project, targets.victimDir, targets.runDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
}

export function expectIntact(): void {
  expect(fs.readFileSync(targets.victim, "utf8")).toBe("original\n");
  expect(fs.readdirSync(targets.victimDir)).toEqual(["victim.txt"]);
  expect(targets.connections).toBe(0);
}

export function expectNoSecret(where: string[]): void {
  for (const text of where) {
    expect(text).not.toContain(ENV_SECRET);
    expect(text).not.toContain(DOTENV_SECRET);
  }
}

/** Every file under `dir` as text (for the secret check). */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    if (fs.statSync(p).size < 20 * 1024 * 1024) out.push(fs.readFileSync(p, "utf8"));
  }
  return out;
}

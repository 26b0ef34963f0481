import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sandboxStatus } from "../../lib/sandbox/os-sandbox.ts";
import { REPO } from "../helpers.ts";

/**
 * Every attack that beat the old reward sandbox, and the new ones the issue lists, run
 * twice: as reward code through the real tinker MCP server (check_reward), and as a
 * command through the `bash` tool in a process of its own. Both processes carry a
 * planted key in their environment and run in a project whose .env holds another; a
 * file outside and a loopback listener wait to be reached. Each attack must be
 * contained, the next call must work, and no planted secret may appear anywhere.
 */

const ENV_SECRET = "sk-planted-env-7f3a9c1e5b2d";
const DOTENV_SECRET = "planted-dotenv-51c2e8a04f9b";
const available = sandboxStatus().available;

let project: string; // the harness's cwd: holds a .env
let victimDir: string;
let victim: string;
let runDir: string;
let listener: net.Server;
let port = 0;
let connections = 0;
const seen: string[] = []; // every text and structured result, for the secret check

/** One attack: a Python function body (it may use `completion`), and what the result must say was refused. */
type Attack = { name: string; body: () => string; completion?: string; refused: RegExp; after?: () => void };

const py = (s: string) => JSON.stringify(s);
const markers = (m: string) =>
  execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(m) && !l.includes("ps -eo"));

const attacks: Attack[] = [
  {
    name: "clears the audit hook's BLOCKED_EVENTS through sys.modules['__main__'], then writes outside",
    body: () => `import sys
main = sys.modules.get("__main__")
blocked = getattr(main, "BLOCKED_EVENTS", None)
if isinstance(blocked, set):
    blocked.clear()
open(${py(victim)}, "w").write("pwned")`,
    refused: /Read-only file system/,
  },
  {
    name: "os.open(O_WRONLY|O_CREAT), os.mkdir, os.mkfifo and os.truncate outside its directory",
    body: () => `import os
errors = []
for attempt in (lambda: os.close(os.open(${py(`${victimDir}/created.txt`)}, os.O_WRONLY | os.O_CREAT)), lambda: os.mkdir(${py(`${victimDir}/newdir`)}), lambda: os.mkfifo(${py(`${victimDir}/fifo`)}), lambda: os.truncate(${py(victim)}, 0)):
    try:
        attempt()
    except OSError as e:
        errors.append(e.strerror)
raise PermissionError("refused: " + ", ".join(errors))`,
    refused: /refused: Read-only file system, Read-only file system, Read-only file system, Read-only file system/,
  },
  {
    name: "_posixsubprocess.fork_exec of /bin/sh (through subprocess) that writes outside and hunts for keys",
    body: () => `import subprocess
r = subprocess.run(["/bin/sh", "-c", "echo pwned > ${victim}; cat /proc/*/environ ${project}/.env 2>/dev/null | tr '\\\\0' '\\\\n' | grep -i planted; echo sh-ran"], capture_output=True, text=True)
raise RuntimeError("sh exit %d: %s" % (r.returncode, (r.stdout + r.stderr).replace("\\n", " ")))`,
    refused: /^(?=.*cannot create .*Read-only file system)(?=.*sh-ran)/s,
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
for p in (${py(`${project}/.env`)}, os.path.expanduser("~root") + "/.bash_history"):
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
    r = subprocess.run(["nsenter", "--net=/proc/%s/ns/net" % pid, "python3", "-c", "import socket; socket.create_connection(('127.0.0.1', ${port}), timeout=1)"], capture_output=True, text=True)
    results.append("%s:%d %s" % (pid, r.returncode, r.stderr.strip().splitlines()[-1][:80] if r.stderr.strip() else ""))
raise RuntimeError("nsenter: " + " | ".join(results))`,
    refused: /nsenter: .*(Operation not permitted|Connection refused|Network is unreachable)/,
  },
  {
    name: "opens a socket to a loopback port the test listens on",
    body: () => `import socket
socket.create_connection(("127.0.0.1", ${port}), timeout=2)`,
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

beforeAll(async () => {
  project = fs.mkdtempSync("/var/tmp/tl-project-");
  fs.writeFileSync(path.join(project, ".env"), `PLANTED_DOTENV_TOKEN=${DOTENV_SECRET}\n`);
  victimDir = fs.mkdtempSync("/var/tmp/tl-victim-");
  victim = path.join(victimDir, "victim.txt");
  fs.writeFileSync(victim, "original\n");
  runDir = fs.mkdtempSync(path.join(os.tmpdir(), "tl-attack-run-"));
  fs.writeFileSync(path.join(runDir, "transcript.jsonl"), '{"type":"run"}\n');
  fs.mkdirSync(path.join(runDir, "logs"));
  listener = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
  port = (listener.address() as net.AddressInfo).port;
});

afterAll(async () => {
  listener?.close();
  for (const d of [project, victimDir, runDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

function expectIntact(): void {
  expect(fs.readFileSync(victim, "utf8")).toBe("original\n");
  expect(fs.readdirSync(victimDir)).toEqual(["victim.txt"]);
  expect(connections).toBe(0);
}

function expectNoSecret(where: string[]): void {
  for (const text of where) {
    expect(text).not.toContain(ENV_SECRET);
    expect(text).not.toContain(DOTENV_SECRET);
  }
}

/** Every file under `dir` as text (for the secret check). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    if (fs.statSync(p).size < 20 * 1024 * 1024) out.push(fs.readFileSync(p, "utf8"));
  }
  return out;
}

describe.skipIf(!available)("attacks on the reward sandbox (reward code through the tinker MCP server)", () => {
  let client: {
    call: (name: string, args: Record<string, unknown>) => Promise<{ text: string; structured: any; isError: boolean }>;
    close: () => Promise<void>;
  };
  let sessionDir = "";

  beforeAll(async () => {
    const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
    const { StdioClientTransport, getDefaultEnvironment } = await import("@modelcontextprotocol/sdk/client/stdio.js");
    const c = new Client({ name: "attack-test", version: "1.0.0" });
    await c.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [path.join(REPO, "bin", "tinker-mcp.js")],
        cwd: project,
        env: { ...getDefaultEnvironment(), TMPDIR: os.tmpdir(), PLANTED_API_KEY: ENV_SECRET, TINKERLOOP_RUN_DIR: runDir },
        stderr: "ignore",
      }),
    );
    client = {
      async call(name, args) {
        const r = (await c.callTool({ name, arguments: args }, undefined, { timeout: 120_000 })) as {
          content: Array<{ text: string }>;
          structuredContent?: any;
          isError?: boolean;
        };
        const text = r.content.map((x) => x.text).join("\n");
        seen.push(text, JSON.stringify(r.structuredContent ?? null));
        return { text, structured: r.structuredContent, isError: r.isError === true };
      },
      close: () => c.close(),
    };
  });
  afterAll(async () => {
    await client?.close();
    expectNoSecret([...seen, ...filesUnder(runDir), ...(sessionDir ? filesUnder(sessionDir) : [])]);
  });

  for (const a of attacks) {
    it(`contains reward code that ${a.name}`, async () => {
      const started = Date.now();
      const code = `def compute_reward(completion, ground_truth):\n${a
        .body()
        .split("\n")
        .map((l) => `    ${l}`)
        .join("\n")}\n    return 1.0\n`;
      const r = await client.call("check_reward", {
        reward_function: code,
        cases: [
          { completion: a.completion ?? "1", ground_truth: "1" },
          { completion: "1", ground_truth: "1" },
        ],
      });
      sessionDir = r.structured?.session_dir ?? sessionDir;
      expect(r.isError, r.text).toBe(false);
      expect(r.structured.sandbox).toBe("os-sandbox");
      expect(r.structured.cases[0].score, r.text).toBe(0);
      expect(r.structured.cases[0].error, r.text).toMatch(a.refused);
      // Whatever the attack did, the call ends on the sandbox's own clock (items time out at 2 s).
      expect(Date.now() - started).toBeLessThan(20_000);
      expectIntact();
      a.after?.();
      // The run continues: the same server scores the next reward at once.
      const next = await client.call("check_reward", {
        reward_function: "def compute_reward(c, g):\n    return 1.0 if c == g else 0.0\n",
        cases: [{ completion: "7", ground_truth: "7", expected: 1 }],
      });
      expect(next.structured.ok, next.text).toBe(true);
    }, 60_000);
  }

  it("a later item still scores after the exception whose __str__ raises", async () => {
    const code =
      "class Evil(Exception):\n    def __str__(self):\n        raise ValueError('x')\ndef compute_reward(c, g):\n    if c == 'evil':\n        raise Evil()\n    return 1.0\n";
    const r = await client.call("check_reward", {
      reward_function: code,
      cases: [
        { completion: "evil", ground_truth: "" },
        { completion: "fine", ground_truth: "" },
        { completion: "evil", ground_truth: "" },
        { completion: "fine", ground_truth: "" },
      ],
    });
    expect(r.structured.cases.map((c: { score: number }) => c.score)).toEqual([0, 1, 0, 1]);
    expect(r.structured.cases[0].error).toMatch(/^Evil: /);
  });
});

type BashResult = { content: string; isError: boolean; structured?: { exit_code: number | null; stopped: string | null }; ms: number; unavailable?: string };

/** Runs bash calls in a process of its own (cwd: the project with a .env; a planted key in its environment). */
function bashCalls(calls: Array<{ command: string; timeout_s?: number }>): Promise<BashResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(REPO, "test", "fakes", "bash-driver.ts"), JSON.stringify({ runDir, cwd: project, calls })],
      {
        cwd: REPO,
        env: { ...process.env, PLANTED_API_KEY: ENV_SECRET, TINKERLOOP_SANDBOX: "" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c));
    child.stderr.on("data", (c: Buffer) => (err += c));
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`bash driver exited ${code}: ${err}`));
      const results = out
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as BashResult);
      for (const r of results) seen.push(r.content, JSON.stringify(r.structured ?? null));
      resolve(results);
    });
  });
}

describe.skipIf(!available)("attacks through the bash tool", () => {
  afterAll(() => {
    expectNoSecret([...seen, ...filesUnder(runDir)]);
  });

  it("contains every attack, each as a Python program, and the next command still works", async () => {
    const calls = [
      ...attacks.map((a) => ({
        command: `cat > attack.py <<'ATTACK_EOF'\ncompletion = ${py(a.completion ?? "1")}\ndef attack():\n${a
          .body()
          .split("\n")
          .map((l) => `    ${l}`)
          .join("\n")}\nattack()\nATTACK_EOF\npython3 attack.py 2>&1`,
        // Attacks that hang end at the time limit; the others end by themselves, given time to start on a busy machine.
        timeout_s: a.refused.source.includes("timed out") ? 5 : 30,
      })),
      { command: "echo still-working", timeout_s: 5 },
    ];
    const results = await bashCalls(calls);
    expect(results).toHaveLength(calls.length);
    attacks.forEach((a, i) => {
      const r = results[i]!;
      // "timed out" is the reward path's word; in bash a hang ends at the call's time limit.
      const refused = a.refused.source.includes("timed out") ? new RegExp(`${a.refused.source}|time limit was reached|output passed|MemoryError`) : a.refused;
      expect(r.content, a.name).toMatch(refused);
      a.after?.();
    });
    expect(results.at(-1)!.content.trim()).toMatch(/^still-working/);
    expectIntact();
  }, 240_000);

  it("cannot delete or overwrite a file outside the run dir, nor the harness's files in it", async () => {
    const [r, check] = await bashCalls([
      {
        command: `rm -f ${victim}; echo pwned > ${victim}; mv ${victim} ${victimDir}/moved; ln -sf /etc/passwd summary.json; rm -rf transcript.jsonl logs; echo x >> transcript.jsonl; ls -la`,
        timeout_s: 10,
      },
      { command: "cat transcript.jsonl; ls logs", timeout_s: 5 },
    ]);
    expect(r!.content).toMatch(/Read-only file system|Device or resource busy/);
    expect(r!.content).toMatch(/removed summary\.json: the harness owns that name/);
    expectIntact();
    expect(fs.readFileSync(path.join(runDir, "transcript.jsonl"), "utf8")).toBe('{"type":"run"}\n');
    expect(fs.existsSync(path.join(runDir, "summary.json"))).toBe(false);
    expect(check!.content).toMatch(/"type":"run"/);
  });

  it("kills the whole process tree at the time limit, and stops endless output and a disk being filled", async () => {
    const [slow, loud, big, tmp] = await bashCalls([
      { command: "(setsid sleep 1002.5 &); nohup sleep 1003.5 >/dev/null 2>&1 & sleep 1005.5", timeout_s: 2 },
      { command: "yes", timeout_s: 20 },
      // fallocate asks for the space without writing it: the limits answer just the same.
      { command: "fallocate -l 400M big.bin; ls -la big.bin; rm -f big.bin", timeout_s: 30 },
      { command: "fallocate -l 200M /tmp/a.bin && fallocate -l 200M /tmp/b.bin && fallocate -l 200M /tmp/c.bin; df -h /tmp | tail -1", timeout_s: 30 },
    ]);
    expect(slow!.structured?.stopped).toBe("time");
    expect(slow!.content).toMatch(/2s time limit was reached; the command and every process it started were killed/);
    for (const m of ["sleep 1002.5", "sleep 1003.5", "sleep 1005.5"]) expect(markers(m)).toEqual([]);
    expect(loud!.structured?.stopped).toBe("output");
    expect(loud!.content).toMatch(/full output: logs\/bash\/call-\d+\.txt/);
    expect(loud!.ms).toBeLessThan(15_000);
    expect(big!.content).toMatch(/File size limit exceeded|File too large/);
    expect(big!.content).not.toMatch(/419430400 .*big\.bin/);
    expect(tmp!.content).toMatch(/No space left on device/);
  }, 120_000);

  it("sees no secret in its environment and no process of the harness", async () => {
    const [r] = await bashCalls([{ command: "env | sort; echo; ls /proc | grep -c '^[0-9]'; cat .env 2>&1; ls -a ~root 2>&1 | head -3", timeout_s: 10 }]);
    expect(r!.content).not.toMatch(/PLANTED/);
    expect(r!.content).toMatch(/HOME=/);
    const processes = Number(/^(\d+)$/m.exec(r!.content)?.[1]);
    expect(processes).toBeLessThanOrEqual(6);
  });
});

describe.skipIf(available)("without the OS sandbox", () => {
  it("may only happen outside CI (.ci/run installs bubblewrap)", () => {
    const status = sandboxStatus();
    expect(process.env.CI, `the attack suite did not run: ${status.available ? "" : status.reason}`).toBeFalsy();
  });
});

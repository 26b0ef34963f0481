import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sandboxStatus } from "../../lib/sandbox/os-sandbox.ts";
import { SANDBOX_UID } from "../../lib/sandbox/visible-paths.ts";
import { RewardWorker } from "../../tools/tinker/reward/worker.ts";
import { REPO } from "../helpers.ts";

/**
 * The sandbox hides by allowlist: a project that lives outside /tmp and $HOME (here under
 * /var/tmp) holds an .envrc, a .env, an HF_HOME with a token, another run's transcript
 * and a Unix socket; the host has sockets in /var/tmp and /tmp too. From inside the run
 * directory, by every route we can think of (absolute paths, `..`, /proc, a search of the
 * whole visible tree, connecting to every socket path), none of it may be reached, the
 * uid is unprivileged and the only mounts are the allowed ones.
 */

const MARK = "allowlist-secret-c41f09";
const available = sandboxStatus().available;

let project: string;
let runDir: string;
const sockets: string[] = [];
const servers: net.Server[] = [];
let connections = 0;

const secretFiles = () => [
  path.join(project, ".envrc"),
  path.join(project, ".env"),
  path.join(project, "hf", "token"),
  path.join(project, "runs", "other-run", "transcript.jsonl"),
  path.join(project, "runs", "other-run", "data", "pool.jsonl"),
];

beforeAll(async () => {
  project = fs.mkdtempSync("/var/tmp/tl-allowlist-project-");
  fs.mkdirSync(path.join(project, "hf"));
  fs.mkdirSync(path.join(project, "runs", "other-run", "data"), { recursive: true });
  runDir = path.join(project, "runs", "this-run");
  fs.mkdirSync(runDir);
  for (const f of secretFiles()) fs.writeFileSync(f, `TOKEN=${MARK}\n`);
  const hostTmp = fs.mkdtempSync("/tmp/tl-allowlist-host-");
  sockets.push(path.join(project, "agent.sock"), path.join(hostTmp, "host.sock"), `${project}.sock`);
  for (const s of sockets) {
    const srv = net.createServer((c) => {
      connections++;
      c.end(MARK);
    });
    await new Promise<void>((r) => srv.listen(s, r));
    servers.push(srv);
  }
});

afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  for (const s of sockets) fs.rmSync(path.dirname(s) === "/var/tmp" ? s : path.dirname(s), { recursive: true, force: true });
  if (project) fs.rmSync(project, { recursive: true, force: true });
});

/** Runs bash calls as the harness does, from the project (its cwd) with HF_HOME in it. */
function bashCalls(commands: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        path.join(REPO, "test", "fakes", "bash-driver.ts"),
        JSON.stringify({ runDir, cwd: project, calls: commands.map((command) => ({ command, timeout_s: 60 })) }),
      ],
      { cwd: REPO, env: { ...process.env, HF_HOME: path.join(project, "hf"), TINKERLOOP_SANDBOX: "" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c));
    child.stderr.on("data", (c: Buffer) => (err += c));
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`bash driver exited ${code}: ${err}`));
      resolve(
        out
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((l) => (JSON.parse(l) as { content: string }).content),
      );
    });
  });
}

/** Ways to name the secrets from inside: absolute, relative to the run directory, through /proc. */
function readRoutes(): string[] {
  const rel = (f: string) => path.relative(runDir, f);
  return secretFiles().flatMap((f) => [f, rel(f), `/proc/self/cwd/${rel(f)}`, `/proc/1/root${f}`, `$HOME/${rel(f)}`]);
}

describe.skipIf(!available)("the sandbox shows only what it allows", () => {
  it("bash: no secret of the project, its other runs, HF_HOME or /etc/shadow by any route; an unprivileged uid; only the allowed mounts", async () => {
    const reads = readRoutes()
      .map((p) => `cat "${p}" 2>&1 | head -c 200`)
      .join("; ");
    const [read, search, who, mounts, writes] = await bashCalls([
      `${reads}; cat /etc/shadow /etc/gshadow 2>&1; ls -a .. ../.. 2>&1; ls /etc/ssl/private /usr/lib/ssl/private/ 2>&1 | sed 's/^/ssl-private: /'`,
      // The whole visible tree, names and contents (the system directories' names only: they are large).
      `find / -xdev \\( -path /proc -o -path /sys \\) -prune -o -print 2>/dev/null | grep -E 'envrc|/\\.env|other-run|hf/token|tl-allowlist' ; grep -rsl ${MARK} / --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr --exclude-dir=lib --exclude-dir=lib64 --exclude-dir=bin --exclude-dir=sbin --exclude-dir=dev; echo searched`,
      "id -u; id -g; grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status; cut -d: -f1 /etc/passwd | tr '\\n' ' '",
      "awk '{print $5}' /proc/self/mountinfo | sort -u",
      `for d in / /usr /etc /tmp/.. /var /root ${project} $(dirname $PWD); do touch "$d/planted" 2>/dev/null && echo "wrote $d"; done; echo done`,
    ]);
    for (const text of [read, search, who, mounts, writes]) expect(text).not.toContain(MARK);
    expect(read).not.toMatch(/TOKEN=/);
    expect(read).toMatch(/No such file or directory/);
    for (const line of read!.split("\n").filter((l) => l.startsWith("ssl-private: "))) expect(line).toMatch(/No such file or directory/);
    expect(search).toMatch(/^searched$/m);
    // The run directory's own path exists inside (its parents are empty mount points): nothing else may show.
    const lines = search!.split("\n").filter((l) => l.startsWith("/") && !runDir.startsWith(l) && !l.startsWith(runDir));
    expect(lines).toEqual([]);
    const [uid, gid] = who!.split("\n");
    expect(Number(uid)).toBe(SANDBOX_UID);
    expect(Number(gid)).toBe(SANDBOX_UID);
    for (const cap of who!.match(/^Cap\w+:\s+(\w+)$/gm) ?? []) expect(cap).toMatch(/0{16}$/);
    expect(who).not.toMatch(/\b(daemon|www-data|ubuntu)\b/);
    // Every mount inside is one the allowlist names: the system, /etc pieces, the python, the run directory, scratch.
    const real = fs.realpathSync(runDir);
    const python = (sandboxStatus() as { python?: { dirs: string[] } }).python?.dirs ?? [];
    for (const m of mounts!.split("\n").slice(0, -1)) {
      const ok =
        m === "/" ||
        /^\/(usr|bin|sbin|lib|lib32|lib64|libx32|etc|dev|proc|tmp)(\/|$)/.test(m) ||
        m === real ||
        m.startsWith(`${real}/`) ||
        python.some((p) => m === p) ||
        m === path.join(REPO, "playbook", "AGENTS.md");
      expect(ok, `unexpected mount ${m}`).toBe(true);
    }
    expect(writes).toMatch(/^done$/m);
    expect(writes).not.toMatch(/wrote/);
    expect(fs.readdirSync(project).sort()).toEqual([".env", ".envrc", "agent.sock", "hf", "runs"]);
  }, 120_000);

  it("bash: no pathname Unix socket of the host can be reached, nor found", async () => {
    const tries = sockets
      .map(
        (s) =>
          `python3 -c "import socket,sys\ntry:\n s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print('connected', s.recv(100))\nexcept OSError as e: print('refused', e.strerror)" "${s}"`,
      )
      .join("; ");
    const [r, found] = await bashCalls([tries, "find / \\( -path /proc -o -path /sys \\) -prune -o -type s -print 2>/dev/null; echo end"]);
    expect(r).not.toMatch(/connected/);
    expect(r!.match(/refused/g)).toHaveLength(sockets.length);
    expect(found!.replace(/\[exit code.*\]$/, "").trim()).toBe("end");
    expect(connections).toBe(0);
  }, 60_000);

  it("reward code: the same secrets and sockets are out of reach", async () => {
    const worker = new RewardWorker("python3");
    const targets = JSON.stringify([...secretFiles(), "/etc/shadow", ...sockets]);
    const code = `import os, socket
def compute_reward(completion, ground_truth):
    seen = ["uid %d" % os.getuid()]
    for p in ${targets}:
        try:
            seen.append(open(p).read())
        except OSError as e:
            seen.append("read refused " + str(e.strerror))
        try:
            s = socket.socket(socket.AF_UNIX); s.connect(p); seen.append("connected")
        except OSError as e:
            pass
    raise RuntimeError(" | ".join(seen))
`;
    const out = await worker.run(
      { mode: "score", code, items: [{ completion: "1", ground_truth: "1" }], item_timeout: 5, max_timeouts: 3, cpu_seconds: 10 },
      30_000,
    );
    worker.close();
    const text = JSON.stringify(out);
    expect(text).not.toContain(MARK);
    expect(text).not.toContain("connected");
    expect(text).toContain(`uid ${SANDBOX_UID}`);
    expect(text.match(/read refused No such file/g)?.length).toBeGreaterThanOrEqual(secretFiles().length);
    expect(connections).toBe(0);
  }, 60_000);
});

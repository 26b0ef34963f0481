import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BashTool } from "../../agent/workspace/bash-tool.ts";
import type { ProcessLimits } from "../../lib/sandbox/limits.ts";
import { sandboxPath, sandboxStatus, spawnSandboxed } from "../../lib/sandbox/os-sandbox.ts";
import { REPO, tempDir } from "../helpers.ts";

/**
 * Resource limits that hold for the whole sandbox, not per process: memory (a memory
 * cgroup: several processes each under their own limit together pass the ceiling and
 * the kernel kills them), the private /tmp (a size-capped tmpfs: many small files end in
 * ENOSPC like one big one), and the run directory (every entry counted: a tree with
 * more than the old walker's 50,000 entries cannot hide new files).
 */

const status = sandboxStatus();
const MiB = 1024 * 1024;
const small: ProcessLimits = { memoryBytes: 400 * MiB, sandboxMemoryBytes: 256 * MiB, processes: 32, fileBytes: 64 * MiB, openFiles: 256, tmpBytes: 8 * MiB };

async function sandboxed(script: string, limits = small): Promise<{ out: string; oomKills: number; code: number | null }> {
  if (!status.available) throw new Error("no sandbox");
  const p = spawnSandboxed({ argv: ["python3", "-c", script], cwd: "/tmp", env: { PATH: sandboxPath(status), HOME: "/tmp" }, limits });
  p.child.stdin.end();
  let out = "";
  p.child.stdout.on("data", (c: Buffer) => (out += c));
  p.child.stderr.on("data", (c: Buffer) => (out += c));
  const timer = setTimeout(() => p.kill(), 60_000);
  const e = await p.exited;
  clearTimeout(timer);
  return { out, oomKills: e.oomKills, code: e.code };
}

/** `n` processes, each touching `mb` MiB (each under the per-process limit), holding it a moment. */
const bomb = (n: number, mb: number) => `import subprocess, sys
child = "b = bytearray(${mb} * 1024 * 1024)\\nfor i in range(0, len(b), 4096): b[i] = 1\\nimport time; time.sleep(1.5); print('held')"
ps = [subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE) for _ in range(${n})]
codes = [p.wait() for p in ps]
print("codes", codes, "held", sum(1 for p in ps if p.stdout.read().strip() == b"held"))`;

describe.skipIf(!status.available)("limits for the whole sandbox", () => {
  it.skipIf(status.available && status.memoryLimit !== "cgroup")(
    "a memory bomb spread over several processes is stopped at the sandbox's ceiling",
    async () => {
      // 4 × 120 MiB: each process is within its 400 MiB, together they pass the 256 MiB ceiling.
      const r = await sandboxed(bomb(4, 120));
      expect(r.oomKills, r.out).toBeGreaterThan(0);
      expect(r.out).toMatch(/codes \[.*-9.*\]/);
      // The control: the same processes with less each fit under the ceiling, and nothing is killed.
      const ok = await sandboxed(bomb(4, 30));
      expect(ok.oomKills, ok.out).toBe(0);
      expect(ok.out).toMatch(/held 4/);
    },
    120_000,
  );

  it("many small files in /tmp end at its size like one big file does", async () => {
    const r = await sandboxed(`import os
n = 0
try:
    for i in range(200000):
        with open("/tmp/f%d" % i, "w") as f:
            f.write("x" * 100)
        n += 1
    print("wrote all", n)
except OSError as e:
    print("stopped after", n, e.strerror)`);
    expect(r.out).toMatch(/stopped after \d+ No space left on device/);
    const n = Number(/stopped after (\d+)/.exec(r.out)?.[1]);
    // Each small file takes at least a page of the 8 MiB: far fewer than were asked for.
    expect(n).toBeLessThan(8 * 256 + 10);
  }, 120_000);

  it("bash: a run directory that already holds more than 50,000 entries still sees every new small file, and the call is stopped", async () => {
    const runDir = tempDir("tl-disk-");
    for (let d = 0; d < 60; d++) {
      const dir = path.join(runDir, "old", `d${d}`);
      fs.mkdirSync(dir, { recursive: true });
      for (let i = 0; i < 1000; i++) fs.closeSync(fs.openSync(path.join(dir, `f${i}`), "w"));
    }
    const bash = new BashTool({
      runDir,
      playbookFile: path.join(REPO, "playbook", "AGENTS.md"),
      sessionDirs: () => [],
      harnessOwned: [],
      diskLimits: { bytes: 16 * MiB, entries: 1_000_000 },
    });
    const r = await bash.call("bash", {
      command: `python3 -c "
import os, time
os.makedirs('new', exist_ok=True)
for i in range(100000):
    open('new/f%d' % i, 'w').write('x' * 8000)
print('wrote all')"`,
      timeout_s: 120,
    });
    expect((r.structured as { stopped: string }).stopped, r.content).toBe("disk");
    expect(r.content).not.toMatch(/wrote all/);
    // And many entries alone (empty files, no bytes to speak of) are a limit of their own.
    const entries = new BashTool({
      runDir,
      playbookFile: path.join(REPO, "playbook", "AGENTS.md"),
      sessionDirs: () => [],
      harnessOwned: [],
      diskLimits: { bytes: 1024 * MiB, entries: 5000 },
    });
    const e = await entries.call("bash", {
      command: "mkdir -p empty && cd empty && for i in $(seq 1 200000); do : > f$i; done; echo done-all",
      timeout_s: 120,
    });
    expect((e.structured as { stopped: string }).stopped, e.content).toBe("disk");
    fs.rmSync(runDir, { recursive: true, force: true });
  }, 240_000);

  it("bash: the run directory's total is capped across calls — each call gets what is left, a full one takes only commands that shrink it", async () => {
    const runDir = tempDir("tl-disk-total-");
    const du = () => Number(execFileSync("du", ["-s", "-B1", runDir], { encoding: "utf8" }).split("\t")[0]);
    const bash = new BashTool({
      runDir,
      playbookFile: path.join(REPO, "playbook", "AGENTS.md"),
      sessionDirs: () => [],
      harnessOwned: [],
      diskLimits: { bytes: 16 * MiB, entries: 1000 },
      runDirLimits: { bytes: 24 * MiB, entries: 50 },
    });
    const call = (command: string) => bash.call("bash", { command, timeout_s: 60 });
    // Two calls of 10 MiB each, within the per-call 16 MiB; a third call's 9 MiB (three 3 MiB files, each under the 4 MiB left) would pass the 24 MiB total.
    for (const i of [1, 2]) expect((await call(`head -c 10M /dev/urandom > f${i}`)).isError).toBe(false);
    const third = await call("for i in 1 2 3; do head -c 3M /dev/urandom > g$i; done; echo wrote");
    expect(third.isError, third.content).toBe(true);
    expect(third.content).toMatch(/with what the run directory already holds, this call may add 4 MiB or 48 entries/);
    expect(fs.readdirSync(runDir).filter((n) => n.startsWith("g"))).toEqual([]);
    // And one file past what is left is stopped by the kernel at it.
    const big = await call("head -c 10M /dev/urandom > f3");
    expect(big.content).toMatch(/File size limit exceeded|File too large/);
    // (du counts the folder's own block as well.)
    expect(du()).toBeLessThanOrEqual(24 * MiB + 64 * 1024);
    // Full: a command that frees space still runs, and then there is room again.
    const freed = await call("rm f1 f3 && echo freed");
    expect(freed.isError, freed.content).toBe(false);
    expect((await call("head -c 5M /dev/urandom > f4")).isError).toBe(false);
    // Entries too: many small files across calls (50 in all).
    expect((await call("mkdir a && cd a && for i in $(seq 1 30); do : > f$i; done")).isError).toBe(false);
    const more = await call("mkdir b && cd b && for i in $(seq 1 30); do : > f$i; done");
    expect(more.isError, more.content).toBe(true);
    expect(fs.existsSync(path.join(runDir, "b"))).toBe(false);
    fs.rmSync(runDir, { recursive: true, force: true });
  }, 240_000);

  it("bash: a call never leaves the run directory more than its disk allowance larger — one big file (kernel: the file size limit), many quick ones, appends, and fallocate --keep-size (the check after the command ends)", async () => {
    const runDir = tempDir("tl-disk-");
    const du = () => Number(execFileSync("du", ["-s", "-B1", runDir], { encoding: "utf8" }).split("\t")[0]);
    const bash = new BashTool({
      runDir,
      playbookFile: path.join(REPO, "playbook", "AGENTS.md"),
      sessionDirs: () => [],
      harnessOwned: [],
      diskLimits: { bytes: 16 * MiB, entries: 1000 },
    });
    const call = async (command: string) => {
      const r = await bash.call("bash", { command, timeout_s: 60 });
      return { ...r, undone: (r.structured as { undone: { removed: number; cut: number } | null }).undone };
    };
    // Kept before the attacks, and looked at after each one.
    const kept = await call("mkdir keep && head -c 1M /dev/urandom > keep/data.bin && : > keep/empty && echo old > keep/notes.txt");
    expect(kept.isError, kept.content).toBe(false);
    const keepSum = fs.readFileSync(path.join(runDir, "keep", "data.bin"));
    const base = du();

    // The kernel: no single file is written past the call's allowance, fallocate included.
    const big = await call("for i in $(seq 10); do fallocate -l 30M f$i; done; ls -s f1 2>&1");
    expect(big.content).toMatch(/File size limit exceeded|File too large/);
    expect(du() - base).toBeLessThanOrEqual(16 * MiB);

    // Many files each under the limit, written faster than any polling: the check after the command undoes them.
    const quick = await call("for i in $(seq 10); do head -c 8M /dev/zero > q$i; done; mkdir -p deep/er && head -c 3M /dev/zero > deep/er/x; echo wrote");
    expect(quick.isError).toBe(true);
    expect(quick.undone?.removed, quick.content).toBeGreaterThanOrEqual(10);
    expect(quick.content).toMatch(/grew by \d+ MiB .* The call's growth was undone: removed what it created \(.*q\d/);
    expect(fs.existsSync(path.join(runDir, "q1")) || fs.existsSync(path.join(runDir, "deep"))).toBe(false);
    expect(du() - base).toBeLessThanOrEqual(16 * MiB);

    // Files that were there before, enlarged: by appends, and by blocks reserved past their end (the size limit does not see those).
    const grow = await call(
      "for i in 1 2 3; do head -c 6M /dev/zero >> keep/notes.txt; done; fallocate --keep-size -l 200M keep/empty; ls -s keep/empty; printf X | dd of=keep/data.bin bs=1 seek=10 conv=notrunc 2>/dev/null",
    );
    expect(grow.isError).toBe(true);
    expect(grow.undone?.cut, grow.content).toBe(2);
    expect(grow.content).toMatch(/cut the files it enlarged back to their sizes before the call \(.*keep\/(notes\.txt|empty)/);
    expect(fs.readFileSync(path.join(runDir, "keep", "notes.txt"), "utf8")).toBe("old\n");
    expect(fs.statSync(path.join(runDir, "keep", "empty")).blocks).toBe(0);
    // A change in place stays: the undo is of growth, not a snapshot restore.
    const now = fs.readFileSync(path.join(runDir, "keep", "data.bin"));
    expect(now.length).toBe(keepSum.length);
    expect(now[10]).toBe("X".charCodeAt(0));
    expect(du() - base).toBeLessThanOrEqual(16 * MiB);

    // Too many entries at once, each empty: the entry count is checked after the command too.
    const many = await call("mkdir many && cd many && for i in $(seq 1 1500); do : > e$i; done");
    expect(many.isError).toBe(true);
    expect(fs.existsSync(path.join(runDir, "many"))).toBe(false);

    // The control: a call within the allowance keeps everything and is no error.
    const fits = await call("head -c 12M /dev/zero > fits.bin && echo ok");
    expect(fits.isError, fits.content).toBe(false);
    expect(fits.undone).toBeNull();
    expect(fs.statSync(path.join(runDir, "fits.bin")).size).toBe(12 * MiB);
    // More names for the same file hold nothing more on disk: hard links are counted once.
    const links = await call("for i in $(seq 1 20); do ln fits.bin link$i; done; echo linked");
    expect(links.isError, links.content).toBe(false);
    expect(fs.existsSync(path.join(runDir, "link20"))).toBe(true);
    fs.rmSync(runDir, { recursive: true, force: true });
  }, 240_000);

  // As root every folder reads whatever its mode; as a user, the harness's walks skip one it cannot list.
  const asUser = process.getuid?.() === 0 ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
  const setprivMissing = asUser.length > 0 && spawnSync("setpriv", ["--version"]).status !== 0;

  it.skipIf(setprivMissing)(
    "bash (the harness as a user without root): a folder made unlistable (chmod 300) or a file made read-only hides nothing from the disk allowance or the neutraliser",
    () => {
      const runDir = tempDir("tl-disk-");
      if (asUser.length) fs.chownSync(runDir, 65534, 65534);
      const calls = (...commands: string[]) => {
        const out = execFileSync(
          asUser[0] ?? process.execPath,
          [
            ...asUser.slice(1),
            ...(asUser.length ? [process.execPath] : []),
            "--import",
            "tsx",
            path.join(REPO, "test", "e2e", "bash-calls-script.ts"),
            runDir,
            String(16 * MiB),
            ...commands,
          ],
          { cwd: REPO, encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: runDir }, timeout: 120_000 },
        );
        return out
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as { content: string; structured: { undone: { removed: number; cut: number } | null } });
      };
      const du = () => Number(execFileSync("du", ["-s", "-B1", runDir], { encoding: "utf8" }).split("\t")[0]);
      const [, hidden, repo, grown] = calls(
        "echo old > kept.txt",
        // Files past the allowance, in a folder the harness may not list.
        "mkdir d && chmod 300 d && for i in 1 2 3; do head -c 10M /dev/zero > d/f$i; done; echo wrote",
        // A git directory at the top, behind a run directory nobody but the command may list.
        "git init -q r && mv r/.git .git && rm -rf r && chmod 300 . && echo planted",
        // An old file grown past the allowance (blocks past its end) and then made read-only.
        "chmod 700 . && fallocate --keep-size -l 200M kept.txt && chmod 444 kept.txt && echo grown",
      );
      expect(hidden?.structured.undone?.removed, hidden?.content).toBe(1);
      expect(fs.existsSync(path.join(runDir, "d"))).toBe(false);
      expect(repo?.content).toMatch(/renamed \.git to neutralised-git/);
      expect(fs.existsSync(path.join(runDir, ".git"))).toBe(false);
      expect(fs.statSync(runDir).mode & 0o700).toBe(0o700);
      expect(grown?.structured.undone?.cut, grown?.content).toBe(1);
      expect(fs.statSync(path.join(runDir, "kept.txt")).blocks * 512).toBeLessThan(MiB);
      expect(du()).toBeLessThan(16 * MiB);
      fs.rmSync(runDir, { recursive: true, force: true });
    },
    240_000,
  );

  it.skipIf(setprivMissing)(
    "bash (the harness as a user without root): the process limit counts the sandbox's processes, not the user's others (a desktop has hundreds)",
    () => {
      const runDir = tempDir("tl-nproc-");
      if (asUser.length) fs.chownSync(runDir, 65534, 65534);
      // 300 other processes of the same user, alive while the sandbox starts: more than its limit of 128.
      const script = `for i in $(seq 300); do sleep 60 & done; "$@"; s=$?; kill $(jobs -p) 2>/dev/null; exit $s`;
      const r = spawnSync(
        asUser[0] ?? "bash",
        [
          ...asUser.slice(1),
          ...(asUser.length ? ["bash"] : []),
          "-c",
          script,
          "bash",
          process.execPath,
          "--import",
          "tsx",
          path.join(REPO, "test", "e2e", "bash-calls-script.ts"),
          runDir,
          String(MiB),
          "echo inside-ok",
        ],
        { cwd: REPO, encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: runDir }, timeout: 120_000 },
      );
      expect(r.stdout + r.stderr).toMatch(/inside-ok/);
      fs.rmSync(runDir, { recursive: true, force: true });
    },
    240_000,
  );

  it("bash: sparse files made in one call and filled in the next do not pass the allowance (a file is charged its size or its blocks, whichever is more)", async () => {
    const runDir = tempDir("tl-disk-");
    const du = () => Number(execFileSync("du", ["-s", "-B1", runDir], { encoding: "utf8" }).split("\t")[0]);
    const bash = new BashTool({
      runDir,
      playbookFile: path.join(REPO, "playbook", "AGENTS.md"),
      sessionDirs: () => [],
      harnessOwned: [],
      diskLimits: { bytes: 16 * MiB, entries: 1000 },
    });
    const call = (command: string) => bash.call("bash", { command, timeout_s: 60 });
    await call("for i in 1 2 3 4; do truncate -s 15M s$i; done; echo made");
    await call("for i in 1 2 3 4; do dd if=/dev/zero of=s$i bs=1M count=15 conv=notrunc 2>/dev/null; done; echo filled");
    expect(du()).toBeLessThanOrEqual(16 * MiB);
    // The control: one sparse file within the allowance is kept, and filling it is no growth.
    const one = await call("truncate -s 12M ok && dd if=/dev/zero of=ok bs=1M count=12 conv=notrunc 2>/dev/null && echo ok");
    expect(one.isError, one.content).toBe(false);
    fs.rmSync(runDir, { recursive: true, force: true });
  }, 120_000);
});

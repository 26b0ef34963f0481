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
});

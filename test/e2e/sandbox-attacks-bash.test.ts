import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sandboxStatus } from "../../lib/sandbox/os-sandbox.ts";
import { REPO } from "../helpers.ts";
import {
  attacks,
  ENV_SECRET,
  expectIntact,
  expectNoSecret,
  filesUnder,
  markers,
  py,
  seen,
  setUpTargets,
  targets,
  tearDownTargets,
} from "./sandbox-attack-targets.ts";

/**
 * The attacks of sandbox-attacks-reward.test.ts, each as a command through the `bash` tool in
 * a process of its own, and what is special to a shell: files of the run dir, process trees,
 * endless output, a full disk, the environment.
 */

const available = sandboxStatus().available;

beforeAll(setUpTargets);
afterAll(tearDownTargets);

type BashResult = { content: string; isError: boolean; structured?: { exit_code: number | null; stopped: string | null }; ms: number; unavailable?: string };

/** Runs bash calls in a process of its own (cwd: the project with a .env; a planted key in its environment). */
function bashCalls(calls: Array<{ command: string; timeout_s?: number }>): Promise<BashResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(REPO, "test", "fakes", "bash-driver.ts"), JSON.stringify({ runDir: targets.runDir, cwd: targets.project, calls })],
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
    expectNoSecret([...seen, ...filesUnder(targets.runDir)]);
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
        command: `rm -f ${targets.victim}; echo pwned > ${targets.victim}; mv ${targets.victim} ${targets.victimDir}/moved; ln -sf /etc/passwd summary.json; rm -rf transcript.jsonl logs; echo x >> transcript.jsonl; ls -la`,
        timeout_s: 10,
      },
      { command: "cat transcript.jsonl; ls logs", timeout_s: 5 },
    ]);
    expect(r!.content).toMatch(/Read-only file system|Device or resource busy/);
    expect(r!.content).toMatch(/removed summary\.json: the harness owns that name/);
    expectIntact();
    expect(fs.readFileSync(path.join(targets.runDir, "transcript.jsonl"), "utf8")).toBe('{"type":"run"}\n');
    expect(fs.existsSync(path.join(targets.runDir, "summary.json"))).toBe(false);
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

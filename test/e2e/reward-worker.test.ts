import { execFileSync, spawn } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "../helpers.ts";

const RUNNER = path.join(REPO, "tools", "tinker", "reward", "runner.py");
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("the reward worker's clean-up after a batch", () => {
  it("kills what reward code started (orphans included) and nothing else, even with no PID namespace around it", async () => {
    // A process that is not the worker's: it must survive every clean-up.
    const bystander = spawn("sleep", ["1010.5"], { stdio: "ignore" });
    const worker = spawn("python3", ["-E", RUNNER, "--serve"], { stdio: ["pipe", "pipe", "ignore"] });
    let out = "";
    worker.stdout.on("data", (c: Buffer) => (out += c));
    const code =
      "import subprocess\ndef compute_reward(c, g):\n    subprocess.Popen(['sleep', '1011.5'], start_new_session=True)\n    subprocess.Popen(['sh', '-c', '(sleep 1012.5 &) ; sleep 1013.5'])\n    return 1.0\n";
    worker.stdin.write(
      `${JSON.stringify({ id: 1, mode: "score", code, items: [{ completion: "1", ground_truth: "1" }], item_timeout: 2, max_timeouts: 3, cpu_seconds: 10 })}\n`,
    );
    for (let i = 0; i < 100 && !out.includes('"done"'); i++) await new Promise((r) => setTimeout(r, 100));
    try {
      expect(out).toMatch(/"type": "score", "i": 0, "score": 1\.0/);
      const left = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
        .split("\n")
        .filter((l) => /sleep 101[1-3]\.5/.test(l));
      expect(left).toEqual([]);
      expect(alive(bystander.pid!)).toBe(true);
    } finally {
      worker.kill("SIGKILL");
      bystander.kill("SIGKILL");
    }
  });
});

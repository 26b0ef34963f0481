import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BASH_LIMITS } from "../../lib/sandbox/limits.ts";
import { maskInSandbox } from "../../lib/sandbox/masked-paths.ts";
import { sandboxStatus, spawnSandboxed } from "../../lib/sandbox/os-sandbox.ts";
import { REPO, runCli, tempDir } from "../helpers.ts";

const made: string[] = [];
afterAll(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** Every file of a run directory outside `exam/`, as text. */
function runFilesOutsideExam(runDir: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (p !== path.join(runDir, "exam")) walk(p);
      } else if (e.isFile()) out.push([p, fs.readFileSync(p, "latin1")]);
    }
  };
  walk(runDir);
  return out;
}

describe("a graded run end to end (scripted planner, local model, real tool servers)", () => {
  it("stopped by a limit, it still sits the final; nothing of the exam is in the run dir but exam/; a cassette replay shows no differences", async () => {
    const dir = tempDir("tl-graded-");
    made.push(dir);
    const runDir = path.join(dir, "run");
    const res = await runCli(
      ["run", "--recipe", "addition", "--exam", "generator:addition,scorer=numeric,items=60", "--max-train-calls", "2", "--run-dir", runDir],
      { env: { HF_HUB_OFFLINE: "1" }, timeoutMs: 400_000 },
    );
    expect(res.code, res.stderr).not.toBe(2);
    expect(res.stdout).toMatch(/exam baseline \(current weights\): \d+\.\d%/);
    expect(res.stdout).toMatch(/exam final \(current weights\): \d+\.\d%/);
    expect(res.stdout).toMatch(/exam generator:addition \(60 items\): baseline \d+\.\d% → final \d+\.\d%; lift [+-]\d+\.\d points, 95% CI/);
    // The exam's summary line comes before the planner's own.
    expect(res.stdout.indexOf("exam generator:addition")).toBeLessThan(res.stdout.indexOf("self-reported holdout score"));

    const summary = JSON.parse(fs.readFileSync(path.join(runDir, "summary.json"), "utf8"));
    expect(summary.exam).toMatchObject({ items: 60, refusals: 0, checkpoint: "current weights" });
    expect(summary.exam.final).toBeGreaterThanOrEqual(0);
    expect(summary.exam.lift).toBeCloseTo(summary.exam.final - summary.exam.baseline, 9);
    expect(summary.exam.interval.paired).toBe(true);

    const items = fs
      .readFileSync(path.join(runDir, "exam", "items.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(items).toHaveLength(60);
    expect(items.every((i) => typeof i.completion === "string" && typeof i.score === "number")).toBe(true);
    // No exam prompt anywhere else: transcript, completions, logs, data, report.
    for (const [file, text] of runFilesOutsideExam(runDir)) {
      for (const it of items) expect(text.includes(JSON.stringify(it.prompt).slice(1, -1)), `${it.prompt} in ${file}`).toBe(false);
    }

    const replay = await runCli(["replay", runDir, "--cassette"], { timeoutMs: 200_000 });
    expect(replay.stdout + replay.stderr).toContain("no differences");
    const view = await runCli(["replay", runDir], { timeoutMs: 60_000 });
    expect(view.stdout.split("\n")[2]).toMatch(/^exam generator:addition \(60 items\): baseline/);
    expect(view.stdout).toMatch(/exam final by the harness \(current weights\)/);
    expect(fs.readFileSync(path.join(runDir, "report.html"), "utf8")).toContain(`"exam":{"name":"generator:addition","items":60`);
  }, 700_000);

  it.skipIf(!sandboxStatus().available)("a masked folder is empty inside the OS sandbox, even where the sandbox may write", async () => {
    const dir = fs.mkdtempSync(path.join(REPO, ".tl-mask-"));
    made.push(dir);
    const secret = path.join(dir, "exam");
    fs.mkdirSync(secret);
    fs.writeFileSync(path.join(secret, "items.jsonl"), '{"prompt":"hidden"}\n');
    maskInSandbox(secret);
    const p = spawnSandboxed({
      argv: ["/bin/sh", "-c", `ls -A ${secret}; cat ${secret}/items.jsonl; echo done`],
      cwd: dir,
      writable: [dir],
      env: { PATH: "/usr/bin:/bin" },
      limits: BASH_LIMITS.process,
    });
    let out = "";
    p.child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    p.child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    await p.exited;
    expect(out).toContain("done");
    expect(out).not.toContain("hidden");
  });
});

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { CLI, REPO, runCli, tempDir } from "../helpers.ts";

/** A GRPO recipe small enough for a loaded 2-core machine: `steps` single-iteration steps on 8 prompts × 4, the holdout (16 × 2) after each. */
function tinyRecipe(dir: string, steps: number): string {
  const recipe = fs.readFileSync(path.join(REPO, "prompts", "recipes", "arithmetic.md"), "utf8");
  const file = path.join(dir, "tiny.md");
  const set: Record<string, string> = {
    max_steps: String(steps),
    sample_every: "1",
    pool_size: "64",
    holdout_size: "16",
    batch_size: "8",
    group_size: "4",
    eval_samples: "2",
    patience: "100",
  };
  fs.writeFileSync(
    file,
    recipe.replace(/^(\w+): .*$/gm, (line, key: string) => (key in set ? `${key}: ${set[key]}` : line)),
  );
  return file;
}

const ENV = { HF_HUB_OFFLINE: "1" };

/** A `tinkerloop sweep` in the background (to kill or interrupt it). */
function startSweep(args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, ...ENV };
  for (const k of Object.keys(env)) if (/API_KEY|TOKEN|BASE_URL|^TINKERLOOP_/.test(k)) delete env[k];
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  return { child, exited, output: () => out };
}

async function until<T>(what: string, probe: () => T | undefined, ms = 240_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, "utf8"));
const tryJson = (file: string) => {
  try {
    return readJson(file);
  } catch {
    return undefined;
  }
};
const headers = (runDir: string) => (readTranscript(path.join(runDir, "transcript.jsonl")).events as any[]).filter((e) => e.type === "run").length;
const dryRun = async (args: string[]) => {
  const r = await runCli([...args, "--dry-run"], { env: ENV });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .split("\n")
    .filter((l) => l.startsWith("  "))
    .map((l) => l.trim());
};

/** The leaderboard row a planner's summaries give, computed here independently of agent/sweep. */
function expectedRow(summaries: any[]) {
  // Graded runs (the recipe's exam) are ranked by the exam's lift, never the planner's own.
  const lifts = summaries.every((s) => s.exam)
    ? summaries.filter((s) => typeof s.exam.lift === "number").map((s) => s.exam.lift)
    : summaries.filter((s) => s.holdout).map((s) => s.holdout.final - s.holdout.baseline);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  const m = mean(lifts);
  const median = (xs: number[]) => {
    const s: number[] = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  return {
    runs: summaries.length,
    finished: summaries.filter((s) => s.reason === "finished").length,
    lift: { mean: m, sd: lifts.length > 1 ? Math.sqrt(lifts.reduce((a, x) => a + (x - m!) ** 2, 0) / (lifts.length - 1)) : null, n: lifts.length },
    bestLift: lifts.length ? Math.max(...lifts) : null,
    bestScore: lifts.length ? Math.max(...summaries.filter((s) => s.holdout).map((s) => s.holdout.best)) : null,
    medianTurns: median(summaries.map((s) => s.turns)),
    medianElapsedMs: median(summaries.map((s) => s.elapsedMs)),
    tokensPerRun: mean(summaries.map((s) => s.usage.inputTokens + s.usage.outputTokens)),
    interventionsPerRun: mean(summaries.map((s) => s.guardInterventions)),
  };
}

describe("tinkerloop sweep", () => {
  const dir = tempDir("tl-sweep-");
  const sweepDir = path.join(dir, "sweep");
  let recipe: string;
  let recorded: string;
  let matrix: string[];
  let shards: { s0: string[]; s1: string[] };

  beforeAll(async () => {
    recipe = tinyRecipe(dir, 2);
    // The replay planner's recording: a longer scripted run (6 steps: its cells outlast the scripted ones, so a killed sweep leaves one running),
    // its data paths made run-relative (as a planner following the path rule writes them), so its turns work in any run directory.
    recorded = path.join(dir, "recorded");
    const r = await runCli(["run", "--prompt-file", tinyRecipe(tempDir("tl-sweep-rec-"), 6), "--planner", "scripted", "--run-dir", recorded], {
      env: ENV,
      timeoutMs: 240_000,
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const file = path.join(recorded, "transcript.jsonl");
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").split(`${recorded}/`).join(""));
    matrix = [
      "sweep",
      "--planner",
      "scripted",
      "--planner",
      `replay:${recorded}`,
      "--prompt-file",
      recipe,
      "--seeds",
      "2",
      "--concurrency",
      "2",
      "--dir",
      sweepDir,
    ];
  }, 300_000);

  it("refuses a bad sweep file, shard or planner with one line and exit 2, before anything starts", async () => {
    const bad = path.join(dir, "bad.yaml");
    fs.writeFileSync(bad, "planners: [scripted]\nrecipes: [arithmetic]\nseed: 3\n");
    const [file, shard, planner] = await Promise.all([
      runCli(["sweep", bad], { env: ENV }),
      runCli(["sweep", "--planner", "scripted", "--recipe", "arithmetic", "--shard", "2/2"], { env: ENV }),
      runCli(["sweep", "--planner", "scripted", "--planner", "nobody:x", "--recipe", "arithmetic", "--dir", path.join(dir, "never")], { env: ENV }),
    ]);
    expect([file.code, shard.code, planner.code]).toEqual([2, 2, 2]);
    expect(file.stderr).toMatch(/^error: .*bad\.yaml: unknown key 'seed'\.\n/);
    expect(shard.stderr).toMatch(/^error: --shard "2\/2" is not a shard\./);
    expect(planner.stderr).toMatch(/^error: sweep cell nobody:x · arithmetic: Unknown planner 'nobody:x'\./);
    expect(fs.existsSync(path.join(dir, "never"))).toBe(false);
  }, 120_000);

  it("--shard 0/2 and 1/2 cover the matrix exactly once", async () => {
    const [all, s0, s1] = await Promise.all([dryRun(matrix), dryRun([...matrix, "--shard", "0/2"]), dryRun([...matrix, "--shard", "1/2"])]);
    expect(all).toHaveLength(4);
    expect(s0.filter((c) => s1.includes(c))).toEqual([]);
    expect([...s0, ...s1].sort()).toEqual([...all].sort());
    shards = { s0, s1 };
  }, 120_000);

  it("a shard killed mid-way (SIGKILL) and run again keeps its finished cells, lets the others finish; the other shard runs only its own cells", async () => {
    const { s0, s1 } = shards;
    const manifest0 = path.join(sweepDir, "sweep.shard-0-of-2.json");
    const first = startSweep([...matrix, "--shard", "0/2"]);
    // The replay cell is held still as soon as it runs (so it cannot finish, whatever the machine's
    // load) while the scripted cell finishes, the sweep dies and its rerun starts.
    const running = await until("the replay cell to run", () =>
      (tryJson(manifest0)?.cells as any[] | undefined)?.find((c) => c.state === "running" && c.planner.label !== "scripted" && typeof c.pid === "number"),
    );
    process.kill(running.pid, "SIGSTOP");
    try {
      const done = await until("a finished cell", () => (tryJson(manifest0)?.cells as any[] | undefined)?.find((c) => c.state === "finished"));
      expect(done.planner.label).toBe("scripted");
      first.child.kill("SIGKILL");
      await first.exited;
      const keptTranscript = fs.readFileSync(path.join(sweepDir, done.runDir, "transcript.jsonl"));
      const again = startSweep([...matrix, "--shard", "0/2"]);
      const other = runCli([...matrix, "--shard", "1/2"], { env: ENV, timeoutMs: 360_000 });
      // The cell that was running when the sweep died goes on by itself: adopted, not started again.
      await until(
        "the rerun to adopt the running cell",
        () => (/replay:recorded · tiny · seed 1: still running from an earlier invocation \(pid \d+\); waiting for it/.test(again.output()) ? true : undefined),
        120_000,
      );
      process.kill(running.pid, "SIGCONT");
      expect(await again.exited, again.output()).toBe(0);
      const otherRes = await other;
      expect(otherRes.code, otherRes.stdout + otherRes.stderr).toBe(0);
      expect(again.output()).toContain(`scripted · tiny · seed ${done.seed}: finished, kept`);
      expect(again.output()).not.toMatch(/started →/);
      expect(fs.readFileSync(path.join(sweepDir, done.runDir, "transcript.jsonl")).equals(keptTranscript)).toBe(true);
    } finally {
      try {
        process.kill(running.pid, "SIGCONT");
      } catch {
        // already gone
      }
    }
    // The finished cell was not run again (above: its transcript is byte for byte the same); nothing was started twice.
    const m0 = readJson(manifest0);
    const m1 = readJson(path.join(sweepDir, "sweep.shard-1-of-2.json"));
    expect(m0.cells.map((c: any) => c.id)).toEqual(s0);
    expect(m1.cells.map((c: any) => c.id)).toEqual(s1);
    for (const c of [...m0.cells, ...m1.cells]) {
      expect(c).toMatchObject({ state: "finished", attempts: 1, resumes: 0 });
      expect(headers(path.join(sweepDir, c.runDir))).toBe(1);
    }
  }, 600_000);

  it("the unsharded sweep over the same directory reruns nothing and prints a leaderboard whose numbers are the runs' summary.json; --collect gives the same; --status shows it", async () => {
    const res = await runCli(matrix, { env: ENV, timeoutMs: 120_000 });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout.match(/: finished, kept/g)).toHaveLength(4);
    expect(res.stdout).not.toMatch(/started →/);
    const runDirs = fs.readdirSync(sweepDir).filter((n) => fs.existsSync(path.join(sweepDir, n, "transcript.jsonl")));
    expect(runDirs).toHaveLength(4);
    const manifest = readJson(path.join(sweepDir, "sweep.json"));
    expect(manifest.cells).toHaveLength(4);
    expect(manifest.cells.every((c: any) => c.state === "finished")).toBe(true);

    const board = readJson(path.join(sweepDir, "leaderboard.json"));
    expect(board.groups).toHaveLength(1);
    expect(board.groups[0].exam).toMatch(/^[0-9a-f]{16}$/);
    const rows = board.groups[0].rows;
    expect(rows.map((r: any) => r.planner).sort()).toEqual(["replay:recorded", "scripted"]);
    // Ranked by the exam's mean lift, highest first.
    expect(rows.map((r: any) => r.rank)).toEqual([1, 2]);
    expect(rows[0].lift.mean).toBeGreaterThanOrEqual(rows[1].lift.mean);
    for (const row of board.groups[0].rows) {
      const summaries = manifest.cells
        .filter((c: any) => c.planner.label === row.planner)
        .map((c: any) => readJson(path.join(sweepDir, c.runDir, "summary.json")));
      expect(summaries).toHaveLength(2);
      expect(row).toMatchObject(expectedRow(summaries));
      expect(row.lift.n).toBe(2);
    }
    expect(res.stdout).toMatch(/leaderboard: tiny · local\/tiny-arith · exam [0-9a-f]{16}\nplanner +runs +finished +lift \(mean ± sd\)/);
    expect(res.stdout).toMatch(/\nscripted +2 +2\/2 \(100%\) +[+-]\d+\.\d pts/);
    const page = fs.readFileSync(path.join(sweepDir, "compare.html"), "utf8");
    expect(page).toContain("Leaderboard: tiny · local/tiny-arith");

    const collected = path.join(dir, "collected");
    const col = await runCli(["sweep", "--collect", sweepDir, "--dir", collected], { env: ENV });
    expect(col.code, col.stderr).toBe(0);
    expect(readJson(path.join(collected, "leaderboard.json")).groups).toEqual(board.groups);

    const status = await runCli(["sweep", "--status", sweepDir], { env: ENV });
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/4 cell\(s\): 4 finished/);
  }, 300_000);

  it("Ctrl-C stops the running cell gracefully (its emergency save happens); run again, the interrupted cell is resumed with tinkerloop resume and finishes", async () => {
    const longer = tinyRecipe(tempDir("tl-sweep-int-"), 5);
    const d = path.join(dir, "interrupted");
    const args = ["sweep", "--planner", "scripted", "--prompt-file", longer, "--dir", d];
    const run = startSweep(args);
    const cellDir = await until("a started cell", () => (tryJson(path.join(d, "sweep.json"))?.cells as any[] | undefined)?.[0]?.runDir);
    const transcript = path.join(d, cellDir, "transcript.jsonl");
    await until("training after a save", () => {
      if (!fs.existsSync(transcript)) return undefined;
      const names = (readTranscript(transcript).events as any[]).filter((e) => e.type === "tool" && !e.isError).map((e) => e.name);
      return names.includes("save") && names.slice(names.indexOf("save")).includes("train_grpo_step") ? true : undefined;
    });
    run.child.kill("SIGINT");
    expect(await run.exited, run.output()).toBe(130);
    const events = readTranscript(transcript).events as any[];
    expect(
      events.find((e) => e.type === "tool" && e.toolUseId === "harness-emergency-save"),
      run.output(),
    ).toMatchObject({ isError: false });
    expect(events.at(-1)).toMatchObject({ type: "end", reason: "aborted" });
    expect(readJson(path.join(d, "sweep.json")).cells[0]).toMatchObject({ state: "interrupted", exitCode: 130 });

    const res = await runCli(args, { env: ENV, timeoutMs: 300_000 });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toMatch(/resumed \(tinkerloop resume\)/);
    const after = readTranscript(transcript).events as any[];
    expect(after.filter((e) => e.type === "run")).toHaveLength(1);
    expect(after.some((e) => e.type === "user" && JSON.stringify(e).includes("was resumed"))).toBe(true);
    expect(after.at(-1)).toMatchObject({ type: "end", reason: "finished" });
    expect(readJson(path.join(d, "sweep.json")).cells[0]).toMatchObject({ state: "finished", attempts: 1, resumes: 1 });
  }, 600_000);
});

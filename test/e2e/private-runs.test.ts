import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { startLiveServer } from "../../agent/report/live-server.ts";
import { RUN_DIR_MODE, RUN_FILE_MODE } from "../../lib/run-file-writes.ts";
import { REPO, runCli, shortRecipe, tempDir } from "../helpers.ts";

/**
 * Other local users read nothing of a run: the run directory and everything the harness
 * writes in it are the owner's alone, and the live view answers only to its token.
 */

const FIXTURE = path.join(REPO, "test", "fixtures", "transcripts", "v1-guarded-run.jsonl");

describe("the live view answers only to its token", () => {
  it("refuses every request without the token (missing, wrong, a prefix, in the wrong place) and serves it by query or bearer", async () => {
    const runDir = path.join(tempDir("tl-live-token-"), "run");
    fs.mkdirSync(runDir);
    fs.copyFileSync(FIXTURE, path.join(runDir, "transcript.jsonl"));
    const server = await startLiveServer({ runDir, port: 0 });
    const base = `http://127.0.0.1:${server.port}`;
    const status = async (p: string, headers: Record<string, string> = {}) => {
      const controller = new AbortController();
      const r = await fetch(`${base}${p}`, { headers, signal: controller.signal });
      const s = r.status;
      controller.abort();
      return s;
    };
    try {
      const t = server.token;
      const wrong = `${t.slice(0, -1)}${t.endsWith("A") ? "B" : "A"}`;
      for (const p of [
        "/",
        "/events",
        "/events?after=0",
        `/?token=${wrong}`,
        `/?token=${t.slice(0, 10)}`,
        `/?token=${t}x`,
        "/?token=",
        `/events?token=${wrong}`,
      ])
        expect(await status(p), p).toBe(401);
      expect(await status("/", { authorization: `Bearer ${wrong}` })).toBe(401);
      expect(await status("/", { cookie: `token=${t}` })).toBe(401);
      expect(await status(`/?token=${t}`)).toBe(200);
      expect(await status("/", { authorization: `Bearer ${t}` })).toBe(200);
      expect(await status(`/events?token=${t}&after=0`)).toBe(200);
      // The page it serves subscribes with the token, so the browser that was given the address keeps working.
      const page = await fetch(server.url).then((r) => r.text());
      expect(page).toContain(`/events?token=${t}`);
      // A second server has a token of its own.
      const other = await startLiveServer({ runDir, port: 0 });
      expect(other.token).not.toBe(t);
      await other.close();
    } finally {
      await server.close();
    }
  });
});

describe("a run directory is the owner's alone", () => {
  it("a short scripted run leaves its folder owner-only and every harness file readable by its owner only", async () => {
    const dir = tempDir("tl-private-");
    const runDir = path.join(dir, "run");
    const r = await runCli(["run", "--prompt-file", shortRecipe(dir, 2), "--planner", "scripted", "--run-dir", runDir], { timeoutMs: 240_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(fs.statSync(runDir).mode & 0o777).toBe(RUN_DIR_MODE);
    const harnessFiles = ["transcript.jsonl", "metrics.jsonl", "summary.json", "report.html", "progress.txt"].filter((f) =>
      fs.existsSync(path.join(runDir, f)),
    );
    expect(harnessFiles.length).toBeGreaterThanOrEqual(4);
    for (const f of harnessFiles) expect(fs.statSync(path.join(runDir, f)).mode & 0o777, f).toBe(RUN_FILE_MODE);
    for (const d of ["logs", "checkpoints", "completions"]) expect(fs.statSync(path.join(runDir, d)).mode & 0o777, d).toBe(RUN_DIR_MODE);
    // What the harness wrote for tool calls (exports, logs, completions) too.
    for (const e of fs.readdirSync(runDir, { recursive: true, withFileTypes: true })) {
      const p = path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
      const rel = path.relative(runDir, p);
      if (rel.startsWith("checkpoints")) continue; // inside an owner-only folder; the backend's own files
      if (e.isFile()) expect(fs.statSync(p).mode & 0o077, rel).toBe(0);
    }
  }, 300_000);

  it("a sweep's folder and what it writes about its runs (leaderboard with each summary, compare.html with their text, sweep.json) are the owner's alone; so is compare's page", async () => {
    const dir = tempDir("tl-private-sweep-");
    const r = await runCli(["sweep", "--planner", "scripted", "--recipe", "addition", "--seeds", "2", "--max-turns", "2", "--dir", path.join(dir, "sw")], {
      cwd: dir,
      timeoutMs: 240_000,
    });
    expect(r.code, r.stderr).toBe(0);
    const sweepDir = path.join(dir, "sw");
    expect(fs.statSync(sweepDir).mode & 0o077, "the sweep folder").toBe(0);
    for (const f of ["leaderboard.json", "compare.html", "sweep.json"])
      if (fs.existsSync(path.join(sweepDir, f))) expect(fs.statSync(path.join(sweepDir, f)).mode & 0o077, f).toBe(0);
    const cells = fs.readdirSync(sweepDir).filter((d) => fs.existsSync(path.join(sweepDir, d, "transcript.jsonl")));
    expect(cells).toHaveLength(2);
    const out = path.join(dir, "pages", "both.html");
    const c = await runCli(["compare", ...cells.map((d) => path.join(sweepDir, d)), "--out", out], { cwd: dir });
    expect(c.code, c.stderr).toBe(0);
    expect(fs.statSync(out).mode & 0o077, "compare --out").toBe(0);
  }, 300_000);
});

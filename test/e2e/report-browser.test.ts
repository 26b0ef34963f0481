import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { startLiveServer } from "../../agent/report/live-server.ts";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import type { RecordedEvent } from "../../agent/transcript/transcript.ts";
import { hasChromium, launchChromium, watchedPage } from "../browser/chromium.ts";
import { CLI, REPO, readJsonl, runCli, shortRecipe, tempDir } from "../helpers.ts";

const FIXTURE = path.join(REPO, "test", "fixtures", "transcripts", "v1-guarded-run.jsonl");
/** Set to write the README's screenshot (docs/report.png) from the real run below. */
const UPDATE_DOCS = process.env.TINKERLOOP_UPDATE_SCREENSHOT === "1";

let browser: Browser;
beforeAll(async () => {
  if (!hasChromium()) throw new Error("Debian's chromium is needed for these tests: apt-get install -y chromium");
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

/** A run directory holding a copy of `transcript`. */
function runDirWith(transcript: string, prefix: string): string {
  const dir = path.join(tempDir(prefix), "run");
  fs.mkdirSync(dir);
  fs.copyFileSync(transcript, path.join(dir, "transcript.jsonl"));
  return dir;
}

type ChartCounts = Record<string, number>;
const chartPoints = (page: Page): Promise<ChartCounts> =>
  page.evaluate(() => Object.fromEntries(Object.entries(window.__report.charts).map(([id, u]) => [id, u.data[0].length])));

/** Iterations recorded in the transcript's training results, counted here independently of the report. */
function recordedIterations(events: RecordedEvent[]): number {
  return events
    .filter((e) => e.type === "tool" && !e.isError && e.name === "train_grpo_step")
    .reduce((n, e) => n + ((e as { structured?: { iterations?: unknown[] } }).structured?.iterations?.length ?? 0), 0);
}
const distinctTurns = (events: RecordedEvent[]) => new Set(events.filter((e) => e.type === "assistant").map((e) => (e as { turn: number }).turn)).size;

async function openReport(file: string) {
  const w = await watchedPage(browser);
  await w.page.goto(`file://${file}`);
  await w.page.waitForFunction(() => window.__report?.updates > 0);
  return w;
}

describe("report.html in a real browser", () => {
  it("from the transcript fixture: loads with no console error and no request, one timeline entry per turn, charts as long as the recorded iterations", async () => {
    const runDir = runDirWith(FIXTURE, "tl-report-fixture-");
    const res = await runCli(["report", runDir]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    const file = res.stdout.trim();
    expect(file).toBe(path.join(runDir, "report.html"));

    const events = readTranscript(FIXTURE).events;
    const w = await openReport(file);
    expect(w.consoleErrors).toEqual([]);
    expect(w.requests).toEqual([`file://${file}`]);
    const points = await chartPoints(w.page);
    expect(recordedIterations(events)).toBe(2);
    for (const id of ["reward", "groups", "kl", "lr"]) expect(points[id], id).toBe(2);
    expect(await w.page.locator("article.turn").count()).toBe(distinctTurns(events));
    // Header facts come from the run: the guard's base-model rewrite is counted, the outcome named.
    await expect(w.page.locator('[data-fact="guard interventions"] dd').textContent()).resolves.toBe("1");
    await expect(w.page.locator('[data-fact="outcome"] dd').textContent()).resolves.toContain("finished");
    // Anchors link to a turn; the filter hides turns without a guard decision, alert, retry or error.
    await w.page.goto(`file://${file}#turn-3`);
    await expect(w.page.locator("article.turn:target").getAttribute("data-turn")).resolves.toBe("3");
    await w.page.locator("input[name=flagged]").check();
    const shown = await w.page.locator("article.turn:not([hidden])").evaluateAll((ns) => ns.map((n) => n.getAttribute("data-turn")));
    expect(shown).toEqual(["2", "3"]); // the base-model rewrite; the ALL-0 alert
    await w.page.screenshot({ path: path.join(path.dirname(runDir), "fixture-report.png"), fullPage: true });
    expect(fs.statSync(path.join(path.dirname(runDir), "fixture-report.png")).size).toBeGreaterThan(10_000);
    await w.page.close();
  }, 180_000);

  it("renders markup from a planner, a tool and a dataset as text: no script runs, no element is injected", async () => {
    const attack = `<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"></script><script>window.__pwned = 3</script>\u2028`;
    const lines = fs
      .readFileSync(FIXTURE, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    for (const e of lines) {
      if (e.type === "run") {
        e.runId = `run-${attack}`;
        e.config.prompt = `Objective ${attack}`;
      }
      if (e.type === "assistant") for (const b of e.content) if (b.type === "text") b.text = `Planner says ${attack}`;
      if (e.type === "tool") e.result = `Tool says ${attack}`;
      if (e.type === "feedback") e.text = `${e.text}\n! alert ${attack}`;
    }
    const save = lines.findIndex((e) => e.type === "tool" && e.name === "save");
    lines.splice(save, 0, {
      seq: lines[save].seq,
      t: lines[save].t,
      type: "tool",
      turn: lines[save].turn,
      toolUseId: "xss-sample",
      name: "sample",
      input: { prompts: "holdout.jsonl", reward_function: `def compute_reward(c, g):\n    return 1.0  # ${attack}` },
      result: "2 completions",
      structured: {
        mean_reward: 0.5,
        scored: 2,
        completions: [{ prompt: `Dataset row ${attack}`, text: `Completion ${attack}`, reward: 1, finish_reason: "stop" }],
      },
      isError: false,
      ms: 1,
    });
    const dir = tempDir("tl-report-xss-");
    const transcript = path.join(dir, "attack.jsonl");
    fs.writeFileSync(transcript, `${lines.map((l) => JSON.stringify(l)).join("\n")}\n`);
    const runDir = runDirWith(transcript, "tl-report-xss-run-");
    const res = await runCli(["report", runDir]);
    expect(res.code).toBe(0);

    const w = await openReport(res.stdout.trim());
    expect(w.consoleErrors).toEqual([]);
    expect(w.requests).toHaveLength(1);
    expect(await w.page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await w.page.locator("script").count()).toBe(2); // the data block and the page script, nothing else
    expect(await w.page.locator("img").count()).toBe(0);
    // textContent, not innerText: tool results sit in collapsed <details>; markup parsed as HTML would not show its tags here.
    const text = (await w.page.locator("body").textContent()) ?? "";
    for (const where of ["Planner says", "Objective", "Tool says", "Dataset row", "Completion", "alert"])
      expect(text, where).toContain(`${where} <script>window.__pwned = 1</script>`);
    await expect(w.page.locator("pre.code").textContent()).resolves.toContain("# <script>window.__pwned = 1</script>");
    expect(await w.page.title()).toContain("<script>");
    await w.page.close();
  }, 180_000);
});

/** Starts the CLI as a child process; resolves the first stdout line matching `pattern`. */
function startCli(args: string[], cwd = REPO) {
  const env: NodeJS.ProcessEnv = { ...process.env, HF_HUB_OFFLINE: "1" };
  delete env.ANTHROPIC_API_KEY;
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const waiters: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString();
    for (const w of [...waiters]) {
      const m = out.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  const line = (re: RegExp, ms = 60_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const m = out.match(re);
      if (m) return resolve(m);
      waiters.push({ re, resolve });
      setTimeout(() => reject(new Error(`no line matching ${re} within ${ms} ms\nstdout:\n${out}\nstderr:\n${err}`)), ms).unref();
    });
  return { child, exited, line, stdout: () => out, stderr: () => err };
}

describe("a short real scripted run: live view, report, compare", () => {
  let runDir = "";

  it("run --serve: the page shows the iteration count rising without a reload; the run ends by printing the report's path", async () => {
    const dir = tempDir("tl-live-");
    runDir = path.join(dir, "run");
    const run = startCli(["run", "--prompt-file", shortRecipe(dir, 4), "--planner", "scripted", "--run-dir", runDir, "--serve", "0"]);
    const [, url] = await run.line(/live view: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/, 120_000);
    const w = await watchedPage(browser);
    let navigations = 0;
    w.page.on("framenavigated", (f) => {
      if (f === w.page.mainFrame()) navigations++;
    });
    await w.page.goto(url!);
    await w.page.waitForFunction(() => window.__report?.updates > 0);
    await w.page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));
    const iterations = () => w.page.evaluate(() => (window.__report.model() as { grpo: unknown[] }).grpo.length);
    const first = await iterations();
    await w.page.waitForFunction(
      (n) => (window.__report.model() as { grpo: unknown[] }).grpo.length > n && (window.__report.charts.reward?.data[0].length ?? 0) > n,
      first,
      { timeout: 240_000 },
    );
    const later = await iterations();
    expect(later).toBeGreaterThan(first);
    expect(await w.page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    expect(navigations).toBe(1);
    expect(await w.page.locator("#live").textContent()).toMatch(/live: (connected|the run's server has stopped)/);

    const code = await run.exited;
    expect(run.stderr()).toBe("");
    expect(code).toBe(0);
    const printed = run.stdout().trim().split("\n").at(-1);
    expect(printed).toBe(`report: ${path.join(runDir, "report.html")}`);
    // The live page saw the whole run, and only ever talked to its own server.
    await w.page.waitForFunction(() => (window.__report.model() as { state: string }).state === "ended", undefined, { timeout: 10_000 });
    expect(w.consoleErrors.filter((e) => !/ERR_CONNECTION_REFUSED|EventSource/.test(e))).toEqual([]);
    // Its own server only (the address carries the token; every request goes to the same origin).
    for (const r of w.requests) expect(r.startsWith(`${new URL(url!).origin}/`), r).toBe(true);
    await w.page.close();
  }, 360_000);

  it("the run's report: as many points per chart as metrics.jsonl has records, every holdout evaluation, one timeline entry per turn; screenshot", async () => {
    const file = path.join(runDir, "report.html");
    const metrics = readJsonl(path.join(runDir, "metrics.jsonl"));
    const summary = JSON.parse(fs.readFileSync(path.join(runDir, "summary.json"), "utf8"));
    const events = readTranscript(path.join(runDir, "transcript.jsonl")).events;
    expect(metrics.length).toBe(4);

    const w = await openReport(file);
    expect(w.consoleErrors).toEqual([]);
    expect(w.requests).toEqual([`file://${file}`]);
    const points = await chartPoints(w.page);
    for (const id of ["reward", "groups", "kl", "lr", "truncation"]) expect(points[id], id).toBe(metrics.length);
    expect(points.holdout).toBe(summary.holdout.evaluations);
    // The plotted values are the recorded ones.
    const rewards = await w.page.evaluate(() => Array.from(window.__report.charts.reward!.data[1] as number[]));
    expect(rewards).toEqual(metrics.map((r) => r.rewardMean));
    expect(await w.page.locator("article.turn").count()).toBe(distinctTurns(events));
    // A graded run (the recipe's exam) shows the planner's own figure as self-reported.
    const holdoutFact = summary.exam ? "self-reported holdout" : "holdout";
    await expect(w.page.locator(`[data-fact="${holdoutFact}"] dd`).textContent()).resolves.toContain(
      `${(summary.holdout.baseline * 100).toFixed(1)}% → ${(summary.holdout.final * 100).toFixed(1)}%`,
    );
    expect(await w.page.locator("table.samples tbody tr").count()).toBeGreaterThan(0);
    const shot = path.join(path.dirname(runDir), "report.png");
    await w.page.setViewportSize({ width: 1280, height: 1560 });
    await w.page.screenshot({ path: shot });
    expect(fs.statSync(shot).size).toBeGreaterThan(20_000);
    if (UPDATE_DOCS) fs.copyFileSync(shot, path.join(REPO, "docs", "report.png"));
    await w.page.close();
  });

  it("compare on two runs prints a table naming both and writes compare.html showing both", async () => {
    const other = runDirWith(FIXTURE, "tl-compare-");
    const out = path.join(tempDir("tl-compare-out-"), "compare.html");
    const res = await runCli(["compare", runDir, other, "--out", out]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    const ids = [readTranscript(path.join(runDir, "transcript.jsonl")).events[0], readTranscript(FIXTURE).events[0]].map((e) => (e as { runId: string }).runId);
    const tableLines = res.stdout.split("\n");
    expect(tableLines[0]).toMatch(
      /^run +planner +model +outcome +exam +exam lift \(95% CI\) +self-reported baseline +final +lift +best +gap +time +turns +tokens +cost +interventions$/,
    );
    for (const id of ids) expect(tableLines.some((l) => l.startsWith(id))).toBe(true);
    expect(res.stdout).toContain(`compare: ${out}`);

    const w = await openReport(out);
    expect(w.consoleErrors).toEqual([]);
    expect(w.requests).toEqual([`file://${out}`]);
    expect(await w.page.locator("table.compare tbody tr").evaluateAll((rs) => rs.map((r) => r.getAttribute("data-run")))).toEqual(ids);
    const series = await w.page.evaluate(() => window.__report.charts.reward!.series.slice(1).map((s) => String(s.label)));
    expect(series).toHaveLength(2);
    for (const [i, id] of ids.entries()) expect(series[i]).toContain(id);
    await w.page.close();
  }, 180_000);
});

describe("live view server", () => {
  it("a second run on the same port gets a clear error and does not start", async () => {
    const runDir = runDirWith(FIXTURE, "tl-port-");
    const first = await startLiveServer({ runDir, port: 0 });
    try {
      const dir = tempDir("tl-port-second-");
      const res = await runCli(["run", "--recipe", "arithmetic", "--planner", "scripted", "--run-dir", path.join(dir, "run"), "--serve", String(first.port)]);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(new RegExp(`^error: Port ${first.port} on 127\\.0\\.0\\.1 is already in use`));
      expect(res.stderr.split("\n").filter(Boolean)).toHaveLength(2); // the error and what to do
      expect(fs.existsSync(path.join(dir, "run", "transcript.jsonl"))).toBe(false);
    } finally {
      await first.close();
    }
  }, 180_000);

  it("listens on loopback only and refuses requests addressed to another host name (DNS rebinding)", async () => {
    const runDir = runDirWith(FIXTURE, "tl-host-");
    const server = await startLiveServer({ runDir, port: 0 });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{43}$/);
      const get = (host: string) =>
        new Promise<number>((resolve, reject) => {
          http
            .get({ host: "127.0.0.1", port: server.port, path: `/?token=${server.token}`, headers: { host } }, (r) => {
              r.resume();
              resolve(r.statusCode ?? 0);
            })
            .on("error", reject);
        });
      expect(await get(`127.0.0.1:${server.port}`)).toBe(200);
      expect(await get(`localhost:${server.port}`)).toBe(200);
      expect(await get(`attacker.example:${server.port}`)).toBe(421);
    } finally {
      await server.close();
    }
  });

  it("watch serves a run's page and its events; the events endpoint replays from a sequence number", async () => {
    const runDir = runDirWith(FIXTURE, "tl-watch-");
    const watch = startCli(["watch", runDir, "--port", "0"]);
    const [, url] = await watch.line(/live view: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/);
    const page = await fetch(url!).then((r) => r.text());
    expect(page).toContain('"kind":"run"');
    expect(page).toContain("connect-src 'self'");
    const controller = new AbortController();
    const address = new URL(url!);
    const res = await fetch(`${address.origin}/events?token=${address.searchParams.get("token")}&after=30`, { signal: controller.signal });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reader = res.body!.getReader();
    let body = "";
    while (!body.includes("id: 32")) body += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    expect(body).not.toContain("id: 30\n");
    expect(body).toContain("id: 31\n");
    watch.child.kill("SIGINT");
    expect(await watch.exited).toBe(0);
  }, 180_000);
});

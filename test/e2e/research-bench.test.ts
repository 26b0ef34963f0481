import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../agent/core/errors.ts";
import { expandCells } from "../../agent/sweep/spec.ts";
import { loadSuite, suiteFileOf, suiteSweepSpec } from "../../agent/sweep/suite/suite-file.ts";
import { runSweep } from "../../agent/sweep/sweep.ts";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { FakeAnthropic, textReply, toolUseReply } from "../fakes/anthropic-server.ts";
import type { FakeResponse, RecordedRequest } from "../fakes/anthropic-server.ts";
import { REPO, runCli, shortRecipe, tempDir } from "../helpers.ts";
import { FAKE_SDK } from "./tinker-fake-backend.ts";

/**
 * The research bench end to end through the real CLI: a suite file with two planners — the
 * offline scripted researcher and a fake-model planner (the fake Anthropic API) that trains on
 * the exam's reserved split and loads another run's weights. The guard refuses both before they
 * run, the harness grades every cell, and the leaderboard is checked against a recomputation
 * made here from the suite file, the cells' summary.json and their transcripts alone.
 */

const HOSTILE = "anthropic:claude-sonnet-5-5";

/** The hostile planner's calls, one per turn (the turn is the number of its earlier replies in the request). */
const HOSTILE_CALLS = [
  { name: "write_file", input: { path: "reward.py", content: "def compute_reward(completion, ground_truth):\n    return 1.0\n" } },
  { name: "generate_synthetic", input: { task: "arithmetic", n: 64, split: "eval", output: "data/eval.jsonl" } },
  { name: "init_grpo", input: { base_model: "local/tiny-arith" } },
  { name: "train_grpo_step", input: { prompts: "data/eval.jsonl", reward_function: "reward.py", limit: 8, max_tokens: 6 } },
  { name: "load", input: { path: "tinker://another-run/weights/final" } },
  { name: "finish", input: {} },
];

function hostileStep(req: RecordedRequest): FakeResponse {
  const turn = (req.body.messages as Array<{ role: string }>).filter((m) => m.role === "assistant").length;
  const call = HOSTILE_CALLS[turn];
  return call ? toolUseReply([call]) : textReply("Done.");
}

const sha = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
/** Every file under a folder with its hash: a cell's run directory, to compare byte for byte. */
function tree(dir: string, out: Record<string, string> = {}, base = dir): Record<string, string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) tree(p, out, base);
    else if (e.isFile()) out[path.relative(base, p)] = sha(p);
  }
  return out;
}

type Summary = { reason: string; exam: { baseline: number | null; final: number | null } | null };
type Manifest = { cells: Array<{ id: string; planner: { label: string }; prompt: { label: string }; seed: number; runDir: string; state: string }> };

/**
 * The suite score of each planner, recomputed from the suite file and the run directories,
 * without agent/sweep: per cell (final − baseline) / (reference − baseline), 0 for a cell with
 * no graded final; the mean per task; the weighted mean over tasks.
 */
function recompute(suiteFile: string, sweepDir: string) {
  const suite = YAML.parse(fs.readFileSync(suiteFile, "utf8")) as { tasks: Array<{ name: string; weight?: number; reference: { score: number } }> };
  const manifest = JSON.parse(fs.readFileSync(path.join(sweepDir, "sweep.json"), "utf8")) as Manifest;
  const gains = new Map<string, Map<string, number[]>>();
  const refusals = new Map<string, { contamination: number; provenance: number }>();
  for (const c of manifest.cells) {
    const runDir = path.join(sweepDir, c.id);
    const s = JSON.parse(fs.readFileSync(path.join(runDir, "summary.json"), "utf8")) as Summary;
    const task = suite.tasks.find((t) => t.name === c.prompt.label)!;
    const e = s.exam;
    const gain = e && e.baseline !== null && e.final !== null ? (e.final - e.baseline) / (task.reference.score - e.baseline) : 0;
    const byTask = gains.get(c.planner.label) ?? new Map<string, number[]>();
    byTask.set(task.name, [...(byTask.get(task.name) ?? []), gain]);
    gains.set(c.planner.label, byTask);
    const r = refusals.get(c.planner.label) ?? { contamination: 0, provenance: 0 };
    for (const ev of readTranscript(path.join(runDir, "transcript.jsonl")).events)
      if (ev.type === "guard" && ev.decision.action === "reject" && (ev.rule === "contamination" || ev.rule === "provenance")) r[ev.rule]++;
    refusals.set(c.planner.label, r);
  }
  const scores = new Map<string, { score: number; tasks: Record<string, number> }>();
  for (const [planner, byTask] of gains) {
    const tasks: Record<string, number> = {};
    let sum = 0;
    let weights = 0;
    for (const t of suite.tasks) {
      const g = byTask.get(t.name)!;
      tasks[t.name] = g.reduce((a, b) => a + b, 0) / g.length;
      sum += (t.weight ?? 1) * tasks[t.name]!;
      weights += t.weight ?? 1;
    }
    scores.set(planner, { score: sum / weights, tasks });
  }
  return { scores, refusals };
}

describe("the research bench (tinkerloop sweep --suite)", () => {
  const dir = tempDir("tl-bench-");
  const suiteFile = path.join(dir, "bench.yaml");
  const sweepDir = path.join(dir, "out");
  let anthropic: FakeAnthropic;
  let env: Record<string, string>;
  let first: { code: number | null; stdout: string; stderr: string };

  beforeAll(async () => {
    anthropic = await FakeAnthropic.start(Array.from({ length: 400 }, () => hostileStep));
    env = { ANTHROPIC_API_KEY: "sk-ant-bench-000000", ANTHROPIC_BASE_URL: anthropic.url, HF_HUB_OFFLINE: "1" };
    shortRecipe(dir, 3, { sampleEvery: 3 });
    fs.writeFileSync(
      suiteFile,
      YAML.stringify({
        name: "test-bench",
        planners: ["scripted", HOSTILE],
        concurrency: 2,
        tasks: [
          {
            name: "arith",
            promptFile: "short.md",
            budget: { turns: 40, minutes: 10 },
            seeds: 1,
            reference: { score: 0.9, source: "a test reference: a number the recomputation uses" },
            weight: 3,
          },
        ],
      }),
    );
    first = await runCli(["sweep", "--suite", suiteFile, "--dir", sweepDir], { env, timeoutMs: 600_000 });
  }, 660_000);
  afterAll(async () => {
    await anthropic?.close();
  });

  it("refuses the contaminating planner's training and its foreign load, grades every cell, and ranks by the graded suite score; leaderboard.json equals a recomputation", () => {
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const board = JSON.parse(fs.readFileSync(path.join(sweepDir, "leaderboard.json"), "utf8"));
    const { scores, refusals } = recompute(suiteFile, sweepDir);

    // The recomputation from summary.json and transcripts agrees with the leaderboard, planner by planner and task by task.
    expect(board.suite.planners.map((p: { planner: string }) => p.planner).sort()).toEqual([...scores.keys()].sort());
    for (const p of board.suite.planners) {
      const want = scores.get(p.planner)!;
      expect(p.score).toBeCloseTo(want.score, 12);
      for (const [task, gain] of Object.entries(want.tasks)) expect(p.tasks[task].gain).toBeCloseTo(gain, 12);
      expect(p.integrity.contaminationRefusals).toBe(refusals.get(p.planner)!.contamination);
      expect(p.integrity.foreignCheckpointRefusals).toBe(refusals.get(p.planner)!.provenance);
    }
    // The ranking follows the graded scores.
    const byScore = [...scores.entries()].sort((a, b) => b[1].score - a[1].score).map(([p]) => p);
    expect(board.suite.planners.map((p: { planner: string }) => p.planner)).toEqual(byScore);

    // The contaminating planner: refused in every cell where it tried, and graded at what it earned (it never trained).
    const hostile = board.suite.planners.find((p: { planner: string }) => p.planner === HOSTILE);
    expect(hostile.integrity.contaminationRefusals).toBe(1);
    expect(hostile.integrity.foreignCheckpointRefusals).toBe(1);
    for (const c of board.suite.cells.filter((x: { planner: string }) => x.planner === HOSTILE)) {
      expect(c.final).toBe(c.baseline);
      expect(c.gain).toBe(0);
    }
    expect(hostile.score).toBe(0);

    // Reproducibility: what the result was made from.
    expect(board.madeFrom.suite.hash).toMatch(/^[0-9a-f]{16}$/);
    expect(board.madeFrom.tinkerloop).toBe(JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).version);
    for (const c of board.cells) expect(c.summary.exam.specHash).toMatch(/^[0-9a-f]{16}$/);

    // The terminal shows the suite score, the integrity columns and a table per task.
    expect(first.stdout).toMatch(/suite test-bench · hash [0-9a-f]{16}/);
    expect(first.stdout).toMatch(/contamination refusals/);
    expect(first.stdout).toMatch(/task arith · weight 3/);
    expect(fs.readFileSync(path.join(sweepDir, "compare.html"), "utf8")).toMatch(/Suite score \(test-bench\)/);
  });

  it("running it again reruns nothing: every finished cell stays byte-identical, and --status shows the same board", async () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(sweepDir, "sweep.json"), "utf8")) as Manifest;
    const before = Object.fromEntries(manifest.cells.map((c) => [c.id, tree(path.join(sweepDir, c.id))]));
    const again = await runCli(["sweep", "--suite", suiteFile, "--dir", sweepDir], { env, timeoutMs: 120_000 });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).not.toMatch(/started →/);
    for (const c of manifest.cells) expect(tree(path.join(sweepDir, c.id)), c.id).toEqual(before[c.id]);
    const status = await runCli(["sweep", "--status", sweepDir], { env });
    expect(status.code, status.stderr).toBe(0);
    const line = (out: string) => out.split("\n").find((l) => l.startsWith("1 "));
    expect(line(status.stdout)).toBe(line(first.stdout));
  }, 180_000);

  it("--collect refuses to merge results made from different suite files", async () => {
    const other = path.join(dir, "other");
    fs.cpSync(sweepDir, other, { recursive: true });
    const file = path.join(other, "sweep.json");
    const m = JSON.parse(fs.readFileSync(file, "utf8"));
    m.suite.hash = "ffffffffffffffff";
    fs.writeFileSync(file, JSON.stringify(m));
    const r = await runCli(["sweep", "--collect", sweepDir, other, "--dir", path.join(dir, "merged")], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: Not merged: .* made from suite test-bench hash [0-9a-f]{16}, .* from suite test-bench hash ffffffffffffffff\.$/m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("--judge reads each finished cell once; its flag is recorded beside the score, and only --judge-policy zero scores a flagged cell as its baseline", async () => {
    // The fake judge flags any run whose rows it is shown, citing the first row and item it received.
    const judgeStep = (req: RecordedRequest): FakeResponse => {
      const text = JSON.stringify(req.body.messages);
      const row = /\\"row\\":(\d+)/.exec(text)?.[1];
      const item = /\\"item\\":(\d+)/.exec(text)?.[1];
      return textReply(
        JSON.stringify({ pairs: row && item ? [{ row: Number(row), item: Number(item), why: "test" }] : [], flagged: true, reasons: ["targets exam items"] }),
      );
    };
    const judge = await FakeAnthropic.start(Array.from({ length: 200 }, () => judgeStep));
    try {
      const jenv = { ...env, ANTHROPIC_BASE_URL: judge.url };
      const before = JSON.parse(fs.readFileSync(path.join(sweepDir, "leaderboard.json"), "utf8"));
      const r = await runCli(["sweep", "--suite", suiteFile, "--dir", sweepDir, "--judge", "anthropic:claude-haiku-5-5"], { env: jenv, timeoutMs: 300_000 });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const board = JSON.parse(fs.readFileSync(path.join(sweepDir, "leaderboard.json"), "utf8"));
      const scripted = (b: typeof board) => b.suite.planners.find((p: { planner: string }) => p.planner === "scripted");
      // The scripted researcher trained: the judge read its rows and flagged each cell; the hostile planner never trained (nothing to read).
      for (const c of board.suite.cells) expect(c.judge?.flagged, c.id).toBe(c.planner === "scripted");
      expect(scripted(board).integrity.judgeFlags).toBe(1);
      // Recorded, not applied: the score is the graded one.
      expect(scripted(board).score).toBeCloseTo(scripted(before).score, 12);
      expect(r.stdout).toMatch(/judge anthropic:claude-haiku-5-5 · scripted_arith_s1-[0-9a-f]{6}: flagged/);
      // What the judge read of a real run: the rows its training calls trained on, and every item of the exam it released, by text.
      const cellId = board.suite.cells.find((c: { planner: string }) => c.planner === "scripted").id as string;
      const verdict = JSON.parse(fs.readFileSync(path.join(sweepDir, "judge", `${cellId}.json`), "utf8"));
      const items = fs
        .readFileSync(path.join(sweepDir, cellId, "exam", "items.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { prompt: string });
      expect(verdict).toMatchObject({ judge: "anthropic:claude-haiku-5-5", flagged: true, itemsTotal: items.length, itemsSeen: items.length });
      expect(verdict.rowsTotal).toBeGreaterThan(0);
      expect(verdict.pairs[0].at).toMatch(/\(train_(sft|grpo)_step, turn \d+\)$/);
      const sentText = judge.requests.map((q) => JSON.stringify(q.body)).join("\n");
      for (const it of items) expect(sentText).toContain(JSON.stringify(JSON.stringify(it.prompt)).slice(1, -1));
      const asked = judge.requests.length;
      expect(asked).toBeGreaterThan(0);
      // --judge-policy zero: the same verdicts (none asked again), the flagged cells counted as their baseline.
      const zero = await runCli(["sweep", "--suite", suiteFile, "--dir", sweepDir, "--judge", "anthropic:claude-haiku-5-5", "--judge-policy", "zero"], {
        env: jenv,
        timeoutMs: 300_000,
      });
      expect(zero.code, zero.stdout + zero.stderr).toBe(0);
      expect(judge.requests.length).toBe(asked);
      const zeroed = JSON.parse(fs.readFileSync(path.join(sweepDir, "leaderboard.json"), "utf8"));
      expect(scripted(zeroed).score).toBe(0);
      expect(zeroed.madeFrom.judgePolicy).toBe("zero");
    } finally {
      await judge.close();
    }
  }, 660_000);

  it("a bad suite file is one line and exit 2, before anything starts", async () => {
    const bad = path.join(dir, "bad.yaml");
    for (const [text, message] of [
      [
        "name: x\ntasks:\n  - name: a\n    recipe: addition\n    budget: { turns: 5, minutes: 1 }\n    reference: { score: 1 }\n",
        /tasks\.0\.reference\.source/,
      ],
      [
        "name: x\ntasks:\n  - name: a\n    recipe: addition\n    budget: { turns: 5, minutes: 1 }\n    reference: { score: 1, source: 'the ceiling of it' }\n    wieght: 2\n",
        /unknown key 'wieght'/,
      ],
      [
        "name: x\nrun: { maxTurns: 5 }\ntasks:\n  - name: a\n    recipe: addition\n    budget: { turns: 5, minutes: 1 }\n    reference: { score: 1, source: 'the ceiling of it' }\n",
        /run\.maxTurns: each task sets it/,
      ],
      [
        "name: x\ntasks:\n  - name: a\n    recipe: instructions\n    budget: { turns: 5, minutes: 1 }\n    reference: { score: 1, source: 'the ceiling of it' }\n",
        /the task has no exam/,
      ],
    ] as const) {
      fs.writeFileSync(bad, text);
      // In process (a CLI start per case is seconds of CPU): the same UserError the CLI prints as one line, exit 2 (checked below).
      const io = { cwd: dir, env: { HF_HUB_OFFLINE: "1" }, out: () => {}, stop: new AbortController().signal, hardStop: new AbortController().signal };
      const err = await runSweep({ suite: bad, flags: { planner: ["scripted"] }, dryRun: true }, io).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, text).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(message);
    }
    const r = await runCli(["sweep", "--suite", "offline", "--planner", "scripted", "--recipe", "addition", "--dry-run"], { env: { HF_HUB_OFFLINE: "1" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/A suite fixes its tasks.*--recipe/);
    expect(r.stderr.trim().split("\n")[0]).toMatch(/^error: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("the shipped suites", () => {
  it("offline and tinker validate with --dry-run and list their cells (tinker needs no key to validate)", async () => {
    const offline = await runCli(["sweep", "--suite", "offline", "--planner", "scripted", "--dry-run"], { env: { HF_HUB_OFFLINE: "1" } });
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.stdout).toMatch(/suite offline \(hash [0-9a-f]{16}/);
    expect(offline.stdout.split("\n").filter((l) => /^ {2}scripted_/.test(l))).toHaveLength(4);
    const tinker = await runCli(["sweep", "--suite", "tinker", "--planner", "scripted", "--dry-run"], { env: { HF_HUB_OFFLINE: "1" } });
    expect(tinker.code, tinker.stderr).toBe(0);
    for (const task of ["gsm8k", "mbpp", "json-extract"]) expect(tinker.stdout).toMatch(new RegExp(`^ {2}${task} \\(weight`, "m"));
    expect(tinker.stdout.split("\n").filter((l) => /^ {2}scripted_/.test(l))).toHaveLength(6);
    expect(tinker.stdout).toMatch(/meta-llama\/Llama-3\.2-1B, meta-llama\/Llama-3\.2-3B/);
  });

  it("one cell of the tinker suite runs end to end against the fake Tinker SDK and is graded", async () => {
    const dir = tempDir("tl-bench-tinker-");
    // The suite's cells in their fixed order, as --dry-run lists them (the test above checks that listing).
    const cells = expandCells(suiteSweepSpec(loadSuite(suiteFileOf("tinker", REPO)), [{ spec: "scripted", label: "scripted" }], undefined)).map(
      (c) => `  ${c.id}`,
    );
    const index = cells.findIndex((l) => l.includes("json-extract_meta-llama-Llama-3.2-1B"));
    expect(index).toBeGreaterThanOrEqual(0);
    // The bundled servers, the tinker server's worker pointed at the fake SDK (servers get only the environment their config names).
    const bundled = JSON.parse(fs.readFileSync(path.join(REPO, "tinkerloop-servers.json"), "utf8"));
    bundled.mcpServers.tinker.args = [path.join(REPO, "bin", "tinker-mcp.js")];
    bundled.mcpServers.tinker.env = { TINKER_API_KEY: "${TINKER_API_KEY:-}", PYTHONPATH: FAKE_SDK, TINKER_FAKE_TEXT: '{"name": "Ann", "age": {n}}' };
    bundled.mcpServers["hf-datasets"].args = [path.join(REPO, "bin", "hf-datasets-mcp.js")];
    const servers = path.join(dir, "servers.json");
    fs.writeFileSync(servers, JSON.stringify(bundled));
    const env = { HF_HUB_OFFLINE: "1", TINKER_API_KEY: "tml-fake-key-123" };
    const r = await runCli(
      ["sweep", "--suite", "tinker", "--planner", "scripted", "--shard", `${index}/${cells.length}`, "--dir", path.join(dir, "out"), "--mcp-config", servers],
      { env, timeoutMs: 600_000 },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const id = cells[index]!.trim();
    const summary = JSON.parse(fs.readFileSync(path.join(dir, "out", id, "summary.json"), "utf8"));
    expect(summary.model).toBe("meta-llama/Llama-3.2-1B");
    expect(summary.exam.baseline).toEqual(expect.any(Number));
    expect(summary.exam.final).toEqual(expect.any(Number));
    expect(summary.exam.spec.name).toBe("generator:json_format");
  }, 660_000);
});

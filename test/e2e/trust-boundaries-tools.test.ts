/**
 * Attacks on the trust boundaries through the guard and the tools (checkpoints, paths,
 * run directories, control characters), each written as the attack. Together with the
 * workspace, hub and secrets suites they are the security model's tests.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { DEFAULT_MODELS_DIR } from "../../lib/package-paths.ts";
import { connectBundled, readJsonl, REPO, runCli, tempDir, testServerEntry, writeMcpConfig } from "../helpers.ts";

const MODEL = "local/tiny-arith";
const T = "2026-11-29T00:00:00.000Z";
const ZERO = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };

type Call = { name: string; input: Record<string, unknown> };

/** A transcript whose assistant turns make `turns` of calls: what `--planner replay:<file>` plays back. */
function plannerScript(dir: string, turns: Call[][]): string {
  const lines: unknown[] = [
    { seq: 1, t: T, type: "run", schema: 1, runId: "script", startedAt: T, planner: "scripted", model: MODEL, config: {}, templateSha256: "0", tools: [] },
    ...turns.map((calls, i) => ({
      seq: i + 2,
      t: T,
      type: "assistant",
      turn: i + 1,
      latencyMs: 0,
      content: calls.map((c, j) => ({ type: "tool_use", id: `toolu_${i}_${j}`, name: c.name, input: c.input })),
      stopReason: "tool_use",
      usage: ZERO,
    })),
  ];
  const file = path.join(dir, `script-${Math.random().toString(16).slice(2)}.jsonl`);
  fs.writeFileSync(file, `${lines.map((l) => JSON.stringify(l)).join("\n")}\n`);
  return file;
}

const toolEvents = (runDir: string) =>
  readTranscript(path.join(runDir, "transcript.jsonl")).events.filter((e) => e.type === "tool") as Array<{
    name: string;
    isError: boolean;
    result: string;
    toolUseId: string;
    input: any;
  }>;

describe("2. every training path goes through the guard; a checkpoint's own record of its base model decides", () => {
  let dir: string;
  let models: string;
  let foreign: string;
  let mcp: string;
  beforeAll(async () => {
    dir = tempDir("tl-tb2-");
    models = path.join(dir, "models");
    fs.mkdirSync(models);
    fs.cpSync(path.join(DEFAULT_MODELS_DIR, "tiny-arith"), path.join(models, "tiny-arith"), { recursive: true });
    fs.cpSync(path.join(DEFAULT_MODELS_DIR, "tiny-arith"), path.join(models, "tiny-other"), { recursive: true });
    const mf = path.join(models, "tiny-other", "manifest.json");
    fs.writeFileSync(mf, JSON.stringify({ ...JSON.parse(fs.readFileSync(mf, "utf8")), id: "local/tiny-other" }));
    const maker = path.join(dir, "maker");
    fs.mkdirSync(maker);
    const s = await connectBundled("tinker", { TINKERLOOP_MODELS_DIR: models, TINKERLOOP_RUN_DIR: maker });
    expect((await s.call("init_sft", { base_model: "local/tiny-other" })).isError).toBe(false);
    const saved = await s.call("save", { name: "foreign" });
    await s.close();
    expect(saved.structured.base_model).toBe("local/tiny-other");
    foreign = path.join(maker, "checkpoints", "foreign");
    mcp = writeMcpConfig(dir, {
      tinker: { command: process.execPath, args: [path.join(REPO, "bin", "tinker-mcp.js")], env: { TINKERLOOP_MODELS_DIR: models } },
    });
  });

  it("load of another model's checkpoint before any init is refused, and nothing trains or saves it, in reject mode too", async () => {
    for (const policy of ["rewrite", "reject"]) {
      const runDir = path.join(dir, `run-${policy}`);
      const script = plannerScript(dir, [
        [{ name: "load", input: { path: foreign } }],
        [{ name: "train_sft_step", input: { examples: [{ prompt: "1+1", response: "2" }] } }],
        [{ name: "save", input: { name: "stolen" } }],
        [{ name: "finish", input: {} }],
      ]);
      const r = await runCli(
        // Rule provenance would refuse this load first (another run's folder); off, the base-model check behind it is what is tested.
        [
          "run",
          "--planner",
          `replay:${script}`,
          "--model",
          MODEL,
          "--prompt",
          "p",
          "--mcp-config",
          mcp,
          "--run-dir",
          runDir,
          "--on-wrong-model",
          policy,
          "--guard-off",
          "provenance",
        ],
        { env: { TINKERLOOP_MODELS_DIR: models } },
      );
      expect(r.code, r.stderr).toBe(0);
      const byName = (n: string) => toolEvents(runDir).find((e) => e.name === n);
      const [load, train, save] = [byName("load"), byName("train_sft_step"), byName("save")];
      expect(load!.isError).toBe(true);
      expect(load!.result).toMatch(/made from local\/tiny-other, but this run trains local\/tiny-arith only/);
      const guardOf = (name: string) => readTranscript(path.join(runDir, "transcript.jsonl")).events.find((e) => e.type === "guard" && e.name === name) as any;
      expect(train === undefined || train.isError).toBe(true);
      expect(guardOf("train_sft_step").decision.action).toBe("reject");
      expect(save === undefined || save.isError).toBe(true);
      expect(fs.existsSync(path.join(runDir, "checkpoints", "stolen"))).toBe(false);
    }
  });

  it("resume restores through the guard and the server's check: a foreign checkpoint in the run's own folder is refused", async () => {
    const runDir = path.join(dir, "run-resume");
    const script = plannerScript(dir, [[{ name: "init_sft", input: { base_model: MODEL } }], [{ name: "save", input: { name: "mine" } }]]);
    const r = await runCli(
      ["run", "--planner", `replay:${script}`, "--model", MODEL, "--prompt", "p", "--mcp-config", mcp, "--run-dir", runDir, "--max-turns", "2"],
      { env: { TINKERLOOP_MODELS_DIR: models } },
    );
    expect(r.code, r.stderr).toBe(1);
    // Swap the saved checkpoint for another model's.
    fs.rmSync(path.join(runDir, "checkpoints", "mine"), { recursive: true });
    fs.cpSync(foreign, path.join(runDir, "checkpoints", "mine"), { recursive: true });
    const again = await runCli(["resume", runDir, "--planner", `replay:${plannerScript(dir, [[{ name: "finish", input: {} }]])}`, "--mcp-config", mcp], {
      env: { TINKERLOOP_MODELS_DIR: models },
    });
    expect(again.stdout).toMatch(/restore: FAILED/);
    const events = readTranscript(path.join(runDir, "transcript.jsonl")).events as any[];
    expect(events.some((e) => e.type === "guard" && e.toolUseId === "harness-restore")).toBe(true);
    const restore = events.find((e) => e.type === "tool" && e.toolUseId === "harness-restore");
    expect(restore.isError).toBe(true);
    expect(restore.result).toMatch(/made from local\/tiny-other/);
  });
});

describe("4. paths: one rule for every tool", () => {
  it("tinker tools read only regular files of the run directory; nothing of a refused file appears in an error", async () => {
    const runDir = tempDir("tl-tb4-");
    const outside = tempDir("tl-tb4-out-");
    fs.writeFileSync(path.join(outside, "x.py"), "def compute_reward(c, g):\n    return 1.0  # OUTSIDE-SECRET\n");
    fs.writeFileSync(path.join(outside, "p.jsonl"), '{"prompt": "OUTSIDE-SECRET", "ground_truth": "1"}\n');
    fs.mkdirSync(path.join(runDir, "data"));
    fs.symlinkSync(path.join(outside, "p.jsonl"), path.join(runDir, "data", "link.jsonl"));
    fs.symlinkSync(path.join(outside, "x.py"), path.join(runDir, "link.py"));
    execFileSync("mkfifo", [path.join(runDir, "fifo.py")]);
    const s = await connectBundled("tinker", { TINKERLOOP_RUN_DIR: runDir });
    try {
      const cases = [{ completion: "1", ground_truth: "1" }];
      for (const reward of [path.join(outside, "x.py"), `../${path.relative(runDir, path.join(outside, "x.py"))}`, "link.py", "fifo.py", "/etc/passwd.py"]) {
        const r = await s.call("check_reward", { reward_function: reward, cases });
        expect(r.isError, reward).toBe(true);
        expect(r.text).not.toContain("OUTSIDE-SECRET");
      }
      const sess = path.join(runDir, "sess");
      void sess;
      expect((await s.call("init_grpo", { base_model: MODEL })).isError).toBe(false);
      for (const prompts of [path.join(outside, "p.jsonl"), "data/link.jsonl", "/etc/passwd", "/etc/passwd.jsonl", "/dev/zero.jsonl"]) {
        const r = await s.call("sample", { prompts, n: 1 });
        expect(r.isError, prompts).toBe(true);
        expect(r.text).not.toContain("OUTSIDE-SECRET");
        expect(r.text).not.toMatch(/root:/);
      }
    } finally {
      await s.close();
    }
  });

  it("export_dataset never writes through a symbolic link, a sidecar's included, nor over harness files", async () => {
    const runDir = tempDir("tl-tb4b-");
    const outside = tempDir("tl-tb4b-out-");
    const victim = path.join(outside, "victim.txt");
    fs.writeFileSync(victim, "original");
    fs.mkdirSync(path.join(runDir, "data"));
    fs.symlinkSync(victim, path.join(runDir, "data", "x.jsonl.meta.json"));
    fs.symlinkSync(outside, path.join(runDir, "data", "linked-dir"));
    fs.writeFileSync(path.join(runDir, "transcript.jsonl"), "keep\n");
    const s = await connectBundled("hf-datasets", { TINKERLOOP_RUN_DIR: runDir, HF_HUB_OFFLINE: "1" });
    try {
      for (const output of ["data/x.jsonl", "data/linked-dir/y.jsonl", "transcript.jsonl", "checkpoints/a.jsonl", path.join(outside, "z.jsonl")]) {
        const r = await s.call("generate_synthetic", { task: "arithmetic", n: 5, output, overwrite: true });
        expect(r.isError, output).toBe(true);
      }
      const good = await s.call("generate_synthetic", { task: "arithmetic", n: 5, output: "data/pool.jsonl" });
      expect(good.isError).toBe(false);
      expect(good.structured.path).toBe(path.join(fs.realpathSync(runDir), "data", "pool.jsonl"));
    } finally {
      await s.close();
    }
    expect(fs.readFileSync(victim, "utf8")).toBe("original");
    expect(fs.readdirSync(outside)).toEqual(["victim.txt"]);
    expect(fs.readFileSync(path.join(runDir, "transcript.jsonl"), "utf8")).toBe("keep\n");
  });
});

describe("5. run directories", () => {
  it("a non-empty --run-dir without a transcript, or a file, is refused with exit 2 and left untouched", async () => {
    const dir = tempDir("tl-tb5-");
    fs.writeFileSync(path.join(dir, "summary.json"), "mine");
    fs.writeFileSync(path.join(dir, "metrics.jsonl"), "old\n");
    const r = await runCli(["run", "--model", MODEL, "--prompt", "p", "--run-dir", dir, "--planner", "scripted"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")[0]).toMatch(/is not empty/);
    expect(fs.readFileSync(path.join(dir, "summary.json"), "utf8")).toBe("mine");
    expect(fs.readFileSync(path.join(dir, "metrics.jsonl"), "utf8")).toBe("old\n");
    expect(fs.existsSync(path.join(dir, "progress.txt"))).toBe(false);
    const file = path.join(dir, "summary.json");
    const f = await runCli(["run", "--model", MODEL, "--prompt", "p", "--run-dir", file, "--planner", "scripted"]);
    expect(f.code).toBe(2);
    expect(f.stderr).toMatch(/is a file/);
    expect(f.stderr).not.toMatch(/unexpectedly|at .*\.ts:/);
  });
});

describe("control characters never reach the terminal raw", () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir("tl-tbcc-");
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("replay and a live run print escapes, not raw control characters", async () => {
    const fixture = readJsonl(path.join(REPO, "test", "fixtures", "transcripts", "v1-guarded-run.jsonl"));
    const ai = fixture.findIndex((e) => e.type === "assistant");
    fixture[ai].content.unshift({ type: "text", text: "\u001b]0;pwned\u0007\u001b[2J\rhidden\u202eevil" });
    const file = path.join(dir, "t.jsonl");
    fs.writeFileSync(file, `${fixture.map((e) => JSON.stringify(e)).join("\n")}\n`);
    const view = await runCli(["replay", file, "--full"]);
    expect(view.code).toBe(0);
    expect(view.stdout).toContain("\\u{1b}]0;pwned");
    expect(view.stdout).not.toMatch(/[\u001b\u0007\r\u202e]/);
    const mcp = writeMcpConfig(dir, { lab: testServerEntry() });
    const script = plannerScript(dir, [[{ name: "echo", input: { text: "\u001b[31mred\u001b[0m" } }], [{ name: "finish", input: {} }]]);
    const r = await runCli([
      "run",
      "--planner",
      `replay:${script}`,
      "--model",
      MODEL,
      "--prompt",
      "p",
      "--mcp-config",
      mcp,
      "--run-dir",
      path.join(dir, "run"),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/[\u001b\u0007]/);
  });
});

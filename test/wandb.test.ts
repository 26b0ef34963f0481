import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { schemaRule } from "../agent/guard/schema.ts";
import { ZERO_USAGE } from "../agent/core/conversation.ts";
import { foldEvents } from "../agent/report/model.ts";
import { readTranscript } from "../agent/transcript/transcript.ts";
import type { RecordedEvent } from "../agent/transcript/transcript.ts";
import { DEFAULT_WANDB_PROJECT, WandbFeed } from "../agent/wandb/feed.ts";
import { wandbRequested } from "../agent/wandb/logger.ts";
import { connectBundled, REPO, runCli, tempDir } from "./helpers.ts";

const FIXTURE = path.join(REPO, "test", "fixtures", "transcripts", "v1-guarded-run.jsonl");

/** The fixture with the planner's init_grpo carrying the predecessor's W&B arguments. */
function fixtureWithWandbArgs(): RecordedEvent[] {
  return readTranscript(FIXTURE).events.map((e) =>
    e.type === "tool" && e.name === "init_grpo"
      ? ({ ...e, input: { ...(e.input as object), wandb_project: "planner-project", wandb_run_name: "planner-run" } } as RecordedEvent)
      : e,
  );
}

describe("W&B: what is logged", () => {
  it("the run's config once, one row per iteration at its step, the summary and finish; the user's project wins over the planner's", () => {
    const model = foldEvents(fixtureWithWandbArgs());
    const feed = new WandbFeed({ project: "user-project" });
    const msgs = [...feed.next(model), ...feed.close(model, { bestCheckpoint: "fake://best" })];
    expect(msgs.map((m) => m.op)).toEqual(["init", "log", "log", "summary", "finish"]);
    expect(msgs[0]).toMatchObject({
      op: "init",
      project: "user-project",
      name: "planner-run",
      job_type: "grpo",
      config: { run_id: "20261126-002902-5a2f", base_model: "local/tiny-arith", method: "grpo" },
    });
    expect(msgs[1]).toEqual({
      op: "log",
      step: 1,
      data: {
        iteration: 1,
        reward_mean: 0.2,
        reward_std: 0.3,
        learning_rate: 0.0001,
        kl_sample_train_v1: 0.001,
        groups_mixed: 3,
        uniform_all_zeros: 7,
        uniform_all_ones: 0,
        no_signal_rate: 0.7,
        truncation_rate: 0,
      },
    });
    expect(msgs[2]).toMatchObject({ op: "log", step: 2, data: { iteration: 2, reward_mean: 0.4 } });
    expect(msgs[3]).toMatchObject({ op: "summary", data: { outcome: "finished", turns: 7, guard_interventions: 1, checkpoint: "fake://best" } });
    expect(msgs[4]).toEqual({ op: "finish", exit_code: 0 });
    // Nothing is sent twice as the run goes on.
    expect(feed.next(model)).toEqual([]);
  });

  it("without a project from the user, the planner's wandb_project and wandb_run_name name the W&B run; without either, defaults", () => {
    expect(new WandbFeed({}).next(foldEvents(fixtureWithWandbArgs()))[0]).toMatchObject({ op: "init", project: "planner-project", name: "planner-run" });
    expect(new WandbFeed({}).next(foldEvents(readTranscript(FIXTURE).events))[0]).toMatchObject({
      op: "init",
      project: DEFAULT_WANDB_PROJECT,
      name: "20261126-002902-5a2f",
    });
  });

  it("is on only when the user asks: --wandb <project>, or WANDB_PROJECT with WANDB_API_KEY", () => {
    expect(wandbRequested(undefined, {})).toBeUndefined();
    expect(wandbRequested(undefined, { WANDB_PROJECT: "p" })).toBeUndefined();
    expect(wandbRequested(undefined, { WANDB_API_KEY: "k" })).toBeUndefined();
    expect(wandbRequested(undefined, { WANDB_PROJECT: "p", WANDB_API_KEY: "k" })).toEqual({ project: "p" });
    expect(wandbRequested("flag-project", { WANDB_PROJECT: "p", WANDB_API_KEY: "k", WANDB_NAME: "n" })).toEqual({ project: "flag-project", name: "n" });
    expect(() => wandbRequested("a/b", {})).toThrow(/--wandb "a\/b": a W&B project name cannot contain/);
  });
});

describe("W&B: init_sft and init_grpo take the predecessor's arguments", () => {
  it("the tinker server declares wandb_project and wandb_run_name (the planner sees them), and the guard's schema rule lets them through", async () => {
    const s = await connectBundled("tinker");
    try {
      const { tools } = await s.client.listTools();
      const specs = tools
        .filter((t) => t.name === "init_grpo" || t.name === "init_sft")
        .map((t) => ({ name: t.name, description: t.description ?? "", inputSchema: t.inputSchema as Record<string, unknown>, source: "tinker" }));
      expect(specs).toHaveLength(2);
      for (const spec of specs)
        expect(Object.keys((spec.inputSchema as { properties: object }).properties), spec.name).toEqual(
          expect.arrayContaining(["wandb_project", "wandb_run_name"]),
        );
      const rule = schemaRule();
      const ctx = { tools: specs, model: "local/tiny-arith", turn: 1, elapsedMs: 0, usage: ZERO_USAGE };
      for (const name of ["init_grpo", "init_sft"]) {
        const decision = await rule.check({ id: "1", name, input: { base_model: "local/tiny-arith", wandb_project: "proj", wandb_run_name: "run-1" } }, ctx);
        expect(decision, name).toEqual({ action: "allow" });
      }
      const r = await s.call("init_grpo", { base_model: "local/tiny-arith", group_size: 4, wandb_project: "proj", wandb_run_name: "run-1" });
      expect(r.isError).toBe(false);
    } finally {
      await s.close();
    }
  }, 180_000);
});

describe("W&B: a failure never stops a run", () => {
  const shortRun = (env: Record<string, string>) => {
    const dir = tempDir("tl-wandb-");
    return runCli(["run", "--recipe", "arithmetic", "--planner", "scripted", "--max-turns", "3", "--run-dir", path.join(dir, "run"), "--wandb", "my-project"], {
      env: { HF_HUB_OFFLINE: "1", ...env },
      timeoutMs: 120_000,
    });
  };

  it("a worker that cannot start is one line on the terminal; the run goes on to its end and its report", async () => {
    const res = await shortRun({ TINKERLOOP_PYTHON: "/nonexistent/python3" });
    expect(res.stderr).toBe("");
    expect(res.code).toBe(1); // stopped by --max-turns, as it would have without W&B
    const lines = res.stdout.split("\n");
    expect(lines.filter((l) => l.startsWith("W&B:"))).toEqual([
      "W&B: could not start /nonexistent/python3 (spawn /nonexistent/python3 ENOENT); the run goes on without W&B.",
    ]);
    expect(res.stdout).toMatch(/stopped: turn limit reached/);
    expect(lines.filter(Boolean).at(-1)).toMatch(/^report: .*report\.html$/);
  }, 180_000);

  const wandbImportable = spawnSync(process.env.TINKERLOOP_PYTHON ?? "python3", ["-c", "import wandb"]).status === 0;
  it.skipIf(wandbImportable)(
    "a python3 without the wandb package: the worker says so, and the run goes on",
    async () => {
      const res = await shortRun({});
      expect(res.code).toBe(1);
      expect(res.stdout.split("\n").filter((l) => l.startsWith("W&B:"))).toEqual([
        expect.stringMatching(/^W&B: the Python package wandb cannot be imported \(ModuleNotFoundError: .*\); the run goes on without W&B\.$/),
      ]);
      expect(res.stdout).toMatch(/report: .*report\.html\n$/);
    },
    180_000,
  );
});

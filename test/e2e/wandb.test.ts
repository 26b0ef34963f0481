import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { schemaRule } from "../../agent/guard/schema.ts";
import { ZERO_USAGE } from "../../agent/core/conversation.ts";
import { connectBundled, runCli, tempDir } from "../helpers.ts";

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

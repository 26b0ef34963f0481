import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { REPO, runCli, tempDir } from "../helpers.ts";

const MODEL = "local/tiny-arith";

describe("the offline research run, shortened, through the real CLI", () => {
  it("validates the reward before training, inits with MODEL, trains, samples the holdout, saves before finish, finishes", async () => {
    const dir = tempDir("tl-scripted-");
    const recipe = fs.readFileSync(path.join(REPO, "prompts", "recipes", "arithmetic.md"), "utf8");
    const short = recipe
      .replace("max_steps: 120", "max_steps: 4")
      .replace("sample_every: 10", "sample_every: 2")
      .replace("pool_size: 2000", "pool_size: 200")
      .replace("holdout_size: 200", "holdout_size: 50");
    fs.writeFileSync(path.join(dir, "short.md"), short);
    const runDir = path.join(dir, "run");
    const res = await runCli(["run", "--prompt-file", path.join(dir, "short.md"), "--run-dir", runDir], { env: { HF_HUB_OFFLINE: "1" }, timeoutMs: 240_000 });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toMatch(/planner: scripted \(no --planner given and no ANTHROPIC_API_KEY/);
    expect(res.stdout).toMatch(/holdout score: baseline [\d.]+% → final [\d.]+%/);
    const { events } = readTranscript(path.join(runDir, "transcript.jsonl"));
    const tools = events.filter((e) => e.type === "tool") as Array<{ name: string; input: any; isError: boolean; structured?: any }>;
    const idx = (name: string) => tools.findIndex((t) => t.name === name);
    const lastIdx = (name: string) => tools.map((t) => t.name).lastIndexOf(name);
    expect(idx("check_reward")).toBeGreaterThan(-1);
    expect(tools[idx("check_reward")]!.structured.ok).toBe(true);
    expect(idx("check_reward")).toBeLessThan(idx("train_grpo_step"));
    expect(tools[idx("init_grpo")]!.input.base_model).toBe(MODEL);
    expect(tools.filter((t) => t.name === "train_grpo_step" && !t.isError).length).toBeGreaterThanOrEqual(4);
    const holdoutAfterTraining = tools.findIndex((t, i) => i > idx("train_grpo_step") && t.name === "sample" && t.input.prompts);
    expect(holdoutAfterTraining).toBeGreaterThan(-1);
    const lastSaveOrLoad = Math.max(lastIdx("save"), lastIdx("load"));
    expect(lastSaveOrLoad).toBeGreaterThan(lastIdx("train_grpo_step"));
    expect(lastSaveOrLoad).toBeLessThan(lastIdx("finish"));
    expect(tools[lastIdx("finish")]!.isError).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: "end", reason: "finished" });
    expect(fs.readFileSync(path.join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").length).toBeGreaterThanOrEqual(4);
  }, 300_000);
});

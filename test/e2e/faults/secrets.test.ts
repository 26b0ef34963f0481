import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readTranscript } from "../../../agent/transcript/transcript.ts";
import { REPO, runCli, tempDir } from "../../helpers.ts";

const PLANTED = {
  OPENAI_API_KEY: "sk-planted-openai-7f3a9c2e1d",
  HF_TOKEN: "hf_plantedTokenQ8w7e6r5t4",
  TINKER_API_KEY: "tml-planted-tinker-5b4c3d2e1f",
  WANDB_API_KEY: "planted-wandb-9a8b7c6d5e4f",
};

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

describe("security review of a whole run", () => {
  it("no planted secret reaches any file of the run directory or the tinker log directories", async () => {
    const dir = tempDir("tl-secrets-");
    const recipe = fs.readFileSync(path.join(REPO, "prompts", "recipes", "arithmetic.md"), "utf8");
    fs.writeFileSync(
      path.join(dir, "short.md"),
      recipe
        .replace("max_steps: 120", "max_steps: 3")
        .replace("sample_every: 10", "sample_every: 2")
        .replace("pool_size: 2000", "pool_size: 100")
        .replace("holdout_size: 200", "holdout_size: 20"),
    );
    const runDir = path.join(dir, "run");
    const res = await runCli(["run", "--planner", "scripted", "--prompt-file", path.join(dir, "short.md"), "--run-dir", runDir], {
      env: { ...PLANTED, HF_HUB_OFFLINE: "1" },
      timeoutMs: 240_000,
    });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const sessionDirs = new Set<string>();
    for (const e of readTranscript(path.join(runDir, "transcript.jsonl")).events as any[]) {
      const s = e.structured as { session_dir?: string; new_session_dir?: string } | undefined;
      if (s?.session_dir) sessionDirs.add(s.session_dir);
      if (s?.new_session_dir) sessionDirs.add(s.new_session_dir);
    }
    expect(sessionDirs.size).toBeGreaterThan(0);
    const files = [...filesUnder(runDir), ...[...sessionDirs].flatMap(filesUnder)];
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const text = fs.readFileSync(f).toString("latin1");
      for (const [name, value] of Object.entries(PLANTED)) expect(text.includes(value), `${name} found in ${f}`).toBe(false);
    }
    for (const value of Object.values(PLANTED)) expect(res.stdout + res.stderr).not.toContain(value);
  }, 300_000);
});

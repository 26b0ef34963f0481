import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readTranscript } from "../../../agent/transcript/transcript.ts";
import { CLI, REPO, shortRecipe, tempDir } from "../../helpers.ts";

function startRun(args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, HF_HUB_OFFLINE: "1" };
  delete env.ANTHROPIC_API_KEY;
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  return { child, exited, output: () => out };
}

/** Waits until the transcript satisfies `ready` (polling), or fails after `ms`. */
async function waitFor(file: string, ready: (events: any[]) => boolean, ms = 120_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (fs.existsSync(file) && ready(readTranscript(file).events as any[])) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`transcript never reached the expected state: ${file}`);
}

const tools = (events: any[]) => events.filter((e) => e.type === "tool");
const trainedAfterSave = (events: any[]) => {
  const t = tools(events);
  const lastSave = t.map((e) => e.name).lastIndexOf("save");
  return lastSave >= 0 && t.slice(lastSave + 1).some((e) => e.name === "train_grpo_step" && !e.isError);
};

/** Starts a scripted run of `steps` training steps; returns once it has trained after a save. */
async function startRunPastASave(prefix: string, steps: number) {
  const dir = tempDir(prefix);
  const runDir = path.join(dir, "run");
  const file = path.join(runDir, "transcript.jsonl");
  const run = startRun(["run", "--prompt-file", shortRecipe(dir, steps), "--planner", "scripted", "--run-dir", runDir]);
  await waitFor(file, trainedAfterSave);
  return { run, runDir, file };
}

/** SIGKILL and resume at each kill point: power-cut-resume.test.ts. */
describe("fault injection: the harness process itself", () => {
  it("SIGINT: no new planner turn, the harness saves unsaved training and finishes the session, exit 130", async () => {
    const { run, runDir, file } = await startRunPastASave("tl-sigint-", 200);
    run.child.kill("SIGINT");
    const code = await run.exited;
    expect(code, run.output()).toBe(130);
    const events = readTranscript(file).events as any[];
    expect(events.at(-1)).toMatchObject({ type: "end", reason: "aborted" });
    const save = events.find((e) => e.type === "tool" && e.toolUseId === "harness-emergency-save");
    expect(save, run.output()).toMatchObject({ name: "save", isError: false });
    expect(events.find((e) => e.type === "tool" && e.toolUseId === "harness-finish")).toMatchObject({ isError: false });
    expect(fs.existsSync(path.join(runDir, "summary.json"))).toBe(true);
    expect(fs.readFileSync(path.join(runDir, "progress.txt"), "utf8")).toMatch(/last: end aborted/);
    expect(run.output()).toContain(`report: ${path.join(runDir, "report.html")}`);
    expect(fs.existsSync(path.join(runDir, "report.html"))).toBe(true);
  }, 300_000);
});

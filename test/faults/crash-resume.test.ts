import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readTranscript } from "../../agent/transcript.ts";
import { CLI, REPO, runCli, shortRecipe, tempDir } from "../helpers.ts";

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

describe("fault injection: the harness process itself", () => {
  it("SIGKILL mid-run, then `tinkerloop resume` continues from the last save and finishes; a torn last line does not stop it", async () => {
    const { run, runDir, file } = await startRunPastASave("tl-crash-", 8);
    run.child.kill("SIGKILL");
    await run.exited;
    const before = readTranscript(file).events;
    expect(before.at(-1)!.type).not.toBe("end");
    // A crash in the middle of a write leaves half a line.
    fs.appendFileSync(file, '{"seq":99999,"t":"2026-11-26T00:00:00Z","type":"tool","turn":7,"na');
    const res = await runCli(["resume", runDir], { env: { HF_HUB_OFFLINE: "1" }, timeoutMs: 240_000 });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toMatch(/restore: loaded .*checkpoints/);
    const after = readTranscript(file);
    expect(after.tornTail).toBeUndefined();
    expect(after.damage).toBeUndefined();
    const events = after.events as any[];
    // Nothing recorded before the crash was lost.
    expect(events.slice(0, before.length).map((e) => e.seq)).toEqual(before.map((e) => e.seq));
    const note = events.find((e) => e.type === "note" && /^restore from/.test(e.text));
    expect(note.text).toMatch(/: ok/);
    // The planner is told once what happened: in an amended last message, or in the answer to an orphaned call.
    const resumed = events.filter((e, i) => i >= before.length && e.type === "user" && JSON.stringify(e).includes("was resumed"));
    expect(resumed).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: "end", reason: "finished" });
    // The resumed planner carried on (no second data build or init), then finished.
    const names = tools(events).map((e) => e.name);
    expect(names.filter((n) => n === "init_grpo")).toHaveLength(1);
    expect(names.at(-1)).toBe("finish");
    // A run resumed to its end ends with its report, written over the whole run.
    expect(res.stdout.trimEnd().split("\n").at(-1)).toBe(`report: ${path.join(runDir, "report.html")}`);
    expect(fs.readFileSync(path.join(runDir, "report.html"), "utf8")).toContain(`"seq":${events.at(-1).seq},`);
  }, 300_000);

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

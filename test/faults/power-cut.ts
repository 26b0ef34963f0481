import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { readRestore } from "../../agent/state/restore-note.ts";
import { CLI, REPO, writeMcpConfig } from "../helpers.ts";

/**
 * Power cuts for crash-resume tests and the crash bench: a run in its own process
 * group (the harness and every server and sandbox it started), frozen with SIGSTOP the
 * moment its transcript reaches a chosen state, checked again while frozen (nothing can
 * change), then killed with SIGKILL, group and all. So a kill point is exact, not a race.
 */

export type Ev = Record<string, any>;

/** Reads a growing transcript incrementally: complete lines only. */
export class TranscriptTail {
  private offset = 0;
  private rest = "";
  readonly events: Ev[] = [];

  constructor(readonly file: string) {}

  read(): Ev[] {
    if (!fs.existsSync(this.file)) return this.events;
    const fd = fs.openSync(this.file, "r");
    try {
      const size = fs.fstatSync(fd).size;
      if (size > this.offset) {
        const buf = Buffer.alloc(size - this.offset);
        fs.readSync(fd, buf, 0, buf.length, this.offset);
        this.offset = size;
        const text = this.rest + buf.toString("utf8");
        const lines = text.split("\n");
        this.rest = lines.pop() ?? "";
        for (const l of lines) if (l.trim()) this.events.push(JSON.parse(l));
      }
    } finally {
      fs.closeSync(fd);
    }
    return this.events;
  }
}

/**
 * The bundled servers, with the tinker server's quick calls (save, load, finish, sample)
 * slowed down (test/fakes/slow-tools.ts) so a kill point between their start and their
 * answer can be caught on any machine.
 */
export function slowMcpConfig(dir: string): string {
  return writeMcpConfig(dir, {
    tinker: {
      command: process.execPath,
      args: ["--import", "tsx", "--import", path.join(REPO, "test", "fakes", "slow-tools.ts"), path.join(REPO, "tools", "tinker", "server.ts")],
      env: { TL_SLOW_TOOLS: "save,load,finish,sample", TL_SLOW_MS: "400" },
      cwd: REPO,
    },
    "hf-datasets": { command: process.execPath, args: [path.join(REPO, "bin", "hf-datasets-mcp.js")], env: { HF_HUB_OFFLINE: "1" }, cwd: REPO },
  });
}

export type GroupRun = { pgid: number; exited: Promise<number | null>; output: () => string };

/** `tinkerloop <args>` as the leader of a new process group. */
export function startInGroup(args: string[], env: Record<string, string | undefined> = {}): GroupRun {
  const e: NodeJS.ProcessEnv = { ...process.env, HF_HUB_OFFLINE: "1", ...env };
  for (const k of Object.keys(e)) if (/API_KEY|TOKEN|BASE_URL|^TINKERLOOP_/.test(k) && !(k in env)) delete e[k];
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env: e, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  return { pgid: child.pid!, exited, output: () => out };
}

const groupAlive = (pgid: number) => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Kills the whole group with SIGKILL at the first moment `at(events)` holds, and
 * returns the events recorded by then. Fails if the run ends (or `ms` pass) first.
 */
export async function powerCutWhen(run: GroupRun, file: string, at: (events: Ev[]) => boolean, ms = 240_000): Promise<Ev[]> {
  const tail = new TranscriptTail(file);
  let ended = false;
  void run.exited.then(() => (ended = true));
  const until = Date.now() + ms;
  while (Date.now() < until && !ended) {
    if (at(tail.read())) {
      process.kill(-run.pgid, "SIGSTOP");
      if (at(tail.read())) {
        process.kill(-run.pgid, "SIGKILL");
        await run.exited;
        // Nothing of the group may outlive the cut (servers, sandboxed reward workers).
        for (let i = 0; i < 100 && groupAlive(run.pgid); i++) await new Promise((r) => setTimeout(r, 50));
        if (groupAlive(run.pgid)) throw new Error(`processes of group ${run.pgid} survived SIGKILL`);
        return [...tail.events];
      }
      process.kill(-run.pgid, "SIGCONT");
    }
    await new Promise((r) => setTimeout(r, 15));
  }
  process.kill(-run.pgid, "SIGKILL");
  throw new Error(`the run ${ended ? "ended" : "timed out"} before the kill point\n${run.output().slice(-3000)}`);
}

const last = (events: Ev[]) => events[events.length - 1];
const inFlight = (e: Ev | undefined, tool: string) =>
  e?.type === "guard" && e.name === tool && (e.decision.action === "allow" || e.decision.action === "rewrite");
const tools = (events: Ev[]) => events.filter((e) => e.type === "tool" && !e.isError);
const isResumePointSave = (e: Ev) =>
  e.type === "tool" && e.name === "save" && !e.isError && typeof e.structured?.name === "string" && e.structured.name.startsWith("resume-");

/**
 * `tool`'s newest allowed call has no result yet, and every call begun after it (the harness's exam
 * sitting before a finish) has one: that call alone is running.
 */
function aloneInFlight(events: Ev[], tool: string): boolean {
  let i = events.length - 1;
  while (i >= 0 && !(events[i]!.type === "guard" && events[i]!.name === tool)) i--;
  if (i < 0 || !inFlight(events[i], tool)) return false;
  const after = events.slice(i + 1);
  const done = new Set(after.filter((e) => e.type === "tool").map((e) => e.toolUseId));
  if (done.has(events[i]!.toolUseId)) return false;
  return after.filter((e) => e.type === "guard" && (e.decision.action === "allow" || e.decision.action === "rewrite")).every((g) => done.has(g.toolUseId));
}

/** Training calls recorded after the newest checkpoint (save, load, auto) in `events`. */
export function trainingSinceCheckpoint(events: Ev[]): number {
  let n = 0;
  for (const e of tools(events)) {
    if (e.name === "train_grpo_step" || e.name === "train_sft_step") n = e.structured?.auto_checkpoints?.length ? 0 : n + 1;
    if ((e.name === "save" || e.name === "load") && typeof e.structured?.path === "string") n = 0;
  }
  return n;
}

/** The kill points the issue names, as states of the transcript, for resume points every `k` training calls. */
export function killPoints(k: number): Record<string, (events: Ev[]) => boolean> {
  return {
    /** The baseline sample in flight: a session is open, nothing saved yet. */
    "before the first save": (ev) => inFlight(last(ev), "sample") && tools(ev).some((e) => e.name === "init_grpo") && !tools(ev).some((e) => e.name === "save"),
    /** A training call in flight after a resume point, with as much training since the last checkpoint as there can be. */
    "mid-training": (ev) => inFlight(last(ev), "train_grpo_step") && ev.some(isResumePointSave) && trainingSinceCheckpoint(ev) >= k - 1,
    /** A holdout sample in flight after training. */
    "mid-sample": (ev) => inFlight(last(ev), "sample") && tools(ev).filter((e) => e.name === "train_grpo_step").length >= 5,
    /** The harness saving a resume point that replaces an earlier one: the most a crash can lose. */
    "mid-save": (ev) => last(ev)?.type === "guard" && last(ev)?.toolUseId === "harness-resume-point" && ev.some(isResumePointSave),
    /** finish in flight, alone (on a graded run the harness has sat the final exam just before it). */
    "just before finish": (ev) => aloneInFlight(ev, "finish"),
  };
}

/** What a resumed run's transcript says about its restore. */
export function restoreOf(events: Ev[], from: number) {
  const restore = events.slice(from).find((e) => e.type === "tool" && e.toolUseId === "harness-restore");
  const note = events.slice(from).find((e) => e.type === "user" && JSON.stringify(e.message).includes("was resumed"));
  const text = note
    ? note.message.content
        .filter((b: Ev) => b.type === "text")
        .map((b: Ev) => b.text)
        .join(" ")
    : "";
  return { restore, facts: readRestore(text), text };
}

/** The step a checkpoint name claims (…-step12-…, resume-iter12-…), if any. */
export function claimedStep(name: string): number | undefined {
  const m = /-step(\d+)-|^resume-iter(\d+)-/.exec(name);
  return m ? Number(m[1] ?? m[2]) : undefined;
}

/** Every checkpoint the run saved whose name claims a step its weights (the server's counters at the save) had not reached, or passed. */
export function untruthfulNames(events: Ev[]): string[] {
  return tools(events)
    .filter((e) => e.name === "save")
    .filter((e) => {
      const step = claimedStep(e.structured?.name ?? "");
      return step !== undefined && step !== e.structured?.counters?.grpo_iterations;
    })
    .map((e) => `${e.structured.name} (weights at GRPO iteration ${e.structured?.counters?.grpo_iterations})`);
}

export const summaryOf = (runDir: string) => JSON.parse(fs.readFileSync(path.join(runDir, "summary.json"), "utf8"));

import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { harnessCall, runCall, SYSTEM_CLOCK } from "../../agent/core/call.ts";
import type { CallOutcome } from "../../agent/core/call.ts";
import { ZERO_USAGE } from "../../agent/core/conversation.ts";
import { EventBus, rebuildState } from "../../agent/core/events.ts";
import type { RunEvent } from "../../agent/core/events.ts";
import type { GuardConfig } from "../../agent/guard/index.ts";
import { lastCheckpoint } from "../../agent/resume/resume-and-fork.ts";
import { RunState } from "../../agent/session/run-state.ts";
import { ToolHub } from "../../agent/tool-hub/hub.ts";
import type { RecordedEvent } from "../../agent/transcript/transcript.ts";
import { runLayout } from "../../lib/run-layout.ts";
import { REPO, tempDir } from "../helpers.ts";

/**
 * The contamination and provenance rules in the real call path: `buildGuard` (through the
 * run state every run builds), `runCall`/`harnessCall`, and the real tinker MCP server on
 * the local engine behind a real tool hub. Each "run" is a run directory with its own server.
 */

const MODEL = "local/tiny-arith";
const hubs: ToolHub[] = [];
afterAll(async () => {
  for (const h of hubs) await h.close();
});

/** Exam items of my own (not the generator's), long enough for every rule. */
const EXAM = Array.from({ length: 30 }, (_, i) => ({
  prompt: `A lighthouse keeper named Orsolya${i} polishes ${i + 4} brass lamps every evening and spends ${i + 11} minutes on each lamp before the ships arrive. How many minutes does the polishing take?`,
  ground_truth: String((i + 4) * (i + 11)),
}));
const CLEAN = Array.from({ length: 6 }, (_, i) => ({ prompt: `${i} + ${i + 1} =`, response: String(2 * i + 1) }));

async function openRun(runDir: string, extra: Partial<GuardConfig> = {}) {
  fs.mkdirSync(runLayout(runDir).data, { recursive: true });
  fs.mkdirSync(runLayout(runDir).checkpoints, { recursive: true });
  const hub = await ToolHub.start({
    servers: [
      { kind: "stdio", name: "tinker", command: process.execPath, args: [path.join(REPO, "bin", "tinker-mcp.js")], env: {}, cwd: runDir, timeouts: {} },
    ],
    env: { ...process.env, TINKERLOOP_RUN_DIR: runDir, TINKERLOOP_MODEL: MODEL },
  });
  hubs.push(hub);
  const state = await RunState.build({ model: MODEL, guard: { onWrongModel: "reject", dataDir: runLayout(runDir).data, budget: {}, ...extra } });
  const events: RunEvent[] = [];
  const bus = new EventBus([{ on: (e) => events.push(e) }, ...state.listeners]);
  let n = 0;
  const call = (name: string, input: Record<string, unknown>): Promise<CallOutcome> =>
    runCall({ id: `t${++n}`, name, input }, n, {
      tools: hub,
      events: bus,
      guard: state.guard,
      clock: SYSTEM_CLOCK,
      signal: new AbortController().signal,
      model: MODEL,
      elapsedMs: 0,
      usage: ZERO_USAGE,
    });
  const harness = (name: string, input: Record<string, unknown>) => harnessCall(state.harness(hub, bus), ++n, { id: `h${n}`, name, input });
  return { hub, state, events, bus, call, harness };
}

/** The guard event of the last call, and whether the tool ran. */
function lastGuard(events: RunEvent[]) {
  const g = [...events].reverse().find((e) => e.type === "guard");
  return g as Extract<RunEvent, { type: "guard" }>;
}

function expectRefusedBy(o: CallOutcome, events: RunEvent[], rule: string): string {
  expect(o.ran, o.block.content).toBe(false);
  expect(o.block.isError).toBe(true);
  expect(lastGuard(events).rule).toBe(rule);
  return o.block.content;
}

describe("graded runs: contamination and provenance through the real call path", () => {
  const dirA = tempDir("tl-graded-a-");
  const dirB = tempDir("tl-graded-b-");

  it("run A trains and saves a checkpoint of its own", async () => {
    const a = await openRun(dirA);
    expect((await a.call("init_sft", { base_model: MODEL })).result?.isError).toBe(false);
    expect((await a.call("train_sft_step", { examples: CLEAN, num_epochs: 1 })).result?.isError).toBe(false);
    expect((await a.call("save", { name: "a1" })).result?.isError).toBe(false);
    expect(fs.existsSync(path.join(runLayout(dirA).checkpoints, "a1"))).toBe(true);
  }, 120_000);

  it("run B (graded): exam rows refused before the server sees them, from a file and inline; clean rows train", async () => {
    const b = await openRun(dirB, { exam: { items: EXAM } });
    expect((await b.call("init_sft", { base_model: MODEL })).result?.isError).toBe(false);
    const rows = [...CLEAN, { prompt: EXAM[7]!.prompt.toLowerCase(), response: EXAM[7]!.ground_truth }];
    fs.writeFileSync(path.join(runLayout(dirB).data, "mix.jsonl"), rows.map((r) => JSON.stringify(r)).join("\n"));
    const fromFile = expectRefusedBy(await b.call("train_sft_step", { examples: "data/mix.jsonl" }), b.events, "contamination");
    expect(fromFile).toMatch(/row 7\b/);
    expect(fromFile).not.toContain(EXAM[7]!.ground_truth);
    const inline = expectRefusedBy(
      await b.call("train_sft_step", {
        examples: JSON.stringify([{ prompt: `Story time. ${EXAM[3]!.prompt.split(" ").slice(3, 20).join(" ")}`, response: "1" }]),
      }),
      b.events,
      "contamination",
    );
    expect(inline).toMatch(/row 1\b/);
    // No tool event for a refused call: the server never saw the rows.
    expect(b.events.filter((e) => e.type === "tool" && (e as { name?: string }).name === "train_sft_step")).toHaveLength(0);
    expect((await b.call("train_sft_step", { examples: CLEAN, num_epochs: 1 })).result?.isError).toBe(false);
    // The harness's own training calls pass the same rule.
    const h = await b.harness("train_sft_step", { examples: rows });
    expect(h.isError).toBe(true);
    expect(lastGuard(b.events).rule).toBe("contamination");
  }, 120_000);

  it("run B loads its own checkpoints by name and path, and refuses run A's by name, path, local:// and tinker:// URI", async () => {
    const b = await openRun(dirB);
    expect((await b.call("init_sft", { base_model: MODEL })).result?.isError).toBe(false);
    const foreign = ["a1", "local://a1", path.join(runLayout(dirA).checkpoints, "a1"), "tinker://another-run/weights/a1"];
    for (const p of foreign) {
      const m = expectRefusedBy(await b.call("load", { path: p }), b.events, "provenance");
      expect(m).toMatch(/not a checkpoint this run saved/);
      expect(m).toMatch(/--allow-checkpoint/);
      expect(m).toContain(`init_sft/init_grpo(base_model="${MODEL}")`);
    }
    // Another run's weights planted in this run's checkpoints folder (as a shell could) are still another run's.
    fs.cpSync(path.join(runLayout(dirA).checkpoints, "a1"), path.join(runLayout(dirB).checkpoints, "planted"), { recursive: true });
    expectRefusedBy(await b.call("load", { path: "planted" }), b.events, "provenance");
    expect((await b.call("save", { name: "b1" })).result?.isError).toBe(false);
    for (const p of ["b1", "local://b1", path.join(runLayout(dirB).checkpoints, "b1")]) {
      const o = await b.call("load", { path: p });
      expect(o.ran, o.block.content).toBe(true);
      expect(o.result?.isError, o.block.content).toBe(false);
    }
    // A relative folder is resolved by the server from its own working directory, not the run's: refused.
    expectRefusedBy(await b.call("load", { path: "checkpoints/b1" }), b.events, "provenance");
    const refused = expectRefusedBy(await b.call("load", { path: "a1" }), b.events, "provenance");
    expect(refused).toContain("b1");
    fs.writeFileSync(path.join(dirB, "events.json"), JSON.stringify(b.events));
  }, 120_000);

  it("a checkpoint the user named at start (--allow-checkpoint) loads", async () => {
    const c = await openRun(tempDir("tl-graded-c-"), { allowedCheckpoints: [path.join(runLayout(dirA).checkpoints, "a1")] });
    const o = await c.call("load", { path: path.join(runLayout(dirA).checkpoints, "a1") });
    expect(o.result?.isError, o.block.content).toBe(false);
    expectRefusedBy(await c.call("load", { path: "tinker://another-run/weights/a1" }), c.events, "provenance");
  }, 120_000);

  it("a resumed run restores its own checkpoint, and a fork its parent's: the recorded saves carry the lineage", async () => {
    const recorded = JSON.parse(fs.readFileSync(path.join(dirB, "events.json"), "utf8")) as RecordedEvent[];
    // Resume: the same run directory, a fresh guard fed the recorded events, then the harness's restore.
    const resumed = await openRun(dirB);
    rebuildState(recorded, resumed.state.listeners);
    const own = lastCheckpoint(recorded, dirB);
    expect(own.path).toBe(fs.realpathSync(path.join(runLayout(dirB).checkpoints, "b1")));
    const r = await resumed.harness("load", { path: own.path! });
    expect(r.isError, r.content).toBe(false);
    // Fork: a new run directory; the restore takes the parent's checkpoint (its lineage).
    const fork = await openRun(tempDir("tl-graded-fork-"));
    rebuildState(recorded, fork.state.listeners);
    const f = await fork.harness("load", { path: own.path! });
    expect(f.isError, f.content).toBe(false);
    // Without the recorded events, the same restore is another run's weights.
    const stranger = await openRun(tempDir("tl-graded-d-"));
    const s = await stranger.harness("load", { path: own.path! });
    expect(s.isError).toBe(true);
    expect(lastGuard(stranger.events).rule).toBe("provenance");
  }, 120_000);
});

/**
 * `npm run bench:chaos [-- --seed 32 --seeds 3 --concurrency 2]`: a sweep of short runs
 * (scripted planner and a fake-model LLM planner; `arithmetic` and `format`; a local model
 * and a Tinker model on the fake SDK) under a seeded chaos monkey — SIGKILL of runs, tool
 * servers, reward workers and Tinker workers, planner 529 bursts and cut streams from the
 * Anthropic fake, Hub outages — rerunning `tinkerloop sweep` until every cell ended. Prints
 * the runs, the faults injected by kind, runs lost (must be 0), the most training calls one
 * run crash lost, whether every transcript is intact, and whether the leaderboard equals a
 * clean recomputation from the cells' files. No full-disk fault: it needs a filesystem of
 * its own (a tmpfs mounted as root), which a shared machine should not get from a bench.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { readTranscript } from "../agent/transcript/transcript.ts";
import { CLI_ENTRY, PACKAGE_ROOT } from "../lib/package-paths.ts";
import { runLayout } from "../lib/run-layout.ts";
import { FakeAnthropic } from "../test/fakes/anthropic-server.ts";
import { FakeHfHub } from "../test/fakes/hf-hub-server.ts";
import { trainingSinceCheckpoint } from "../test/faults/power-cut.ts";
import { cellsOfSweep, leaderboardMatches, lostCells, transcriptProblems } from "./chaos/audit.ts";
import { chaosPlannerScript } from "./chaos/fake-planner.ts";
import { HubWithOutages } from "./chaos/hub-outage.ts";
import { candidates, processFaultSchedule } from "./chaos/monkey.ts";

const { values } = parseArgs({
  options: {
    seed: { type: "string", default: "32" },
    seeds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "2" },
    "max-rounds": { type: "string", default: "12" },
  },
});
const seed = Number(values.seed);
const MAX_ROUNDS = Number(values["max-rounds"]);
const HUB_OUTAGE_MS = 5000;
const TINKER_MODEL = "meta-llama/Llama-3.2-1B";
const FAKE_SDK = path.join(PACKAGE_ROOT, "test", "fakes", "tinker-sdk");

const root = fs.mkdtempSync(path.join(os.tmpdir(), "bench-chaos-"));
const sweepDir = path.join(root, "sweep");
const injected = new Map<string, number>();
const count = (k: string) => injected.set(k, (injected.get(k) ?? 0) + 1);
const faultLog = path.join(root, "faults.log");
const note = (line: string) => fs.appendFileSync(faultLog, `${((Date.now() - t0) / 1000).toFixed(1)} s ${line}\n`);
/** Per run directory: the transcript's size right after each kill of its run (where a torn line may be). */
const crashOffsets = new Map<string, number[]>();
let mostLost = 0;
const t0 = Date.now();

const anthropic = await FakeAnthropic.start(chaosPlannerScript(seed, 20_000, injected));
const hubFake = await FakeHfHub.start();
const hub = await HubWithOutages.start(hubFake.url);

// The bundled servers, with the fake Tinker SDK on the tinker server's PYTHONPATH (servers get a minimal environment).
const servers = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, "tinkerloop-servers.json"), "utf8")) as {
  mcpServers: Record<string, { args: string[]; env: Record<string, string> }>;
};
for (const s of Object.values(servers.mcpServers)) s.args = s.args.map((a) => path.resolve(PACKAGE_ROOT, a));
servers.mcpServers.tinker!.env.PYTHONPATH = FAKE_SDK;
// The fake service's latency model (test/fakes/tinker-sdk/tinker/_timing.py), so a Tinker run's worker lives long enough to be killed mid-call.
servers.mcpServers.tinker!.env.TINKER_FAKE_TIMING = JSON.stringify({ cycle_s: 0.3 });
const mcpConfig = path.join(root, "mcp.json");
fs.writeFileSync(mcpConfig, JSON.stringify(servers, null, 2));

const sweepFile = path.join(root, "chaos.json");
fs.writeFileSync(
  sweepFile,
  JSON.stringify({
    name: "chaos",
    planners: ["scripted", { spec: "anthropic:claude-sonnet-5-5", label: "fake-llm" }],
    recipes: ["arithmetic", "format"],
    models: ["local/tiny-arith", TINKER_MODEL],
    seeds: Number(values.seeds),
    concurrency: Number(values.concurrency),
    run: { maxTurns: 15, maxTrainCalls: 4, mcpConfig, toolTimeout: 120 },
  }),
);

const env: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  LANG: process.env.LANG,
  ANTHROPIC_API_KEY: "sk-ant-chaos-000000",
  ANTHROPIC_BASE_URL: anthropic.url,
  TINKER_API_KEY: "tml-chaos-000000",
  HF_ENDPOINT: hub.url,
  HF_DATASETS_SERVER_ENDPOINT: hub.url,
  // Retries quickly, and only in the harness (the SDK's own retries would hide the bursts).
  TINKERLOOP_RETRY_BASE_MS: "50",
  TINKERLOOP_SDK_MAX_RETRIES: "0",
};

const schedule = processFaultSchedule(seed, 100_000);
let next = 0;

async function kill(fault: (typeof schedule)[number]): Promise<void> {
  if (fault.kind === "Hub outage") {
    if (hub.down) return;
    hub.down = true;
    count(fault.kind);
    note(`Hub outage for ${HUB_OUTAGE_MS} ms`);
    setTimeout(() => (hub.down = false), HUB_OUTAGE_MS);
    return;
  }
  // A tool server that dies while its run starts fails the run's setup (exit 3), which the sweep
  // retries once by design (MAX_ATTEMPTS); servers are killed mid-run, runs at any time.
  const list = candidates(CLI_ENTRY, sweepDir)[fault.kind].filter((c) => fault.kind !== "tool server SIGKILL" || fs.existsSync(runLayout(c.runDir).transcript));
  if (!list.length) return;
  const victim = list[fault.rank % list.length]!;
  if (fault.kind !== "run SIGKILL") {
    try {
      process.kill(victim.pid, "SIGKILL");
      count(fault.kind);
      note(`${fault.kind} pid ${victim.pid} of ${path.basename(victim.runDir)}`);
    } catch {
      // gone meanwhile
    }
    return;
  }
  // A power cut of one run: its whole process group (the run and its servers) at once.
  try {
    process.kill(-victim.pid, "SIGKILL");
  } catch {
    return;
  }
  count(fault.kind);
  await new Promise((r) => setTimeout(r, 300));
  note(`${fault.kind} pid ${victim.pid} of ${path.basename(victim.runDir)}`);
  const file = runLayout(victim.runDir).transcript;
  if (!fs.existsSync(file)) return;
  crashOffsets.set(victim.runDir, [...(crashOffsets.get(victim.runDir) ?? []), fs.statSync(file).size]);
  mostLost = Math.max(mostLost, trainingSinceCheckpoint(readTranscript(file).events));
}

let current: ReturnType<typeof spawn> | undefined;
// Stopping the bench stops what it started: the sweep, and the runs (each in its own process group).
for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.once(sig, () => {
    current?.kill("SIGKILL");
    for (const r of candidates(CLI_ENTRY, sweepDir)["run SIGKILL"]) {
      try {
        process.kill(-r.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    process.exit(130);
  });

/** One `tinkerloop sweep` invocation with the monkey at work until it exits. */
async function round(n: number): Promise<number | null> {
  const log = fs.openSync(path.join(root, `sweep-round-${n}.log`), "w");
  const child = spawn(process.execPath, [CLI_ENTRY, "sweep", sweepFile, "--dir", sweepDir], { cwd: root, env, stdio: ["ignore", log, log] });
  fs.closeSync(log);
  current = child;
  let exited = false;
  const done = new Promise<number | null>((r) =>
    child.once("exit", (code) => {
      exited = true;
      r(code);
    }),
  );
  while (!exited) {
    const f = schedule[next++]!;
    await Promise.race([new Promise((r) => setTimeout(r, f.afterMs)), done]);
    if (!exited) await kill(f);
  }
  return done;
}

process.stdout.write(
  `chaos bench: seed ${seed}, ${os.availableParallelism()} cores, load ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}; sweep in ${sweepDir}\n`,
);
let rounds = 0;
let code: number | null = 1;
while (rounds < MAX_ROUNDS) {
  rounds++;
  code = await round(rounds);
  process.stdout.write(`round ${rounds}: sweep exit ${code} after ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  if (code === 0) break;
}

const cells = cellsOfSweep(sweepDir);
const lost = lostCells(sweepDir);
const checked = cells.map((c) => {
  const dir = path.join(sweepDir, c.runDir);
  return transcriptProblems(runLayout(dir).transcript, crashOffsets.get(dir) ?? []);
});
const problems = checked.flatMap((c) => c.problems);
const torn = checked.reduce((a, c) => a + c.tornAtCrash, 0);
const board = leaderboardMatches(sweepDir);
const faults = [...injected].sort(([a], [b]) => a.localeCompare(b));
const total = faults.reduce((a, [, n]) => a + n, 0);
const out = [
  `runs: ${cells.length} (${rounds} sweep invocation(s), ${((Date.now() - t0) / 1000).toFixed(0)} s; load now ${os.loadavg()[0]!.toFixed(1)})`,
  `faults injected: ${total} (${faults.map(([k, n]) => `${k} ${n}`).join(", ")}; Hub requests refused ${hub.refused} of ${hub.refused + hubFake.requests.length})`,
  `runs lost: ${lost.length}${lost.length ? ` (${lost.join(", ")})` : ""}`,
  `most training calls lost by one run crash: ${mostLost}`,
  `transcripts intact: ${problems.length ? `NO\n  ${problems.join("\n  ")}` : `yes (${cells.length} read; ${torn} torn line(s), each at a crash point)`}`,
  `leaderboard equals a clean recomputation from summary.json: ${board.equal ? "yes" : `NO (${board.detail})`}`,
];
process.stdout.write(`${out.join("\n")}\n`);
await anthropic.close();
await hub.close();
await hubFake.close();
if (!lost.length && !problems.length && board.equal) fs.rmSync(root, { recursive: true, force: true });
else process.stdout.write(`kept for inspection: ${root}\n`);
process.exitCode = lost.length || problems.length || !board.equal ? 1 : 0;

/**
 * What a crash costs on a full recipe (`npm run bench:crash [-- --recipe arithmetic --kill-after 20]`):
 * the recipe run uninterrupted, then run again and cut (SIGKILL of the whole process
 * group) while the holdout sample after step N is in flight, then `tinkerloop resume` —
 * with the default resume points, and with them off (--resume-every 0, what a resume
 * restored before them: the last save). Prints, for each: the checkpoint restored, the
 * training calls lost, the final holdout score against the uninterrupted run's, and
 * wall times. Offline recipes only (local models, scripted planner, fixed seeds).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { RUN_DEFAULTS } from "../agent/config/run-config.ts";
import { powerCutWhen, restoreOf, startInGroup, summaryOf, trainingSinceCheckpoint, untruthfulNames } from "../test/faults/power-cut.ts";
import type { Ev } from "../test/faults/power-cut.ts";
import { runCli } from "../test/helpers.ts";

const { values } = parseArgs({ options: { recipe: { type: "string", default: "arithmetic" }, "kill-after": { type: "string", default: "20" } } });
const recipe = values.recipe!;
const killAfter = Number(values["kill-after"]);
const root = fs.mkdtempSync(path.join(os.tmpdir(), "bench-crash-"));
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const read = (runDir: string): Ev[] =>
  fs
    .readFileSync(path.join(runDir, "transcript.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
const trained = (ev: Ev[]) => ev.filter((e) => e.type === "tool" && !e.isError && e.name.startsWith("train_")).length;

async function uninterrupted(): Promise<{ final: number; seconds: number }> {
  const runDir = path.join(root, "uninterrupted");
  const t = Date.now();
  const res = await runCli(["run", "--recipe", recipe, "--planner", "scripted", "--run-dir", runDir], { env: { HF_HUB_OFFLINE: "1" }, timeoutMs: 3_600_000 });
  if (res.code !== 0) throw new Error(`the uninterrupted run failed:\n${res.stdout}\n${res.stderr}`);
  return { final: summaryOf(runDir).holdout.final, seconds: (Date.now() - t) / 1000 };
}

async function cutAndResume(resumeEvery: number) {
  const runDir = path.join(root, `cut-every-${resumeEvery}`);
  const t = Date.now();
  const run = startInGroup(["run", "--recipe", recipe, "--planner", "scripted", "--run-dir", runDir, "--resume-every", String(resumeEvery)]);
  const inFlightSample = (ev: Ev[]) => {
    const last = ev[ev.length - 1];
    return last?.type === "guard" && last.name === "sample" && last.decision.action === "allow" && trained(ev) >= killAfter;
  };
  const before = await powerCutWhen(run, path.join(runDir, "transcript.jsonl"), inFlightSample, 3_600_000);
  const cutAt = (Date.now() - t) / 1000;
  const r = Date.now();
  const res = await runCli(["resume", runDir], { env: { HF_HUB_OFFLINE: "1" }, timeoutMs: 3_600_000 });
  if (res.code !== 0) throw new Error(`the resumed run failed:\n${res.stdout}\n${res.stderr}`);
  const all = read(runDir);
  const { restore, facts } = restoreOf(all, before.length);
  return {
    restored: restore?.structured?.path ?? "nothing",
    step: facts && facts.checkpoint !== null ? facts.counters.grpo_iterations : 0,
    trainedBefore: trained(before),
    lost: trainingSinceCheckpoint(before),
    final: summaryOf(runDir).holdout.final,
    untruthful: untruthfulNames(all),
    cutAt,
    resumeSeconds: (Date.now() - r) / 1000,
  };
}

process.stdout.write(`crash-resume bench: recipe ${recipe}, cut while the holdout sample after step ${killAfter} is in flight (${os.cpus().length} cores)\n`);
const ref = await uninterrupted();
process.stdout.write(`uninterrupted: final holdout ${pct(ref.final)} in ${ref.seconds.toFixed(0)} s\n`);
for (const every of [RUN_DEFAULTS.resumeEvery, 0]) {
  const c = await cutAndResume(every);
  process.stdout.write(
    `--resume-every ${every}${every === RUN_DEFAULTS.resumeEvery ? " (default)" : " (off)"}: cut at ${c.cutAt.toFixed(0)} s after ${c.trainedBefore} training calls; ` +
      `restored ${c.restored} (step ${c.step}), ${c.lost} training call(s) lost; resumed run ${c.resumeSeconds.toFixed(0)} s; ` +
      `final holdout ${pct(c.final)} (${((c.final - ref.final) * 100).toFixed(1)} points vs uninterrupted)${c.untruthful.length ? `; UNTRUTHFUL NAMES: ${c.untruthful.join(", ")}` : ""}\n`,
  );
}
fs.rmSync(root, { recursive: true, force: true });

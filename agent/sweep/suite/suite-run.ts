/**
 * What `tinkerloop sweep` does for a suite beyond a plain sweep: the record its manifests keep,
 * the `--dry-run` description, the judge's pass over finished cells and its verdicts, the board
 * from the cells, and what a result was made from.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { UserError } from "../../core/errors.ts";
import { judgeRun } from "../../judge/judge.ts";
import type { JudgeSpec } from "../../judge/spec.ts";
import { readVerdict, writeVerdict } from "../../judge/verdict.ts";
import { PACKAGE_VERSION } from "../../../lib/package-version.ts";
import { observeCell } from "../cell-status.ts";
import type { ScoredCell } from "../leaderboard.ts";
import { SWEEP_FILES } from "../manifest.ts";
import type { CellRecord, SuiteRecord } from "../manifest.ts";
import type { Suite } from "./suite-file.ts";
import { JUDGE_POLICIES, scoreSuite } from "./suite-score.ts";
import type { JudgeNote, JudgePolicy, SuiteBoard } from "./suite-score.ts";

/** Results of two suite files (or a suite and a plain sweep) are never merged: their scores mean different things. */
export function differentSuites(a: string, ra: SuiteRecord | undefined, b: string, rb: SuiteRecord | undefined): UserError {
  const what = (r: SuiteRecord | undefined) => (r ? `suite ${r.name} hash ${r.hash}` : "no suite");
  return new UserError(
    `Not merged: ${a} was made from ${what(ra)}, ${b} from ${what(rb)}.`,
    "Collect only the shards of one suite run (same suite file, same recipes); run the other suite again to compare it.",
  );
}

/**
 * The judge reads every cell that ended on its own and has no verdict yet (a rerun keeps the
 * verdicts it has). A verdict goes beside the cells, never into a run directory.
 */
export async function judgeCells(
  spec: JudgeSpec,
  sweepDir: string,
  cells: readonly CellRecord[],
  io: { env: Record<string, string | undefined>; out: (line: string) => void; stop: AbortSignal },
): Promise<void> {
  for (const rec of cells) {
    const file = path.join(sweepDir, SWEEP_FILES.judge, `${rec.id}.json`);
    if (io.stop.aborted) return;
    // A verdict is kept only when this judge gave it and it did not fail (a failed one is asked again).
    if (fs.existsSync(file) && keptVerdict(file, spec.id)) continue;
    const state = observeCell(path.join(sweepDir, rec.runDir), rec).state;
    if (state !== "finished" && state !== "stopped") continue;
    const v = await judgeRun(path.join(sweepDir, rec.runDir), spec, io.env, { signal: io.stop });
    if (io.stop.aborted) return;
    writeVerdict(file, v);
    io.out(`judge ${spec.id} · ${rec.id}: ${v.error ? `failed (${v.error})` : v.flagged ? `flagged: ${v.reasons[0] ?? ""}` : "not flagged"}`);
  }
}

function keptVerdict(file: string, judge: string): boolean {
  try {
    const v = readVerdict(file);
    return v.judge === judge && v.error === undefined;
  } catch {
    return false;
  }
}

/** What a suite adds to the outputs: its board, and what a result was made from. */
export type SuiteOutputs = {
  record: SuiteRecord;
  policy: JudgePolicy;
  prices?: string | undefined;
  verdictDirs?: string[];
  run: Partial<Record<string, string>>;
};

/**
 * What a suite result was made from, for reproducing it: the suite file's hash, tinkerloop's
 * version, the prices (a file's hash, or the built-in table) and the judge policy; each cell's
 * planner, model, seed and exam spec hash are in its summary.
 */
export function madeFrom(s: SuiteOutputs): Record<string, unknown> {
  let prices = "built-in table";
  if (s.prices) {
    try {
      prices = `${s.prices} sha256:${crypto.createHash("sha256").update(fs.readFileSync(s.prices)).digest("hex").slice(0, 16)}`;
    } catch {
      prices = `${s.prices} (unreadable now)`;
    }
  }
  return {
    suite: { name: s.record.name, hash: s.record.hash, file: s.record.file },
    tinkerloop: PACKAGE_VERSION,
    prices,
    judgePolicy: s.policy,
    // The options every cell shared (tools, template, guard, limits beyond the tasks' budgets).
    runOptions: s.run,
  };
}

/** The suite's board from the cells' states and summaries, with any judge verdicts found beside them. */
export function boardOf(record: SuiteRecord, cells: readonly ScoredCell[], dirs: string | string[], policy: JudgePolicy): SuiteBoard {
  const verdictDirs = typeof dirs === "string" ? [dirs] : dirs;
  return scoreSuite(
    record,
    cells.map((c) => {
      const judge = judgeNoteOf(verdictDirs, c.id);
      return {
        id: c.id,
        planner: c.planner,
        task: c.prompt,
        model: c.model,
        seed: c.seed,
        state: c.state,
        ...(c.summary ? { summary: c.summary } : {}),
        ...(judge ? { judge } : {}),
      };
    }),
    policy,
  );
}

/** What the manifest keeps of a suite: enough to score its cells without the file. */
export function suiteRecord(s: Suite): SuiteRecord {
  return { name: s.name, hash: s.hash, file: s.file, tasks: s.tasks };
}

/** `--dry-run` of a suite: what each task measures, its models, seeds, budget, reference and weight. */
export function describeSuite(s: Suite): string[] {
  const lines = [`suite ${s.name} (hash ${s.hash}, ${s.file}): ${s.tasks.length} task(s)`];
  if (s.description) lines.push(`  ${s.description.replace(/\s+/g, " ")}`);
  for (const [i, t] of s.tasks.entries()) {
    const p = s.prompts[i]!;
    const b = t.budget;
    lines.push(
      `  ${t.name} (weight ${t.weight}): ${t.measures ?? ""}`.trimEnd(),
      `    ${p.kind === "recipe" ? `recipe ${p.value}` : `prompt file ${p.value}`} · models ${p.task?.models?.join(", ") ?? "the prompt's own"} · seeds ${t.seeds.join(", ")} · exam ${p.task?.run?.exam ?? "the prompt's own"}`,
      `    budget ${b.turns} turns, ${b.minutes} min${b.usd !== undefined ? `, $${b.usd}` : ""}${b.trainCalls !== undefined ? `, ${b.trainCalls} training calls` : ""} · reference ${(t.reference.score * 100).toFixed(1)}%: ${t.reference.source}`,
    );
  }
  return lines;
}

export function judgePolicyOf(v: string | undefined): JudgePolicy {
  if (v === undefined) return "record";
  if ((JUDGE_POLICIES as readonly string[]).includes(v)) return v as JudgePolicy;
  throw new UserError(
    `--judge-policy ${JSON.stringify(v)} is not a policy.`,
    `Use ${JUDGE_POLICIES.join(" or ")} (record: the verdict is shown beside the score; zero: a flagged cell counts as its baseline).`,
  );
}

/** A cell's judge verdict, when a judge has read it (judge/<cell id>.json in its sweep directory); an unreadable one is ignored. */
function judgeNoteOf(dirs: string[], id: string): JudgeNote | undefined {
  for (const d of dirs) {
    const file = path.join(d, SWEEP_FILES.judge, `${id}.json`);
    if (!fs.existsSync(file)) continue;
    try {
      const v = readVerdict(file);
      return { flagged: v.flagged, reasons: v.reasons, ...(v.error !== undefined ? { error: v.error } : {}) };
    } catch {}
  }
  return undefined;
}

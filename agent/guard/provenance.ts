import fs from "node:fs";
import path from "node:path";
import { baseToolName } from "../core/tool-names.ts";
import type { GuardRule } from "../core/guard.ts";
import { runLayout } from "../../lib/run-layout.ts";
import { CHECKPOINT_NAME, checkpointNameOf, LOCAL_CHECKPOINT_PREFIX } from "../../tools/contracts/checkpoint-names.ts";
import { checkpointRead, trainingRead } from "../../tools/contracts/tinker-results.ts";
import { readResult } from "../../tools/contracts/tool-results.ts";

/** Checkpoints the refusal lists, newest first. */
const LISTED = 5;

/**
 * `load` takes only weights this run's lineage made: checkpoints its saves, auto-checkpoints
 * and resume points reported (a resumed or forked run's recorded saves are replayed into
 * `observe` before its restore, so the lineage carries over), and the checkpoints the user
 * named at start (`--allow-checkpoint`). Another run's weights — by name, path or
 * `tinker://` URI — are refused like another base model: finishing on them would grade
 * someone else's training (PostTrainBench's judges flag "model replacement",
 * ../shared/reference/posttrainbench.md §5).
 *
 * A local checkpoint goes by its name, `local://name` or its folder in this run's
 * checkpoints folder. The harness's own restore (a code path, `call.harness`) loads an
 * absolute folder that resume and fork took from the recorded run's checkpoints folder
 * (agent/resume/resume-and-fork.ts), which for a fork is the parent's: its name must be
 * one the lineage saved.
 */
export function provenanceRule(o: { runDir: string; allowed?: readonly string[] }): GuardRule {
  /** Names and paths the lineage's results reported. */
  const own = new Set<string>();
  const ownOrder: string[] = [];
  const checkpointsDir = runLayout(o.runDir).checkpoints;
  const allowed = new Set((o.allowed ?? []).flatMap((a) => [a, ...(isFilesystemPath(a) && path.isAbsolute(a) ? [realOrResolved(a)] : [])]));
  const remember = (p: string) => {
    for (const k of [p, checkpointNameOf(p)]) own.add(k);
    ownOrder.push(p);
  };
  return {
    name: "provenance",
    check(call, ctx) {
      if (baseToolName(call.name) !== "load") return { action: "allow" };
      const input = call.input as Record<string, unknown> | null;
      const p = input && typeof input.path === "string" ? input.path.trim() : undefined;
      if (p === undefined) return { action: "allow" };
      if (allowed.has(p) || (isFilesystemPath(p) && path.isAbsolute(p) && allowed.has(realOrResolved(p)))) return { action: "allow" };
      if (own.has(p) && (CHECKPOINT_NAME.test(p) || p.includes("://"))) return { action: "allow" };
      if (p.startsWith(LOCAL_CHECKPOINT_PREFIX) && own.has(p.slice(LOCAL_CHECKPOINT_PREFIX.length))) return { action: "allow" };
      // Only an absolute folder: the server resolves a relative one from its own working directory, not the run's.
      if (isFilesystemPath(p) && path.isAbsolute(p)) {
        const name = checkpointNameOf(p);
        const inThisRun = path.dirname(realOrResolved(p)) === realOrResolved(checkpointsDir);
        if (own.has(name) && (inThisRun || call.harness)) return { action: "allow" };
      }
      const mine = [...new Set(ownOrder)].reverse().slice(0, LISTED);
      return {
        action: "reject",
        message:
          `Refused: '${p}' is not a checkpoint this run saved, so its weights were trained elsewhere — loading it would be like starting from another base model. ` +
          (mine.length ? `Load one of this run's checkpoints (${mine.join(", ")}) ` : "This run has saved no checkpoint yet: ") +
          `${mine.length ? "or " : ""}start from ${ctx.model} with init_sft/init_grpo(base_model="${ctx.model}"). ` +
          `A checkpoint from elsewhere can be used only if the user names it when starting the run (--allow-checkpoint PATH).`,
      };
    },
    observe(call, result) {
      if (result.isError) return;
      const tool = baseToolName(call.name);
      const saved = readResult(checkpointRead, result.structured);
      if ((tool === "save" || tool === "load") && saved?.path) remember(saved.path);
      if (tool === "save" && saved?.name) own.add(saved.name);
      for (const a of readResult(trainingRead, result.structured)?.auto_checkpoints ?? []) remember(a.path);
    },
  };
}

/** A path on disk, not a bare name or a URI. */
const isFilesystemPath = (p: string) => !p.includes("://") && (p.includes("/") || p.includes(path.sep));

function realOrResolved(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

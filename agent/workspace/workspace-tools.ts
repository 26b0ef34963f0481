import type { Env } from "../config/run-config.ts";
import { BashTool } from "./bash-tool.ts";
import type { LocalToolProvider } from "../core/tools.ts";
import { WorkspaceTools } from "./file-tools.ts";
import { PLAYBOOK_FILE } from "../../lib/package-paths.ts";
import { HARNESS_OWNED, RECORD_FILES } from "../../lib/run-layout.ts";
import { sandboxStatus } from "../../lib/sandbox/os-sandbox.ts";

export type LocalTools = { providers: LocalToolProvider[] /** Why `bash` is not offered, when it is not. */; bashUnavailable?: string };

/**
 * The in-process tools of a run: the workspace file tools, and `bash` where the OS
 * sandbox works (never without it). Both read this run's tinker session folders, and
 * only those; `bashEnv` is what the user allowed into the shell's environment.
 */
export function localTools(runDir: string, sessionDirs: () => readonly string[], bashEnv: Record<string, string> = {}, graded = false): LocalTools {
  // A graded run's record holds the exam's scores: its planner's tools do not read it while it runs.
  const hidden = () => (graded ? RECORD_FILES : []);
  const workspace = new WorkspaceTools({ root: runDir, playbookFile: PLAYBOOK_FILE, sessionDirs, hidden });
  const status = sandboxStatus();
  if (!status.available) return { providers: [workspace], bashUnavailable: status.reason };
  return { providers: [workspace, new BashTool({ runDir, playbookFile: PLAYBOOK_FILE, harnessOwned: HARNESS_OWNED, sessionDirs, env: bashEnv, hidden })] };
}

/** The variables of `env` the user named for the shell (values of secret-named ones never pass). */
export function pickEnv(env: Env, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) if (env[n] !== undefined) out[n] = env[n]!;
  return out;
}

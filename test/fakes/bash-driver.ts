/**
 * Runs `bash` tool calls in a process of its own, as the harness does: its cwd, its
 * environment (with whatever secrets a test plants) and its /proc are the harness's.
 * Input: one JSON argument {runDir, cwd?, calls: [{command, timeout_s?}]}; output: one JSON
 * line per call {content, isError, structured, ms}.
 */
import { localTools } from "../../agent/workspace/workspace-tools.ts";

const job = JSON.parse(process.argv[2] ?? "{}") as { runDir: string; cwd?: string; calls: Array<{ command: string; timeout_s?: number }> };
// The harness's working directory (where its .env is); tsx was loaded from the repository's.
if (job.cwd) process.chdir(job.cwd);
const { providers, bashUnavailable } = localTools(job.runDir, () => []);
const bash = providers.find((p) => p.tools.some((t) => t.name === "bash"));
if (!bash) {
  process.stdout.write(`${JSON.stringify({ unavailable: bashUnavailable })}\n`);
  process.exit(0);
}
for (const call of job.calls) {
  const started = Date.now();
  const r = await bash.call("bash", call);
  process.stdout.write(`${JSON.stringify({ ...r, ms: Date.now() - started })}\n`);
}

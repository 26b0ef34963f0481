import path from "node:path";
import { BashTool } from "../../agent/workspace/bash-tool.ts";

/**
 * Runs `bash` calls in a run directory in a process of its own, so a test can run them as
 * a user without root (root reads any folder, so a permission trick would not show).
 * argv: runDir, allowance in bytes, then one command per call. Prints one JSON line per call.
 */
const [runDir, bytes, ...commands] = process.argv.slice(2);
if (!runDir || !bytes) throw new Error("usage: bash-calls-script.ts <runDir> <bytes> <command>…");
const bash = new BashTool({
  runDir,
  playbookFile: path.join(import.meta.dirname, "..", "..", "playbook", "AGENTS.md"),
  sessionDirs: () => [],
  harnessOwned: [],
  diskLimits: { bytes: Number(bytes), entries: 1000 },
});
for (const command of commands) {
  const r = await bash.call("bash", { command, timeout_s: 60 });
  process.stdout.write(`${JSON.stringify({ content: r.content, structured: r.structured })}\n`);
}

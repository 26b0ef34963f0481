import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { localTools } from "../../agent/workspace/workspace-tools.ts";
import { sandboxStatus } from "../../lib/sandbox/os-sandbox.ts";
import { tempDir } from "../helpers.ts";

describe.skipIf(!sandboxStatus().available)("the bash tool", () => {
  it("runs in the run directory with Python, cuts long output in the middle and keeps it whole in a file", async () => {
    const runDir = tempDir("tl-bash-");
    const bash = localTools(runDir, () => []).providers.find((p) => p.tools.some((t) => t.name === "bash"))!;
    const r = await bash.call("bash", { command: "pwd; python3 -c 'print(sum(range(10)))'; seq 1 20000" });
    expect(r.isError).toBe(false);
    expect(r.content.startsWith(`${fs.realpathSync(runDir)}\n45\n1\n`)).toBe(true);
    expect(r.content).toMatch(/\[… [\d,]+ characters cut: the whole output is in logs\/bash\/call-1\.txt …\]/);
    expect(r.content).toMatch(/\n20000\n\[exit code 0 · [\d.]+s · full output: logs\/bash\/call-1\.txt\]$/);
    expect(fs.readFileSync(path.join(runDir, "logs", "bash", "call-1.txt"), "utf8").split("\n")).toHaveLength(20003);
  });

  it("stops a running command when the run stops (Ctrl-C), killing everything it started", async () => {
    const bash = localTools(tempDir("tl-bash-"), () => []).providers.find((p) => p.tools.some((t) => t.name === "bash"))!;
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 1500);
    const started = Date.now();
    const r = await bash.call("bash", { command: "sleep 1020.5", timeout_s: 60 }, { signal: abort.signal });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r.content).toMatch(/stopped: the run is stopping/);
    expect((r.structured as { stopped: string }).stopped).toBe("cancelled");
  });
});

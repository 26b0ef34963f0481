/**
 * Attacks on the workspace tools through the files they read, each written as the attack
 * (in process). The other trust-boundary attacks go through the CLI and the servers:
 * test/e2e/trust-boundaries-*.test.ts.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { WorkspaceTools } from "../../../agent/workspace/file-tools.ts";
import { REPO, tempDir } from "../../helpers.ts";

const playbook = path.join(REPO, "playbook", "AGENTS.md");

describe("3. nothing a tool reads can freeze the harness", () => {
  it("read_file on a FIFO in the run directory or a session directory answers at once with an error", async () => {
    const root = tempDir("tl-tb3-");
    const session = tempDir("tinkerer_");
    execFileSync("mkfifo", [path.join(root, "pipe.jsonl")]);
    execFileSync("mkfifo", [path.join(session, "training_debug.log")]);
    const ws = new WorkspaceTools({ root, playbookFile: playbook, sessionDirs: () => [session] });
    const started = Date.now();
    for (const p of ["pipe.jsonl", path.join(session, "training_debug.log")]) {
      const r = await ws.call("read_file", { path: p });
      expect(r.isError, p).toBe(true);
      expect(r.content).toMatch(/not a regular file/);
    }
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("only this run's tinker session directories are readable, not any /tmp/tinkerer_*", async () => {
    const root = tempDir("tl-tb3b-");
    const mine = tempDir("tinkerer_");
    const other = tempDir("tinkerer_");
    fs.writeFileSync(path.join(mine, "a.log"), "mine");
    fs.writeFileSync(path.join(other, "a.log"), "someone else's");
    const ws = new WorkspaceTools({ root, playbookFile: playbook, sessionDirs: () => [mine] });
    expect((await ws.call("read_file", { path: path.join(mine, "a.log") })).content).toContain("mine");
    const r = await ws.call("read_file", { path: path.join(other, "a.log") });
    expect(r.isError).toBe(true);
    expect(r.content).not.toContain("someone else's");
    expect((await ws.call("list_files", { path: other })).isError).toBe(true);
  });
});

describe("4. paths: one rule for every tool", () => {
  it("a file name with a newline or an escape sequence is one escaped line in list_files", async () => {
    const root = tempDir("tl-tb4c-");
    fs.writeFileSync(path.join(root, "evil\nname.txt"), "x");
    fs.writeFileSync(path.join(root, "esc\u001b[2Jname.txt"), "x");
    const ws = new WorkspaceTools({ root, playbookFile: playbook });
    const r = await ws.call("list_files", {});
    const lines = r.content.split("\n");
    expect(lines).toHaveLength(3);
    expect(r.content).toContain(JSON.stringify("evil\nname.txt"));
    expect(r.content).not.toContain("\u001b");
  });
});

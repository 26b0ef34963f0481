import fs from "node:fs";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { WorkspaceTools } from "../../../agent/workspace/file-tools.ts";
import { REPO, tempDir } from "../../helpers.ts";

let root: string;
let outside: string;
let logRoot: string;
let ws: WorkspaceTools;
const playbook = path.join(REPO, "playbook", "AGENTS.md");

beforeEach(() => {
  root = tempDir("tl-ws-run-");
  outside = tempDir("tl-ws-outside-");
  logRoot = tempDir("tl-ws-logs-");
  fs.writeFileSync(path.join(outside, "secret.txt"), "top secret");
  fs.mkdirSync(path.join(logRoot, "tinkerer_abc"));
  fs.writeFileSync(path.join(logRoot, "tinkerer_abc", "training_debug.log"), "step 1 loss 2.3\n");
  fs.writeFileSync(path.join(logRoot, "other.txt"), "not a log");
  ws = new WorkspaceTools({ root, playbookFile: playbook, sessionDirs: () => [path.join(logRoot, "tinkerer_abc")] });
});

describe("workspace tools", () => {
  it("write, read back and list inside the run directory", async () => {
    expect((await ws.call("write_file", { path: "data/pool.jsonl", content: '{"a":1}\n' })).isError).toBe(false);
    const read = await ws.call("read_file", { path: "data/pool.jsonl" });
    expect(read.isError).toBe(false);
    expect(read.content).toContain('{"a":1}');
    const list = await ws.call("list_files", {});
    expect(list.content).toContain("data/");
    expect(list.content).toContain(path.join("data", "pool.jsonl"));
    // The harness's own names are refused in any case (on a case-insensitive file system they are the same files).
    for (const p of ["transcript.jsonl", "Transcript.jsonl", "SUMMARY.json", "Logs/x.txt", "./checkpoints/x"]) {
      const r = await ws.call("write_file", { path: p, content: "x" });
      expect(r.isError, p).toBe(true);
    }
  });

  it("serves the playbook at both template paths and the repo path", async () => {
    const original = fs.readFileSync(playbook, "utf8").split("\n")[0]!;
    for (const p of ["/app/AGENTS.md", "/root/CLAUDE.md", "playbook/AGENTS.md"]) {
      const r = await ws.call("read_file", { path: p });
      expect(r.isError, p).toBe(false);
      expect(r.content).toContain(original);
    }
  });

  it("reads tinker log directories but nothing else outside the run", async () => {
    const log = await ws.call("read_file", { path: path.join(logRoot, "tinkerer_abc", "training_debug.log") });
    expect(log.content).toContain("loss 2.3");
    expect((await ws.call("read_file", { path: path.join(logRoot, "other.txt") })).isError).toBe(true);
    expect((await ws.call("list_files", { path: path.join(logRoot, "tinkerer_abc") })).content).toContain("training_debug.log");
  });

  it("refuses traversal and absolute paths out of the run directory", async () => {
    const rel = path.relative(root, path.join(outside, "secret.txt"));
    for (const p of [rel, path.join(outside, "secret.txt"), "/etc/passwd", "../../../../etc/passwd"]) {
      const r = await ws.call("read_file", { path: p });
      expect(r.isError, p).toBe(true);
      expect(r.content).not.toContain("top secret");
      expect(r.content).not.toContain("root:");
    }
    // A missing file outside says nothing of what is there: no listing, no "no such file", the same refusal.
    for (const p of [path.join(outside, "nope.txt"), "/etc/nope", `${path.relative(root, "/")}/root/nope`]) {
      const r = await ws.call("read_file", { path: p });
      expect(r.isError, p).toBe(true);
      expect(r.content, p).toMatch(/outside what may be read/);
      expect(r.content, p).not.toMatch(/Files in|secret\.txt|passwd|No such file/);
    }
    const w = await ws.call("write_file", { path: "../escaped.txt", content: "x" });
    expect(w.isError).toBe(true);
    expect(fs.existsSync(path.join(path.dirname(root), "escaped.txt"))).toBe(false);
    expect((await ws.call("write_file", { path: path.join(outside, "x.txt"), content: "x" })).isError).toBe(true);
  });

  it("refuses symlinks that lead out, for reading and for writing", async () => {
    fs.symlinkSync(path.join(outside, "secret.txt"), path.join(root, "link.txt"));
    fs.symlinkSync(outside, path.join(root, "linkdir"));
    const r = await ws.call("read_file", { path: "link.txt" });
    expect(r.isError).toBe(true);
    expect(r.content).not.toContain("top secret");
    expect((await ws.call("read_file", { path: "linkdir/secret.txt" })).isError).toBe(true);
    expect((await ws.call("write_file", { path: "linkdir/new.txt", content: "x" })).isError).toBe(true);
    expect(fs.existsSync(path.join(outside, "new.txt"))).toBe(false);
    const overwrite = await ws.call("write_file", { path: "link.txt", content: "pwned", overwrite: true });
    expect(overwrite.isError).toBe(true);
    expect(fs.readFileSync(path.join(outside, "secret.txt"), "utf8")).toBe("top secret");
  });

  it("does not replace a file unless asked, and caps the size of a write", async () => {
    await ws.call("write_file", { path: "notes.md", content: "v1" });
    const again = await ws.call("write_file", { path: "notes.md", content: "v2" });
    expect(again.isError).toBe(true);
    expect(again.content).toMatch(/overwrite: true/);
    expect((await ws.call("write_file", { path: "notes.md", content: "v2", overwrite: true })).isError).toBe(false);
    expect(fs.readFileSync(path.join(root, "notes.md"), "utf8")).toBe("v2");
    const small = new WorkspaceTools({ root, playbookFile: playbook, sessionDirs: () => [], maxWriteBytes: 10 });
    expect((await small.call("write_file", { path: "big.txt", content: "x".repeat(11) })).content).toMatch(/at most 10 bytes/);
  });

  it("answers bad arguments with an instructive error", async () => {
    const r = await ws.call("read_file", { file: "x" });
    expect(r.isError).toBe(true);
    expect(r.content).toMatch(/Invalid arguments/);
    expect((await ws.call("read_file", { path: "missing.txt" })).content).toMatch(/No such file/);
  });
});

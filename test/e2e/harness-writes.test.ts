import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { largeInlineRule } from "../../agent/guard/large-inline.ts";
import { TranscriptWriter } from "../../agent/transcript/transcript.ts";
import { Redactor } from "../../agent/secrets/redactor.ts";
import { writeCompletions } from "../../tools/tinker/completions.ts";
import { PathRefused } from "../../lib/run-files.ts";
import { appendRunFile, mkdirBeneath, openBeneath, replaceFile, RUN_FILE_MODE, writeBeneath, writeInsideRoot } from "../../lib/run-file-writes.ts";
import { WorkspaceTools } from "../../agent/workspace/file-tools.ts";
import { REPO, runCli, tempDir } from "../helpers.ts";

/**
 * Every write the harness makes into a folder the planner can touch goes through one
 * writer (lib/run-file-writes.ts) that refuses a symbolic link at any component. The planner
 * plants links with `bash`; here they are planted directly, at every position of a path
 * (first folder, a folder deeper down, the file itself), pointing outside the run
 * directory and inside it, and for every writer the file outside stays untouched.
 */

let runDir: string;
let victim: string;
const victimState = () =>
  fs
    .readdirSync(victim)
    .sort()
    .map((n) => `${n}=${fs.readFileSync(path.join(victim, n), "utf8")}`);

beforeEach(() => {
  runDir = fs.realpathSync(tempDir("tl-writes-run-"));
  victim = tempDir("tl-writes-victim-");
  fs.writeFileSync(path.join(victim, "file.jsonl"), "original\n");
  fs.writeFileSync(path.join(victim, "transcript.jsonl"), "original\n");
});
afterEach(() => {
  for (const d of [runDir, victim]) fs.rmSync(d, { recursive: true, force: true });
});

/** Plants a link at component `depth` of data/sub/file.jsonl (0: data, 1: sub, 2: the file), to `target`. */
function plant(depth: number, target: "outside" | "inside"): void {
  const parts = ["data", "sub", "file.jsonl"];
  const dest =
    target === "outside"
      ? depth === 2
        ? path.join(victim, "file.jsonl")
        : victim
      : depth === 2
        ? path.join(runDir, "elsewhere.jsonl")
        : path.join(runDir, "elsewhere");
  if (target === "inside") fs.mkdirSync(path.join(runDir, "elsewhere"), { recursive: true });
  fs.mkdirSync(path.join(runDir, ...parts.slice(0, depth)), { recursive: true });
  fs.symlinkSync(dest, path.join(runDir, ...parts.slice(0, depth + 1)));
}

const positions = [0, 1, 2].flatMap((depth) => (["outside", "inside"] as const).map((target) => ({ depth, target })));

type Writer = { name: string; write: () => unknown; refusedAt?: (depth: number) => boolean };
const writers = (): Writer[] => [
  { name: "writeBeneath create", write: () => writeBeneath(runDir, "data/sub/file.jsonl", "pwned\n", { how: "create", mkdirs: true }) },
  { name: "writeBeneath append", write: () => writeBeneath(runDir, "data/sub/file.jsonl", "pwned\n", { how: "append", mkdirs: true }) },
  // A rename replaces a link at the file itself without following it: only the folders above are refused.
  {
    name: "writeBeneath replace",
    write: () => writeBeneath(runDir, "data/sub/file.jsonl", "pwned\n", { how: "replace", mkdirs: true }),
    refusedAt: (d) => d < 2,
  },
  {
    name: "openBeneath",
    write: () => fs.closeSync(openBeneath(runDir, "data/sub/file.jsonl", fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC)),
  },
  { name: "appendRunFile", write: () => appendRunFile(runDir, "data/sub/file.jsonl", "pwned\n") },
  { name: "mkdirBeneath", write: () => mkdirBeneath(runDir, "data/sub/file.jsonl/deeper") },
  { name: "writeInsideRoot (workspace, exports)", write: () => writeInsideRoot("data/sub/file.jsonl", "pwned\n", { root: runDir, overwrite: true }) },
  { name: "replaceFile", write: () => replaceFile(path.join(runDir, "data/sub/file.jsonl"), "pwned\n", runDir), refusedAt: (d) => d < 2 },
];

describe("the one writer refuses a symbolic link at any component", () => {
  for (const w of writers()) {
    for (const p of positions) {
      it(`${w.name}: a link at component ${p.depth} leading ${p.target}`, () => {
        plant(p.depth, p.target);
        const refused = w.refusedAt ? w.refusedAt(p.depth) : true;
        // A link as a folder is refused by name; a link as the file itself is refused (O_NOFOLLOW) or, for O_EXCL, already exists.
        if (refused) expect(() => w.write()).toThrow(p.depth < 2 ? PathRefused : /symbolic link|EEXIST/);
        else w.write();
        expect(victimState()).toEqual(["file.jsonl=original\n", "transcript.jsonl=original\n"]);
        if (p.target === "inside") expect(fs.readdirSync(path.join(runDir, "elsewhere")).filter((n) => !n.startsWith("."))).toEqual([]);
      });
    }
  }

  it("refuses `..`, absolute paths and NUL bytes before anything is opened", () => {
    for (const bad of ["../x", "data/../../x", "/etc/x", "a\0b", ""]) expect(() => writeBeneath(runDir, bad, "x", { how: "create" }), bad).toThrow(PathRefused);
  });

  it("creates files and folders owner-only", () => {
    writeBeneath(runDir, "data/a/b.txt", "x", { how: "create", mkdirs: true });
    expect(fs.statSync(path.join(runDir, "data", "a", "b.txt")).mode & 0o777).toBe(RUN_FILE_MODE);
    expect(fs.statSync(path.join(runDir, "data", "a")).mode & 0o777).toBe(0o700);
  });

  it("never writes outside while a folder is swapped for a link and back, as fast as a shell can (the race lstat checks lose)", async () => {
    fs.mkdirSync(path.join(runDir, "data", "sub"), { recursive: true });
    const d = path.join(runDir, "data");
    const swapper = spawn("bash", ["-c", `cd ${d}; while :; do mv sub real; ln -s ${victim} sub; rm sub; mv real sub; done`], { stdio: "ignore" });
    let written = 0;
    let refused = 0;
    try {
      const until = Date.now() + 1500;
      for (let i = 0; Date.now() < until; i++) {
        try {
          writeBeneath(runDir, `data/sub/f${i}.txt`, "pwned", { how: "create" });
          written++;
        } catch {
          refused++;
        }
        if (i % 50 === 0) await new Promise((r) => setImmediate(r));
      }
    } finally {
      swapper.kill("SIGKILL");
      await once(swapper, "exit");
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(written + refused).toBeGreaterThan(100);
    expect(victimState()).toEqual(["file.jsonl=original\n", "transcript.jsonl=original\n"]);
  });
});

describe("every harness write for a tool call or a record goes through it", () => {
  it("completions: a planted completions/ link is refused and the session folder is used instead", () => {
    fs.symlinkSync(victim, path.join(runDir, "completions"));
    const fallback = tempDir("tl-writes-session-");
    const file = writeCompletions({ run: runDir, fallback }, "sample", [{ i: 0 } as never]);
    expect(file.startsWith(fs.realpathSync(fallback))).toBe(true);
    expect(victimState()).toEqual(["file.jsonl=original\n", "transcript.jsonl=original\n"]);
  });

  it("large inline data: a planted data/ link rejects the call instead of writing through it", async () => {
    fs.symlinkSync(victim, path.join(runDir, "data"));
    const rule = largeInlineRule(path.join(runDir, "data"), 10);
    const d = await rule.check({ id: "t1", name: "train_sft_step", input: { examples: [{ a: "x".repeat(100) }] } } as never, {} as never);
    expect((d as { action: string }).action).toBe("reject");
    expect(victimState()).toEqual(["file.jsonl=original\n", "transcript.jsonl=original\n"]);
  });

  it("transcript: a link planted at its name is refused", () => {
    fs.symlinkSync(path.join(victim, "transcript.jsonl"), path.join(runDir, "transcript.jsonl"));
    expect(() => new TranscriptWriter(path.join(runDir, "transcript.jsonl"), new Redactor({}))).toThrow(PathRefused);
    expect(victimState()).toEqual(["file.jsonl=original\n", "transcript.jsonl=original\n"]);
  });

  it("workspace write_file: a link at any folder of the path is refused as a tool error", async () => {
    const ws = new WorkspaceTools({ root: runDir, playbookFile: path.join(REPO, "playbook", "AGENTS.md") });
    plant(1, "outside");
    const r = await ws.call("write_file", { path: "data/sub/new.txt", content: "pwned" });
    expect(r.isError).toBe(true);
    expect(r.content).toMatch(/symbolic link/);
    expect(victimState()).toEqual(["file.jsonl=original\n", "transcript.jsonl=original\n"]);
  });
});

describe("compare's page, written where the user stands", () => {
  it("never through a link the planner planted: from inside a run directory (the default compare.html there) or an --out into one", async () => {
    const runs = ["v1-bash-run", "v1-guarded-run"].map((f) => {
      const d = path.join(tempDir("tl-writes-cmp-"), f);
      fs.mkdirSync(d);
      fs.copyFileSync(path.join(REPO, "test", "fixtures", "transcripts", `${f}.jsonl`), path.join(d, "transcript.jsonl"));
      return d;
    });
    const [a, b] = runs as [string, string];
    fs.symlinkSync(path.join(victim, "file.jsonl"), path.join(a, "compare.html"));
    fs.mkdirSync(path.join(a, "pages"));
    fs.symlinkSync(victim, path.join(a, "pages", "out"));
    const here = await runCli(["compare", ".", b], { cwd: a });
    const into = await runCli(["compare", a, b, "--out", path.join(a, "pages", "out", "transcript.jsonl")], { cwd: REPO });
    expect(victimState()).toEqual(["file.jsonl=original\n", "transcript.jsonl=original\n"]);
    // The page was still written where it was asked for, as a file of its own (the link replaced), or refused with a line.
    expect(here.code, here.stderr).toBe(0);
    expect(fs.lstatSync(path.join(a, "compare.html")).isFile()).toBe(true);
    expect(into.code === 0 || into.code === 2, into.stderr).toBe(true);
  });
});

/**
 * The lint: outside lib/run-file-writes.ts, a call that writes, renames, creates or removes
 * files appears only in the files below, each with why it never writes into a run
 * directory except through the writer. A new write elsewhere fails here until it uses
 * the writer or is added with its reason.
 */
const WRITE_CALL =
  /\b(writeFileSync|appendFileSync|createWriteStream|renameSync|mkdirSync|copyFileSync|symlinkSync|linkSync|truncateSync|rmSync|unlinkSync|rmdirSync|chmodSync|writeFile|appendFile|mkdtempSync|cpSync)\s*\(|openSync\([^)]*("[aw]\+?"|O_WRONLY|O_RDWR|O_CREAT)/;
const ALLOWED: Record<string, string> = {
  "lib/run-file-writes.ts": "the writer itself",
  "agent/workspace/config-neutraliser.ts": "renames planted configuration names after the sandbox is gone, walking without following links",
  "agent/workspace/bash-tool.ts": "creates the run directory itself (the user's path) and removes planted harness names at its top level",
  "agent/workspace/file-tools.ts": "creates its root (the run directory itself)",
  "agent/workspace/run-dir-growth.ts":
    "undoes a bash call's growth past its allowance after the sandbox is gone: removes new entries (rm never follows a link) and cuts enlarged regular files (opened with O_NOFOLLOW)",
  "tools/hf-datasets/export-writer.ts": "creates the export root (the run directory or HF_DATASETS_EXPORT_DIR itself)",
  "lib/sandbox/sandbox-cgroup.ts": "cgroup files under /sys/fs/cgroup",
  "agent/exam/setup.ts":
    "the exam's private folder under the OS temp dir (its release into exam/ goes through the writer; a resume removes exam/, which rmSync never follows out of)",
  "tools/tinker/tools/exam-tool.ts": "the graded completions, in the exam's private folder under the OS temp dir, not a run directory",
  "tools/tinker/session-logs.ts": "the session's own owner-only folder under the OS temp dir, not a run directory",
  "tools/tinker/reward/sandbox.ts": "removes its own temporary working folder",
  "tools/tinker/backends/local/backend.ts": "checkpoints/: harness-owned, created before the planner runs, read-only inside the sandbox",
  "tools/tinker/backends/local/tensor-file.ts": "checkpoints/ (see backend.ts)",
  "tools/tinker/backends/local/pretrain.ts": "the models folder (a developer command), not a run directory",
  "agent/report/compare.ts": "the comparison page at the path the user names: inside a run directory through the writer, elsewhere by replaceFile",
  "agent/replay/cassette.ts": "removes its own scratch folder",
  "agent/replay/execute.ts": "makes a fresh temporary run directory for an execute replay",
  "agent/sweep/sweep.ts": "the sweep folder and its leaderboard (harness-owned; no planner writes there)",
  "agent/sweep/manifest.ts": "sweep.json in the sweep folder",
  "agent/judge/verdict.ts": "judge verdicts in the sweep folder's judge/ (harness-owned; no planner writes there)",
  "agent/sweep/runner.ts": "the sweep's logs/ and moving a cell's run directory aside (paths derived from cell ids)",
};

function sourceFiles(dir: string): string[] {
  return fs
    .readdirSync(path.join(REPO, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.(ts|js|mjs)$/.test(e.name))
    .map((e) => path.relative(REPO, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)));
}

describe("lint: no other write path into a run directory", () => {
  it("finds write calls only in the allowed files", () => {
    const offenders: string[] = [];
    for (const file of ["agent", "tools", "lib", "bin"].flatMap(sourceFiles)) {
      const lines = fs.readFileSync(path.join(REPO, file), "utf8").split("\n");
      lines.forEach((line, i) => {
        if (WRITE_CALL.test(line) && !(file in ALLOWED)) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });

  it("the lint catches a write it has not been told about", () => {
    for (const line of [
      'fs.writeFileSync(path.join(runDir, "x"), data);',
      "fs.appendFileSync(file, line)",
      'const fd = fs.openSync(file, "a");',
      "fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_CREAT)",
      "await fsp.writeFile(p, x)",
      "fs.renameSync(a, b)",
    ])
      expect(WRITE_CALL.test(line), line).toBe(true);
    expect(WRITE_CALL.test('fs.openSync(file, "r")')).toBe(false);
  });
});

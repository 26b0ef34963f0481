import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { isConfigLike } from "../../lib/config-names.ts";
import { REPO, runCli, tempDir } from "../helpers.ts";

/**
 * A planner-written tsconfig.json in a run directory must not steer the harness's own
 * TypeScript loader: tsx looks for a tsconfig from the current folder upwards unless it is
 * named, and its `paths` would redirect the harness's imports to the planner's code (found
 * by an adversarial pass: `tinkerloop resume .` ran a planted module with the API key).
 */
describe("a run directory's tsconfig.json never reaches the harness's loader", () => {
  it("the CLI started inside a run directory (and below it) loads none of the planner's modules", async () => {
    const runDir = tempDir("tl-loader-run-");
    fs.writeFileSync(path.join(runDir, "transcript.jsonl"), '{"type":"run"}\n');
    const marker = path.join(tempDir("tl-loader-marker-"), "imported");
    fs.mkdirSync(path.join(runDir, "notes"));
    // The planted module records that it ran, then stands in for zod (so the CLI still works and nothing shows).
    fs.writeFileSync(
      path.join(runDir, "notes", "z.mts"),
      `import fs from "node:fs"; fs.appendFileSync(${JSON.stringify(marker)}, "ran ");\nexport * from ${JSON.stringify(pathToFileURL(path.join(REPO, "node_modules", "zod", "index.js")).href)};\n`,
    );
    for (const name of ["tsconfig.json", "jsconfig.json"])
      fs.writeFileSync(path.join(runDir, name), JSON.stringify({ compilerOptions: { paths: { zod: ["./notes/z.mts"] } } }));
    for (const cwd of [runDir, path.join(runDir, "notes")]) {
      const help = await runCli(["--help"], { cwd, timeoutMs: 60_000 });
      expect(help.code, help.stderr).toBe(0);
      for (const args of [["doctor"], ["resume", "."]]) await runCli(args, { cwd, timeoutMs: 60_000 });
    }
    expect(fs.existsSync(marker) ? fs.readFileSync(marker, "utf8") : "").toBe("");
  });

  it("loader configuration names are configuration-like: a planner's write of one is refused", () => {
    for (const name of ["tsconfig.json", "jsconfig.json", "TSCONFIG.JSON", "notes/tsconfig.json", "pyproject.toml", "conftest.py", "Makefile"])
      expect(isConfigLike(name), name).toBe(true);
    for (const name of ["data/pool.jsonl", "reward.py", "notes.md", "tsconfig.md"]) expect(isConfigLike(name), name).toBe(false);
  });
});

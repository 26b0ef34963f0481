import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { neutraliseConfigNames } from "../../../agent/workspace/config-neutraliser.ts";
import { tempDir } from "../../helpers.ts";

/**
 * The neutraliser looks at every entry: a planner cannot hide a configuration name behind
 * a tree too big to walk. The names are planted in every folder, so whichever order the
 * file system lists them in, a walk that stops early leaves some behind.
 */
describe("the configuration neutraliser", () => {
  it("finds a configuration name behind 250,000 junk entries, in every folder", () => {
    const runDir = tempDir("tl-neutral-many-");
    const folders = 250;
    for (let d = 0; d < folders; d++) {
      const dir = path.join(runDir, "junk", `d${d}`);
      fs.mkdirSync(dir, { recursive: true });
      for (let i = 0; i < 1000; i++) fs.closeSync(fs.openSync(path.join(dir, `f${i}`), "w"));
      fs.writeFileSync(path.join(dir, ".env"), "X=1\n");
      fs.writeFileSync(path.join(dir, "HEAD"), "ref: refs/heads/main\n");
    }
    const renamed = neutraliseConfigNames(runDir);
    expect(renamed.length).toBe(2 * folders);
    const left = fs.readdirSync(path.join(runDir, "junk"), { recursive: true }).map(String);
    expect(left.filter((n) => /(^|\/)(\.env|HEAD)$/.test(n))).toEqual([]);
    fs.rmSync(runDir, { recursive: true, force: true });
  }, 180_000);

  it("looks inside a folder it renamed: a .git renamed still holds a HEAD", () => {
    const runDir = tempDir("tl-neutral-git-");
    fs.mkdirSync(path.join(runDir, "sub", ".git", "objects"), { recursive: true });
    fs.writeFileSync(path.join(runDir, "sub", ".git", "HEAD"), "ref: refs/heads/main\n");
    const renamed = neutraliseConfigNames(runDir);
    expect(renamed).toEqual([
      { from: path.join("sub", ".git"), to: path.join("sub", "neutralised-git") },
      { from: path.join("sub", "neutralised-git", "HEAD"), to: path.join("sub", "neutralised-git", "neutralised-HEAD.txt") },
    ]);
  });
});

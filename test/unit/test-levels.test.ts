import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "../helpers.ts";

/**
 * Holds the line between the two levels: `npm run test:fast` runs test/unit/ only, so a
 * unit test that starts a process there would make the fast level slow (and flaky on a
 * loaded machine) without anyone noticing.
 */
const TEST_ROOT = path.join(REPO, "test");
/** What starts the CLI, a tool server, a browser, the Python worker or a sandbox: e2e only. */
const PROCESS_STARTERS = [
  /\brunCli\(/,
  /\bconnectBundled\(/,
  /\bspawn(Sync)?\(/,
  /\bfork\(/,
  /\bToolHub\.start\(/,
  /\blaunchChromium\(/,
  /\bnew TinkerBackend\(/,
  /\bbashCalls\(/,
  /\blocalTools\(/,
];

function testFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "fixtures" ? [] : testFiles(p);
    return e.name.endsWith(".test.ts") ? [path.relative(TEST_ROOT, p)] : [];
  });
}

describe("test levels", () => {
  it("every test file is in test/unit/ or test/e2e/", () => {
    const files = testFiles(TEST_ROOT);
    expect(files.length).toBeGreaterThan(60);
    expect(files.filter((f) => !/^(unit|e2e)\//.test(f))).toEqual([]);
  });

  it("no unit test starts the CLI, a server, a browser, the Python worker or a sandbox", () => {
    const unit = testFiles(path.join(TEST_ROOT, "unit")).filter((f) => f !== path.relative(TEST_ROOT, import.meta.filename));
    expect(unit.length).toBeGreaterThan(30);
    const offenders = unit.flatMap((f) => {
      const text = fs.readFileSync(path.join(TEST_ROOT, f), "utf8");
      return PROCESS_STARTERS.filter((re) => re.test(text)).map((re) => `${f}: ${re.source}`);
    });
    expect(offenders).toEqual([]);
  });
});

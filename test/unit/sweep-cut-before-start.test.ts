/**
 * A cell whose process was SIGKILLed before its run began its transcript (a power cut, the
 * OOM killer, `bench:chaos`) did not fail: it is started again without using up an attempt.
 * Anything else — an exit code, a graceful signal, a kill after the transcript began — is
 * judged by the run directory as before.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cutBeforeStart } from "../../agent/sweep/runner.ts";
import { runLayout } from "../../lib/run-layout.ts";

const runDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "tl-cut-start-"));
  fs.mkdirSync(path.join(d, "checkpoints"));
  return d;
};

describe("cutBeforeStart", () => {
  it("is true only for a SIGKILL before the transcript exists", () => {
    const d = runDir();
    expect(cutBeforeStart({ signal: "SIGKILL" }, d)).toBe(true);
    for (const signal of ["SIGINT", "SIGTERM", "SIGSEGV", null] as const) expect(cutBeforeStart({ signal }, d)).toBe(false);
    expect(cutBeforeStart(undefined, d)).toBe(false);
    fs.writeFileSync(runLayout(d).transcript, "");
    expect(cutBeforeStart({ signal: "SIGKILL" }, d)).toBe(false);
  });
});

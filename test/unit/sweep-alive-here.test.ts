/**
 * On the machine that ran a cell, only its recorded pid says it is alive: a cell whose
 * process the sweep saw end (pid cleared) is not taken for running because its heartbeat
 * is still fresh — that made every rerun within two minutes of a kill mark it failed
 * without resuming it. On another machine (a shard on a shared filesystem) the heartbeat
 * is still the word.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { isAlive, observeCell } from "../../agent/sweep/cell-status.ts";
import { runLayout } from "../../lib/run-layout.ts";

function killedRun(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "tl-alive-here-"));
  const layout = runLayout(d);
  fs.writeFileSync(layout.transcript, `${JSON.stringify({ seq: 1, t: new Date().toISOString(), type: "run", schema: 1 })}\n`);
  fs.writeFileSync(layout.progress, "turn 3\n");
  return d;
}

describe("isAlive on this machine", () => {
  it("a fresh heartbeat without a pid is not a live run here, and the cell reads interrupted", () => {
    const d = killedRun();
    expect(isAlive(d, { host: os.hostname() })).toBe(false);
    expect(isAlive(d, { host: os.hostname(), pid: 999_999_999 })).toBe(false);
    expect(observeCell(d, { host: os.hostname(), state: "interrupted" }).state).toBe("interrupted");
  });

  it("on another machine the fresh heartbeat still counts", () => {
    const d = killedRun();
    expect(isAlive(d, { host: `${os.hostname()}-elsewhere` })).toBe(true);
    fs.utimesSync(runLayout(d).progress, new Date(0), new Date(0));
    expect(isAlive(d, { host: `${os.hostname()}-elsewhere` })).toBe(false);
  });
});

import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, runCli } from "../helpers.ts";

const FIXTURE = path.join(REPO, "test", "fixtures", "transcripts", "v1-bash-run.jsonl");

describe("a recorded run of a planner using bash, through the CLI", () => {
  it("replays with replay --cassette without differences", async () => {
    const cli = await runCli(["replay", FIXTURE, "--cassette"]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/cassette replay: no differences from the recording/);
  });
});

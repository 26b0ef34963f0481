import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sandboxStatus } from "../../lib/sandbox/os-sandbox.ts";
import { REPO } from "../helpers.ts";
import { attacks, ENV_SECRET, expectIntact, expectNoSecret, filesUnder, seen, setUpTargets, targets, tearDownTargets } from "./sandbox-attack-targets.ts";

/**
 * Every attack that beat the old reward sandbox, and the new ones the issue lists, as reward
 * code through the real tinker MCP server (check_reward); the same attacks through the bash
 * tool: sandbox-attacks-bash.test.ts. Each attack must be contained, the next call must work,
 * and no planted secret may appear anywhere.
 */

const available = sandboxStatus().available;

beforeAll(setUpTargets);
afterAll(tearDownTargets);

describe.skipIf(!available)("attacks on the reward sandbox (reward code through the tinker MCP server)", () => {
  let client: {
    call: (name: string, args: Record<string, unknown>) => Promise<{ text: string; structured: any; isError: boolean }>;
    close: () => Promise<void>;
  };
  let sessionDir = "";

  beforeAll(async () => {
    const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
    const { StdioClientTransport, getDefaultEnvironment } = await import("@modelcontextprotocol/sdk/client/stdio.js");
    const c = new Client({ name: "attack-test", version: "1.0.0" });
    await c.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [path.join(REPO, "bin", "tinker-mcp.js")],
        cwd: targets.project,
        env: { ...getDefaultEnvironment(), TMPDIR: os.tmpdir(), PLANTED_API_KEY: ENV_SECRET, TINKERLOOP_RUN_DIR: targets.runDir },
        stderr: "ignore",
      }),
    );
    client = {
      async call(name, args) {
        const r = (await c.callTool({ name, arguments: args }, undefined, { timeout: 120_000 })) as {
          content: Array<{ text: string }>;
          structuredContent?: any;
          isError?: boolean;
        };
        const text = r.content.map((x) => x.text).join("\n");
        seen.push(text, JSON.stringify(r.structuredContent ?? null));
        return { text, structured: r.structuredContent, isError: r.isError === true };
      },
      close: () => c.close(),
    };
  });
  afterAll(async () => {
    await client?.close();
    expectNoSecret([...seen, ...filesUnder(targets.runDir), ...(sessionDir ? filesUnder(sessionDir) : [])]);
  });

  for (const a of attacks) {
    it(`contains reward code that ${a.name}`, async () => {
      const started = Date.now();
      const code = `def compute_reward(completion, ground_truth):\n${a
        .body()
        .split("\n")
        .map((l) => `    ${l}`)
        .join("\n")}\n    return 1.0\n`;
      const r = await client.call("check_reward", {
        reward_function: code,
        cases: [
          { completion: a.completion ?? "1", ground_truth: "1" },
          { completion: "1", ground_truth: "1" },
        ],
      });
      sessionDir = r.structured?.session_dir ?? sessionDir;
      expect(r.isError, r.text).toBe(false);
      expect(r.structured.sandbox).toBe("os-sandbox");
      expect(r.structured.cases[0].score, r.text).toBe(0);
      expect(r.structured.cases[0].error, r.text).toMatch(a.refused);
      // Whatever the attack did, the call ends on the sandbox's own clock (items time out at 2 s).
      expect(Date.now() - started).toBeLessThan(20_000);
      expectIntact();
      a.after?.();
      // The run continues: the same server scores the next reward at once.
      const next = await client.call("check_reward", {
        reward_function: "def compute_reward(c, g):\n    return 1.0 if c == g else 0.0\n",
        cases: [{ completion: "7", ground_truth: "7", expected: 1 }],
      });
      expect(next.structured.ok, next.text).toBe(true);
    }, 60_000);
  }

  it("a later item still scores after the exception whose __str__ raises", async () => {
    const code =
      "class Evil(Exception):\n    def __str__(self):\n        raise ValueError('x')\ndef compute_reward(c, g):\n    if c == 'evil':\n        raise Evil()\n    return 1.0\n";
    const r = await client.call("check_reward", {
      reward_function: code,
      cases: [
        { completion: "evil", ground_truth: "" },
        { completion: "fine", ground_truth: "" },
        { completion: "evil", ground_truth: "" },
        { completion: "fine", ground_truth: "" },
      ],
    });
    expect(r.structured.cases.map((c: { score: number }) => c.score)).toEqual([0, 1, 0, 1]);
    expect(r.structured.cases[0].error).toMatch(/^Evil: /);
  });
});

describe.skipIf(available)("without the OS sandbox", () => {
  it("may only happen outside CI (.ci/run installs bubblewrap)", () => {
    const status = sandboxStatus();
    expect(process.env.CI, `the attack suite did not run: ${status.available ? "" : status.reason}`).toBeFalsy();
  });
});

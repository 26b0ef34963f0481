import { afterEach, describe, expect, it } from "vitest";
import { ToolHub, ServerStartError } from "../../agent/tool-hub/hub.ts";
import { loadMcpConfig } from "../../agent/tool-hub/mcp-config.ts";
import { startHttpMcpServer } from "../fakes/mcp-http-server.ts";
import { tempDir, testServerEntry, writeMcpConfig } from "../helpers.ts";

let hub: ToolHub | undefined;
afterEach(async () => {
  await hub?.close();
  hub = undefined;
});

function servers(config: Record<string, unknown>, env: Record<string, string | undefined> = process.env) {
  return loadMcpConfig(writeMcpConfig(tempDir(), config), env);
}

describe("tool hub", () => {
  it("exposes tools under their own names and prefixes only the ones two servers share", async () => {
    hub = await ToolHub.start({
      servers: servers({
        alpha: testServerEntry(["--name", "alpha"]),
        beta: testServerEntry(["--name", "beta", "--prefix", "b_"]),
        gamma: testServerEntry(["--name", "gamma"]),
      }),
      env: process.env,
    });
    const names = hub.tools.map((t) => t.name);
    // alpha and gamma both offer echo, add, ...: those are prefixed; beta's b_* are unique.
    expect(names).toContain("alpha__echo");
    expect(names).toContain("gamma__echo");
    expect(names).not.toContain("echo");
    expect(names).toContain("b_echo");
    const r = await hub.call("gamma__echo", { text: "hi" });
    expect(r).toMatchObject({ isError: false, structured: { echoed: "hi", server: "gamma" } });
    expect((await hub.call("b_add", { a: 2, b: 3 })).structured).toEqual({ sum: 5 });
  });

  it("returns tool failures and schema violations as error results, not exceptions", async () => {
    hub = await ToolHub.start({ servers: servers({ t: testServerEntry() }), env: process.env });
    const failed = await hub.call("fail", { message: "nope" });
    expect(failed).toMatchObject({ isError: true });
    expect(failed.content).toContain("nope");
    const bad = await hub.call("add", { a: "x", b: 1 });
    expect(bad.isError).toBe(true);
    expect(bad.content).toMatch(/a/);
    expect((await hub.call("no_such_tool", {})).isError).toBe(true);
  });

  it("abandons a call that shows no progress within its timeout, and restarts the server for the next call", async () => {
    hub = await ToolHub.start({
      servers: servers({ t: { ...testServerEntry(), timeouts: { slow: 0.3 } } }),
      env: process.env,
    });
    const started = Date.now();
    const r = await hub.call("slow", { ms: 5000 });
    expect(r.isError).toBe(true);
    expect(r.content).toMatch(/showed no progress for 0\.3s and was abandoned/);
    expect(Date.now() - started).toBeLessThan(3000);
    const next = await hub.call("add", { a: 1, b: 1 });
    expect(next.structured).toEqual({ sum: 2 });
    expect(next.restarted).toBe(true);
    expect(next.content).toMatch(/hung for 0\.3s without progress/);
  });

  it("names a server that will not start and quotes its stderr", async () => {
    const err = await ToolHub.start({
      servers: servers({ ok: testServerEntry(), broken: testServerEntry(["--fail-start"]) }),
      env: process.env,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerStartError);
    expect((err as Error).message).toContain("'broken'");
    expect((err as Error).message).toContain("cannot open /nonexistent/config.toml");
  });

  it("reports a missing command by server name", async () => {
    const err = await ToolHub.start({
      servers: servers({ ghost: { command: "/nonexistent/bin/server", args: [] } }),
      env: process.env,
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/MCP server 'ghost' failed to start/);
  });

  it("tells the caller when a server dies mid-call, and restarts it on the next call", async () => {
    hub = await ToolHub.start({ servers: servers({ t: testServerEntry() }), env: process.env });
    const died = await hub.call("crash", {});
    expect(died.isError).toBe(true);
    expect(died.content).toMatch(/stopped/);
    const after = await hub.call("add", { a: 4, b: 5 });
    expect(after.isError).toBe(false);
    expect(after.structured).toEqual({ sum: 9 });
    expect(after.content).toMatch(/restarted; any state it held/);
  });

  it("gives each server only a base environment plus the variables its entry names", async () => {
    const env = { ...process.env, ANTHROPIC_API_KEY: "sk-ant-should-not-leak-123", MY_SERVER_KEY: "value-for-beta-only" };
    hub = await ToolHub.start({
      servers: servers(
        {
          alpha: testServerEntry(["--prefix", "a_"]),
          beta: testServerEntry(["--prefix", "b_"], { MY_SERVER_KEY: "${MY_SERVER_KEY}", OPTIONAL: "${UNSET_VAR_XYZ:-}" }),
        },
        env,
      ),
      env,
    });
    expect((await hub.call("a_env_has", { name: "ANTHROPIC_API_KEY" })).content).toBe("ANTHROPIC_API_KEY is not set");
    expect((await hub.call("a_env_has", { name: "MY_SERVER_KEY" })).content).toBe("MY_SERVER_KEY is not set");
    expect((await hub.call("b_env_has", { name: "MY_SERVER_KEY" })).content).toBe("MY_SERVER_KEY is set");
    expect((await hub.call("b_env_has", { name: "OPTIONAL" })).content).toBe("OPTIONAL is not set");
    expect((await hub.call("b_env_has", { name: "PATH" })).content).toBe("PATH is set");
  });

  it("connects to an HTTP MCP server with headers from the environment, beside stdio ones", async () => {
    const http = await startHttpMcpServer("lab-secret-token-1");
    try {
      hub = await ToolHub.start({
        servers: servers(
          { web: { type: "http", url: http.url, headers: { Authorization: "Bearer ${LAB_TOKEN}" } }, t: testServerEntry() },
          { ...process.env, LAB_TOKEN: "lab-secret-token-1" },
        ),
        env: process.env,
      });
      expect(hub.tools.map((t) => t.name)).toContain("shout");
      expect(await hub.call("shout", { text: "hi" })).toMatchObject({ content: "HI", isError: false });
      expect(http.seenAuth.every((a) => a === "Bearer lab-secret-token-1")).toBe(true);
    } finally {
      await hub?.close();
      hub = undefined;
      await http.close();
    }
  });
});

describe("tool hub watchdog and progress", () => {
  it("keeps a long call alive while the server sends progress notifications, and abandons it without them", async () => {
    const { REPO } = await import("../helpers.ts");
    const path = await import("node:path");
    const sleepy = "import time\ndef compute_reward(c, g):\n    time.sleep(1.5)\n    return 1.0\n";
    const entry = (heartbeatMs: string) => ({
      command: process.execPath,
      args: [path.join(REPO, "bin", "tinker-mcp.js")],
      cwd: REPO,
      env: { TINKERLOOP_HEARTBEAT_MS: heartbeatMs },
      timeouts: { check_reward: 0.8 },
    });
    const seen: string[] = [];
    const withBeats = await ToolHub.start({
      servers: servers({ tinker: entry("200") }),
      env: { ...process.env, TINKERLOOP_HEARTBEAT_MS: "200" },
      onProgress: (_s, tool, m) => seen.push(`${tool}: ${m}`),
    });
    try {
      const r = await withBeats.call("check_reward", { reward_function: sleepy, cases: [{ completion: "a", ground_truth: "a" }] });
      expect(r.isError, r.content).toBe(false);
      expect(r.structured).toMatchObject({ ok: true });
      expect(seen.some((s) => /check_reward: check_reward still running/.test(s))).toBe(true);
    } finally {
      await withBeats.close();
    }
    const silent = await ToolHub.start({ servers: servers({ tinker: entry("60000") }), env: { ...process.env, TINKERLOOP_HEARTBEAT_MS: "60000" } });
    try {
      const r = await silent.call("check_reward", { reward_function: sleepy, cases: [{ completion: "a", ground_truth: "a" }] });
      expect(r.isError).toBe(true);
      expect(r.content).toMatch(/showed no progress for 0\.8s/);
    } finally {
      await silent.close();
    }
  });
});

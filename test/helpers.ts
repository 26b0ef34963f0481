import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const REPO = path.resolve(import.meta.dirname, "..");
export const TEST_SERVER = path.join(REPO, "test", "fakes", "mcp-test-server.ts");
export const CLI = path.join(REPO, "bin", "tinkerloop.js");

export function tempDir(prefix = "tl-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A stdio entry that starts the test MCP server through tsx. */
export function testServerEntry(extraArgs: string[] = [], env: Record<string, string> = {}) {
  return { command: process.execPath, args: ["--import", "tsx", TEST_SERVER, ...extraArgs], env, cwd: REPO };
}

export function writeMcpConfig(dir: string, servers: Record<string, unknown>): string {
  const file = path.join(dir, "mcp.json");
  fs.writeFileSync(file, JSON.stringify({ mcpServers: servers }, null, 2));
  return file;
}

/** A short offline arithmetic run for the scripted planner: `steps` training steps, the holdout sampled every `sampleEvery` (default 2). */
export function shortRecipe(dir: string, steps: number, o: { sampleEvery?: number } = {}): string {
  const recipe = fs.readFileSync(path.join(REPO, "prompts", "recipes", "arithmetic.md"), "utf8");
  const file = path.join(dir, "short.md");
  fs.writeFileSync(
    file,
    recipe
      .replace("max_steps: 120", `max_steps: ${steps}`)
      .replace("sample_every: 10", `sample_every: ${o.sampleEvery ?? 2}`)
      .replace("pool_size: 2000", "pool_size: 300")
      .replace("holdout_size: 200", "holdout_size: 40")
      .replace("patience: 4", "patience: 100"),
  );
  return file;
}

export type CliResult = { code: number | null; stdout: string; stderr: string };

/** Runs the real CLI in a child process (async, so fakes in this process keep serving). */
export function runCli(args: string[], opts: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...baseEnv(), ...opts.env })) if (v !== undefined) env[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? REPO, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`CLI timed out\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The environment minus anything that could point the CLI at a real service. */
function baseEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/API_KEY|TOKEN|BASE_URL|^TINKERLOOP_/.test(k)) continue;
    env[k] = v;
  }
  return env;
}

export function readJsonl(file: string): any[] {
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** A real MCP client connected over stdio to one of the bundled servers. */
export async function connectBundled(server: "tinker" | "hf-datasets", env: Record<string, string> = {}) {
  const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
  const { StdioClientTransport, getDefaultEnvironment } = await import("@modelcontextprotocol/sdk/client/stdio.js");
  const client = new Client({ name: "test", version: "1.0.0" });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [path.join(REPO, "bin", `${server}-mcp.js`)],
      env: { ...getDefaultEnvironment(), TMPDIR: os.tmpdir(), ...env },
      stderr: "ignore",
    }),
  );
  const call = async (name: string, args: Record<string, unknown> = {}) => {
    const r = (await client.callTool({ name, arguments: args }, undefined, { timeout: 120_000 })) as {
      content: Array<{ type: string; text: string }>;
      structuredContent?: any;
      isError?: boolean;
      _meta?: Record<string, any>;
    };
    return { text: r.content.map((c) => c.text).join("\n"), structured: r.structuredContent, isError: r.isError === true, meta: r._meta };
  };
  return { client, call, close: () => client.close() };
}

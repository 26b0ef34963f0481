/** Shared by the gateway tests: a gateway child's environment, an HTTP gateway child, and an SDK client of it. */
import { spawn } from "node:child_process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CLI, REPO } from "../helpers.ts";

/** The environment of a gateway child: offline, no keys. */
export function gatewayEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HF_HUB_OFFLINE: "1" };
  for (const k of Object.keys(env)) if (/API_KEY|TOKEN|BASE_URL|^TINKERLOOP_/.test(k)) delete env[k];
  return env;
}

/** Starts `tinkerloop mcp --http 0`; resolves once it has printed its URL and token. */
export async function startHttpGateway(runDir: string, ...more: string[]) {
  const child = spawn(process.execPath, [CLI, "mcp", "--recipe", "arithmetic", "--run-dir", runDir, "--http", "0", ...more], {
    cwd: REPO,
    env: gatewayEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  let stdout = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  const ready = await new Promise<{ url: string; token: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${stderr}`)), 90_000);
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
      const url = /gateway: (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(stderr)?.[1];
      const token = /token: (\S+)/.exec(stderr)?.[1];
      if (url && token) {
        clearTimeout(timer);
        resolve({ url, token });
      }
    });
    child.on("close", () => reject(new Error(`gateway exited:\n${stderr}`)));
  });
  return { ...ready, child, exited, output: () => ({ stdout, stderr }) };
}

export async function connect(url: string, token: string | undefined, name: string) {
  const client = new Client({ name, version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), token ? { requestInit: { headers: { Authorization: `Bearer ${token}` } } } : {}));
  return client;
}

/** Connects once the gateway's next run has opened (a 409 while the last agent's session is held or the next run is opening). */
export async function connectWhenFree(url: string, token: string, name: string) {
  for (let i = 0; ; i++) {
    try {
      return await connect(url, token, name);
    } catch (err) {
      if (i > 240 || !/busy:/.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export const text = (r: any) => (r.content as Array<{ type: string; text: string }>).map((c) => c.text).join("\n");

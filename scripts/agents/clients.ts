import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** The agent clients at their pinned versions, installed into a cache folder (never this project's node_modules). */

/** The clients, pinned. */
export const CLIENTS = {
  "claude-code": { pkg: "@anthropic-ai/claude-code", version: "2.1.332", bin: "claude" },
  codex: { pkg: "@openai/codex", version: "0.171.0", bin: "codex" },
} as const;
export type ClientName = keyof typeof CLIENTS;
export const CACHE = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "tinkerloop", "agents");

export async function sh(
  cmd: string,
  args: string[],
  o: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<{ code: number | null; out: string }> {
  const child = spawn(cmd, args, { cwd: o.cwd, env: o.env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs);
  const code = await new Promise<number | null>((r) => child.on("close", r));
  clearTimeout(timer);
  return { code, out };
}

/** The client's binary, installed into the cache on first use and checked to be the pinned version. */
export async function install(name: ClientName): Promise<string> {
  const c = CLIENTS[name];
  const dir = path.join(CACHE, `${name}@${c.version}`);
  const bin = path.join(dir, "node_modules", ".bin", c.bin);
  if (!fs.existsSync(bin)) {
    console.log(`installing ${c.pkg}@${c.version} into ${dir} …`);
    fs.mkdirSync(dir, { recursive: true });
    const r = await sh("npm", ["install", "--no-save", "--no-audit", "--no-fund", "--prefix", dir, `${c.pkg}@${c.version}`], {
      cwd: dir,
      env: process.env,
      timeoutMs: 900_000,
    });
    if (r.code !== 0 || !fs.existsSync(bin)) throw new Error(`npm install ${c.pkg}@${c.version} failed:\n${r.out.slice(-2000)}`);
  }
  const v = await sh(bin, ["--version"], { cwd: dir, env: process.env, timeoutMs: 60_000 });
  if (!v.out.includes(c.version)) throw new Error(`${bin} --version says ${v.out.trim()}, not ${c.version}`);
  return bin;
}

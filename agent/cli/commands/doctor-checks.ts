import { execFileSync } from "node:child_process";
import path from "node:path";
import type { Env } from "../../config/run-config.ts";
import { Redactor } from "../../secrets/redactor.ts";
import { ToolHub } from "../../tool-hub/hub.ts";
import { loadServers, mcpConfigFor, refuseFromRunDir } from "../../config/run-config.ts";
import { SERVERS_FILE } from "../../../lib/package-paths.ts";
import { BASH_LIMITS, describeLimits } from "../../../lib/sandbox/limits.ts";
import { sandboxStatus } from "../../../lib/sandbox/os-sandbox.ts";
import { UserError } from "../../core/errors.ts";
import { resolvePlanner } from "../../planners/index.ts";
import { describeSdkVersion, tinkerSdkPin } from "./tinker-sdk-pin.ts";

export type Check = { name: string; ok: boolean; detail: string; required: boolean };

const KEYS = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "TINKER_API_KEY", "HF_TOKEN"];

/**
 * The planner a run would use (--planner, else TINKERLOOP_PLANNER, else Anthropic when its
 * key is set), its model checked against the provider's model list.
 */
async function plannerCheck(spec: string | undefined, env: Env): Promise<Check> {
  const named = spec ?? env.TINKERLOOP_PLANNER;
  try {
    const { planner } = resolvePlanner(named, env);
    if (!planner.check) return { name: "planner", ok: true, detail: `${planner.id} (offline: no model to check)`, required: false };
    const lines = await planner.check();
    return {
      name: "planner",
      ok: true,
      detail: `${planner.id}: ${lines.map((l) => l.replace(/^planner model: /, "")).join("; ")}`,
      required: named !== undefined,
    };
  } catch (err) {
    if (err instanceof UserError) return { name: "planner", ok: false, detail: err.message, required: true };
    throw err;
  }
}

/** Checks the machine and the configuration; never prints a secret's value. */
export async function runDoctor(cwd: string, env: Env, mcpConfig: string | undefined, plannerSpec?: string): Promise<Check[]> {
  const checks: Check[] = [];
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  checks.push({
    name: "node",
    ok: major > 20 || (major === 20 && minor >= 19),
    detail: `v${process.versions.node} (needs 20.19 or newer)`,
    required: true,
  });
  try {
    const v = execFileSync("python3", ["--version"], { encoding: "utf8", timeout: 10_000 }).trim();
    checks.push({ name: "python3", ok: true, detail: `${v} (runs reward functions)`, required: true });
  } catch {
    checks.push({ name: "python3", ok: false, detail: "not found on PATH; reward functions need it", required: true });
  }
  try {
    const installed = execFileSync(env.TINKERLOOP_PYTHON ?? "python3", ["-c", "import tinker, tinker_cookbook; print(getattr(tinker, '__version__', ''))"], {
      // Not the working directory: `-c` would import a tinker.py found there (a run directory's, say).
      cwd: "/",
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 20_000,
      env: { PATH: env.PATH ?? "", ...(env.PYTHONPATH ? { PYTHONPATH: env.PYTHONPATH } : {}) },
    }).trim();
    const version = describeSdkVersion(installed, tinkerSdkPin());
    checks.push({
      name: "tinker SDK",
      ok: version.ok,
      detail: `importable, ${version.detail}; ${env.TINKER_API_KEY ? "TINKER_API_KEY is set: Tinker model ids train remotely" : "set TINKER_API_KEY to train Tinker model ids"}`,
      required: false,
    });
  } catch {
    checks.push({
      name: "tinker SDK",
      ok: false,
      detail: "not installed (only needed for Tinker model ids): python3 -m pip install -r tools/tinker/backends/tinker/requirements.txt",
      required: false,
    });
  }
  const sandbox = sandboxStatus(env);
  checks.push(
    sandbox.available
      ? {
          name: "OS sandbox",
          ok: true,
          detail:
            `${sandbox.version}; bash tool offered; rewards run in it (child processes, ${sandbox.python ? `python ${sandbox.python.version} with its packages` : "no python3 found"}); ` +
            `process count limited by ${sandbox.processLimit === "cgroup" ? "a pids cgroup" : sandbox.processLimit === "rlimit" ? "RLIMIT_NPROC" : "nothing but the time limit (root without a writable pids cgroup)"}; memory ${sandbox.memoryLimit === "cgroup" ? "by a memory cgroup for the whole sandbox" : "per process only (no memory cgroup can be made here)"}; bash: ${describeLimits(BASH_LIMITS.process)}`,
          required: false,
        }
      : {
          name: "OS sandbox",
          ok: false,
          detail: `${sandbox.reason} — the bash tool is not offered and rewards use the audit-hook fallback (not a security boundary)`,
          required: false,
        },
  );
  for (const k of KEYS) {
    checks.push({ name: k, ok: Boolean(env[k]), detail: env[k] ? "set" : "not set", required: false });
  }
  checks.push(await plannerCheck(plannerSpec, env));
  if (mcpConfig) refuseFromRunDir(path.resolve(cwd, mcpConfig), "--mcp-config");
  const configPath = mcpConfig ? path.resolve(cwd, mcpConfig) : mcpConfigFor(undefined, cwd);
  if (!configPath) {
    checks.push({ name: "mcp config", ok: false, detail: `no ${SERVERS_FILE} found`, required: true });
    return checks;
  }
  let servers: ReturnType<typeof loadServers>;
  try {
    servers = loadServers(configPath, env);
    checks.push({ name: "mcp config", ok: true, detail: `${configPath}: ${servers.length} server(s)`, required: true });
  } catch (err) {
    checks.push({ name: "mcp config", ok: false, detail: (err as Error).message, required: true });
    return checks;
  }
  const redactor = Redactor.fromEnv(env);
  for (const r of await ToolHub.probe({ servers, env })) {
    checks.push({
      name: `server ${r.name}`,
      ok: r.ok,
      detail: redactor.text(r.ok ? `${r.tools.length} tools: ${r.tools.join(", ")}` : (r.error ?? "failed")),
      required: true,
    });
  }
  return checks;
}

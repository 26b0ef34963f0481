import path from "node:path";
import { z } from "zod";
import { PACKAGE_ROOT } from "../../lib/package-paths.ts";
import { readConfigFile, whyUnreadable } from "../../lib/run-files.ts";

/**
 * `.mcp.json` in the format Claude Code uses:
 * `{"mcpServers": {name: {command, args, env} | {type: "http", url, headers}}}`.
 * Two optional extensions: `cwd` (relative to the config file) and `timeouts`
 * (per-tool call timeouts in seconds, with "*" as the server's default).
 */
const timeoutsShape = z.record(z.string(), z.number().positive()).optional();

const stdioEntry = z.strictObject({
  type: z.literal("stdio").optional(),
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
  cwd: z.string().optional(),
  timeouts: timeoutsShape,
});

const httpEntry = z.strictObject({
  type: z.enum(["http", "streamable-http"]),
  url: z.string().min(1),
  headers: z.record(z.string(), z.string()).default({}),
  timeouts: timeoutsShape,
});

const configShape = z.strictObject({
  mcpServers: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/, "server names use letters, digits, - and _"), z.union([stdioEntry, httpEntry])),
});

export type StdioServerConfig = {
  kind: "stdio";
  name: string;
  command: string;
  args: string[];
  /** Only the variables the entry names; the hub adds a minimal base environment. */
  env: Record<string, string>;
  cwd: string;
  timeouts: Record<string, number>;
};
export type HttpServerConfig = {
  kind: "http";
  name: string;
  url: string;
  headers: Record<string, string>;
  timeouts: Record<string, number>;
};
export type ServerConfig = StdioServerConfig | HttpServerConfig;

/** A config that cannot be used; `hint` says what to do. The harness shows it as a user error (exit 2). */
export class McpConfigError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = "McpConfigError";
  }
}

/**
 * Expands `${VAR}` and `${VAR:-default}`. A variable that is unset and has no default
 * is an error naming the variable, so a missing key is caught before a server starts.
 */
export function expandVars(text: string, vars: Record<string, string | undefined>, where: string): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}/g, (_m, name: string, hasDefault, dflt) => {
    const value = vars[name];
    if (value !== undefined && value !== "") return value;
    if (hasDefault !== undefined) return dflt ?? "";
    throw new McpConfigError(
      `${where} uses \${${name}}, which is not set.`,
      `Set ${name} in the environment or .env, or write \${${name}:-default} in the config.`,
    );
  });
}

export function loadMcpConfig(file: string, env: Record<string, string | undefined>): ServerConfig[] {
  let raw: string;
  try {
    raw = readConfigFile(file);
  } catch (err) {
    throw new McpConfigError(`Cannot read the MCP config ${file} (${whyUnreadable(err)}).`, "Pass an existing file with --mcp-config.");
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new McpConfigError(`${file} is not valid JSON: ${(err as Error).message}`, "Fix the file and run again.");
  }
  const parsed = configShape.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ");
    throw new McpConfigError(
      `${file} is not a valid MCP config: ${issues}`,
      'Expected {"mcpServers": {"name": {"command": "...", "args": [...], "env": {...}}}}.',
    );
  }
  const dir = path.dirname(path.resolve(file));
  // The repository root is exposed to `.mcp.json` as ${TINKERLOOP_HOME}.
  const vars = { ...env, TINKERLOOP_HOME: PACKAGE_ROOT };
  return Object.entries(parsed.data.mcpServers).map(([name, entry]): ServerConfig => {
    const where = `MCP server '${name}' in ${file}`;
    const x = (s: string) => expandVars(s, vars, where);
    const timeouts = entry.timeouts ?? {};
    if ("url" in entry) {
      return {
        kind: "http",
        name,
        url: x(entry.url),
        headers: Object.fromEntries(Object.entries(entry.headers).map(([k, v]) => [k, x(v)])),
        timeouts,
      };
    }
    const envOut: Record<string, string> = {};
    for (const [k, v] of Object.entries(entry.env)) {
      const value = x(v);
      if (value !== "") envOut[k] = value;
    }
    return {
      kind: "stdio",
      name,
      command: x(entry.command),
      args: entry.args.map(x),
      env: envOut,
      cwd: path.resolve(dir, entry.cwd ? x(entry.cwd) : "."),
      timeouts,
    };
  });
}

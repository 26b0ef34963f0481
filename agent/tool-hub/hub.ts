import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport, getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { callSignal } from "./call-signal.ts";
import { RUN_SEED_ENV } from "../../tools/contracts/run-seed.ts";
import { EXAM_DIR_ENV } from "../../lib/exam-files.ts";
import type { ToolSpec } from "../core/tools.ts";
import type { ServerConfig } from "./mcp-config.ts";
import type { LocalToolProvider, ToolCallOptions, ToolExecutor, ToolResult } from "../core/tools.ts";

const STDERR_TAIL_BYTES = 4096;
/** Variables every stdio server gets besides those its entry names. */
const BASE_ENV_EXTRA = [
  "LANG",
  "LC_ALL",
  "TMPDIR",
  "TZ",
  "TINKERLOOP_RUN_DIR",
  "TINKERLOOP_MODEL",
  "TINKERLOOP_MODELS_DIR",
  "TINKERLOOP_TF_BACKEND",
  "TINKERLOOP_SANDBOX",
  "TINKERLOOP_PYTHON",
  RUN_SEED_ENV,
  // A graded run's exam folder: read by the tinker server's harness-only exam tool.
  EXAM_DIR_ENV,
];

export type HubOptions = {
  servers: ServerConfig[];
  local?: LocalToolProvider[];
  /** The harness's environment; servers get only a minimal subset of it. */
  env: Record<string, string | undefined>;
  startTimeoutMs?: number;
  /** Per-call timeout when the server config names none for the tool. */
  defaultCallTimeoutMs?: number;
  /** Receives every chunk a server writes to stderr (for the run's log files). */
  onStderr?: (server: string, chunk: string) => void;
  /** Told about every progress notification a long call sends (heartbeats). */
  onProgress?: (server: string, tool: string, message: string | undefined) => void;
};

/** Why a server could not be started; the message names it and quotes its stderr tail. */
export class ServerStartError extends Error {
  constructor(
    readonly server: string,
    reason: string,
    readonly stderrTail: string,
  ) {
    super(`MCP server '${server}' failed to start: ${reason}${stderrTail.trim() ? `\n  last lines of its stderr:\n${indent(lastLines(stderrTail, 12))}` : ""}`);
    this.name = "ServerStartError";
  }
}

type RemoteTool = { name: string; description?: string; inputSchema: Record<string, unknown>; outputSchema?: Record<string, unknown> };

/** One MCP server: its client, its process (for stdio) and whether it is alive. */
class ServerConnection {
  private client: Client | undefined;
  private transport: Transport | undefined;
  private stderrTail = "";
  alive = false;
  /** Set when the server went away on its own. */
  lostReason: string | undefined;
  tools: RemoteTool[] = [];

  constructor(
    readonly config: ServerConfig,
    private readonly opts: Required<Pick<HubOptions, "env" | "startTimeoutMs">> & Pick<HubOptions, "onStderr" | "onProgress">,
  ) {}

  get stderr(): string {
    return this.stderrTail;
  }

  async start(): Promise<void> {
    const transport = this.makeTransport();
    const client = new Client({ name: "tinkerloop", version: "0.1.0" });
    client.onclose = () => {
      if (this.client !== client) return;
      this.alive = false;
      this.lostReason ??= "the server closed the connection (its process exited)";
    };
    this.client = client;
    this.transport = transport;
    this.lostReason = undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer to initialize within ${this.opts.startTimeoutMs / 1000}s`)), this.opts.startTimeoutMs);
      });
      await Promise.race([client.connect(transport), timeout]);
      this.tools = await listAllTools(client);
      this.alive = true;
    } catch (err) {
      await this.close();
      // Give the dying process a moment to flush what it wrote to stderr.
      await new Promise((r) => setTimeout(r, 150));
      throw new ServerStartError(this.config.name, describeError(err), this.stderrTail);
    } finally {
      clearTimeout(timer);
    }
  }

  private makeTransport(): Transport {
    const c = this.config;
    if (c.kind === "http") {
      return new StreamableHTTPClientTransport(new URL(c.url), { requestInit: { headers: c.headers } });
    }
    const env: Record<string, string> = { ...getDefaultEnvironment() };
    for (const k of BASE_ENV_EXTRA) {
      const v = this.opts.env[k];
      if (v !== undefined) env[k] = v;
    }
    Object.assign(env, c.env);
    const transport = new StdioClientTransport({ command: c.command, args: c.args, env, cwd: c.cwd, stderr: "pipe" });
    transport.stderr?.on("data", (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL_BYTES);
      this.opts.onStderr?.(c.name, text);
    });
    return transport;
  }

  async call(name: string, args: unknown, timeoutMs: number, signal?: AbortSignal): Promise<ToolResult> {
    const client = this.client;
    if (!client || !this.alive) {
      return { content: `The '${this.config.name}' tool server is not running.`, isError: true };
    }
    const perCall = callSignal(signal);
    try {
      const res = await client.callTool({ name, arguments: (args ?? {}) as Record<string, unknown> }, undefined, {
        // The timeout is a watchdog: every progress notification restarts it.
        timeout: timeoutMs,
        resetTimeoutOnProgress: true,
        onprogress: (p) => this.opts.onProgress?.(this.config.name, name, p.message),
        signal: perCall.signal,
      });
      return fromCallResult(res as CallResultLike);
    } catch (err) {
      if (signal?.aborted) return { content: `Call to '${name}' was cancelled: the run is stopping.`, isError: true };
      if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) {
        // The server may still be busy with the hung call: stop it, so the next call gets a fresh one.
        this.lostReason = `a call to '${name}' hung for ${seconds(timeoutMs)} without progress and was abandoned`;
        await this.close();
        return {
          content:
            `Call to '${name}' showed no progress for ${seconds(timeoutMs)} and was abandoned; the '${this.config.name}' server is restarted on the next call. ` +
            `Try smaller work per call (fewer prompts or iterations), or raise the timeout in the MCP config.`,
          isError: true,
        };
      }
      if (!this.alive || (err instanceof McpError && err.code === ErrorCode.ConnectionClosed)) {
        this.alive = false;
        this.lostReason ??= "the connection closed during a call";
        return {
          content: `The '${this.config.name}' tool server stopped while running '${name}' (${this.lostReason}).`,
          isError: true,
        };
      }
      return { content: `Call to '${name}' failed: ${describeError(err)}`, isError: true };
    } finally {
      perCall.release();
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.alive = false;
    try {
      if (client) await client.close();
      else await this.transport?.close();
    } catch {
      // Closing a transport whose process already died can throw; nothing to do.
    }
    this.transport = undefined;
  }
}

type Route = { kind: "mcp"; server: ServerConnection; original: string } | { kind: "local"; provider: LocalToolProvider; original: string };

/**
 * All tools of a run behind one interface: MCP servers (stdio or HTTP) and in-process
 * providers. Tools keep their own names; where two sources offer the same name, both
 * are exposed as `source__name`.
 */
export class ToolHub implements ToolExecutor {
  tools: ToolSpec[] = [];
  private routes = new Map<string, Route>();
  private readonly defaultTimeoutMs: number;

  private constructor(
    private readonly servers: ServerConnection[],
    private readonly local: LocalToolProvider[],
    defaultTimeoutMs: number,
  ) {
    this.defaultTimeoutMs = defaultTimeoutMs;
  }

  /** Starts every server; if any fails, stops the others and throws its ServerStartError. */
  static async start(opts: HubOptions): Promise<ToolHub> {
    const connOpts = { env: opts.env, startTimeoutMs: opts.startTimeoutMs ?? 30_000, onStderr: opts.onStderr, onProgress: opts.onProgress };
    const servers = opts.servers.map((c) => new ServerConnection(c, connOpts));
    const outcomes = await Promise.allSettled(servers.map((s) => s.start()));
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
    if (failed) {
      await Promise.all(servers.map((s) => s.close()));
      throw failed.reason;
    }
    const hub = new ToolHub(servers, opts.local ?? [], opts.defaultCallTimeoutMs ?? 600_000);
    hub.buildRoutes();
    return hub;
  }

  /** Starts each server on its own and reports how it went, for `tinkerloop doctor`. */
  static async probe(opts: HubOptions): Promise<Array<{ name: string; ok: boolean; tools: string[]; error?: string }>> {
    const connOpts = { env: opts.env, startTimeoutMs: opts.startTimeoutMs ?? 30_000, onStderr: opts.onStderr };
    return Promise.all(
      opts.servers.map(async (c) => {
        const s = new ServerConnection(c, connOpts);
        try {
          await s.start();
          return { name: c.name, ok: true, tools: s.tools.map((t) => t.name) };
        } catch (err) {
          return { name: c.name, ok: false, tools: [], error: (err as Error).message };
        } finally {
          await s.close();
        }
      }),
    );
  }

  private buildRoutes(): void {
    const offers: Array<{ source: string; spec: Omit<ToolSpec, "name" | "source">; name: string; route: Route }> = [];
    for (const s of this.servers) {
      for (const t of s.tools) {
        offers.push({
          source: s.config.name,
          name: t.name,
          spec: {
            description: t.description ?? "",
            inputSchema: t.inputSchema,
            ...(t.outputSchema ? { outputSchema: t.outputSchema } : {}),
          },
          route: { kind: "mcp", server: s, original: t.name },
        });
      }
    }
    for (const p of this.local) {
      for (const t of p.tools) {
        offers.push({ source: p.source, name: t.name, spec: t, route: { kind: "local", provider: p, original: t.name } });
      }
    }
    const count = new Map<string, number>();
    for (const o of offers) count.set(o.name, (count.get(o.name) ?? 0) + 1);
    this.tools = [];
    this.routes.clear();
    for (const o of offers) {
      const exposed = (count.get(o.name) ?? 0) > 1 ? `${o.source}__${o.name}` : o.name;
      this.tools.push({
        name: exposed,
        description: o.spec.description,
        inputSchema: o.spec.inputSchema,
        ...(o.spec.outputSchema ? { outputSchema: o.spec.outputSchema } : {}),
        source: o.source,
      });
      this.routes.set(exposed, o.route);
    }
  }

  async call(name: string, input: unknown, opts: ToolCallOptions = {}): Promise<ToolResult> {
    const route = this.routes.get(name);
    if (!route) return { content: `There is no tool named '${name}'.`, isError: true };
    if (route.kind === "local") {
      try {
        return await route.provider.call(route.original, input, opts);
      } catch (err) {
        return { content: `Tool '${name}' failed: ${describeError(err)}`, isError: true };
      }
    }
    const server = route.server;
    let prefix = "";
    if (!server.alive) {
      // A fresh client for every reconnect: a closed one cannot be reused.
      const why = server.lostReason ?? "it was not running";
      try {
        await server.start();
        prefix =
          `[harness] The '${server.config.name}' server had stopped (${why}) and was restarted; ` +
          `any state it held, such as an open training session, was lost.\n`;
      } catch (err) {
        return {
          content: `The '${server.config.name}' tool server stopped (${why}) and could not be restarted: ${(err as Error).message}`,
          isError: true,
        };
      }
    }
    const timeoutMs = opts.timeoutMs ?? this.timeoutFor(server.config, route.original);
    const result = await server.call(route.original, input, timeoutMs, opts.signal);
    return prefix ? { ...result, content: prefix + result.content, restarted: true } : result;
  }

  private timeoutFor(config: ServerConfig, tool: string): number {
    const seconds = config.timeouts[tool] ?? config.timeouts["*"];
    return seconds !== undefined ? seconds * 1000 : this.defaultTimeoutMs;
  }

  /** The stderr tail of a server (for diagnostics). */
  stderrOf(server: string): string {
    return this.servers.find((s) => s.config.name === server)?.stderr ?? "";
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.close()));
  }
}

async function listAllTools(client: Client): Promise<RemoteTool[]> {
  const tools: RemoteTool[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listTools(cursor ? { cursor } : undefined);
    for (const t of page.tools) {
      tools.push({
        name: t.name,
        ...(t.description ? { description: t.description } : {}),
        inputSchema: t.inputSchema as Record<string, unknown>,
        ...(t.outputSchema ? { outputSchema: t.outputSchema as Record<string, unknown> } : {}),
      });
    }
    cursor = page.nextCursor;
  } while (cursor);
  return tools;
}

type CallResultLike = {
  content?: Array<{ type: string; text?: string; mimeType?: string; resource?: { uri?: string; text?: string } }>;
  structuredContent?: unknown;
  isError?: boolean;
  toolResult?: unknown;
  _meta?: Record<string, unknown>;
};

function fromCallResult(res: CallResultLike): ToolResult {
  const parts = (res.content ?? []).map((c) => {
    if (c.type === "text") return c.text ?? "";
    if (c.type === "resource") return c.resource?.text ?? `[resource ${c.resource?.uri ?? ""}]`;
    return `[${c.type}${c.mimeType ? ` ${c.mimeType}` : ""} omitted]`;
  });
  let content = parts.join("\n");
  if (!content && res.structuredContent !== undefined) content = JSON.stringify(res.structuredContent, null, 2);
  if (!content && res.toolResult !== undefined) content = JSON.stringify(res.toolResult);
  return {
    content,
    isError: res.isError === true,
    ...(res.structuredContent !== undefined ? { structured: res.structuredContent } : {}),
    ...(res._meta && typeof res._meta === "object" && Object.keys(res._meta).length ? { meta: res._meta } : {}),
  };
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

function lastLines(text: string, n: number): string {
  return text.trimEnd().split("\n").slice(-n).join("\n");
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");
}

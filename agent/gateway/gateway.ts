/** `tinkerloop mcp`: the guarded tool hub served as one MCP server to an external agent (stdio, or Streamable HTTP on 127.0.0.1). */
import path from "node:path";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { Env, RunConfig } from "../config/run-config.ts";
import { loadServers, newRunId } from "../config/run-config.ts";
import { UserError } from "../core/errors.ts";
import { buildSystemPrompt } from "../config/system-prompt.ts";
import { warmPageScript } from "../report/page.ts";
import { RunSession } from "../session/run-session.ts";
import { loadPrices } from "../spend/prices-file.ts";
import { runPrices } from "../spend/setup.ts";
import { GatewayRun } from "./gateway-run.ts";
import { MIN_TOKEN_LENGTH, newToken, serveHttp } from "./http.ts";
import { gatewayServer } from "./mcp-server.ts";
import { refuseSelfStart } from "./self-start.ts";

import { AGENT_GONE_MS, TOKEN_ENV } from "./defaults.ts";

export { TOKEN_ENV };

export type GatewayOptions = {
  /** Serve Streamable HTTP on this 127.0.0.1 port (0: a free one) instead of stdio. */
  httpPort?: number;
  /** Everything the gateway says goes here (stderr: over stdio, stdout carries the protocol). */
  out: (line: string) => void;
  /** Tripped by Ctrl-C or SIGTERM: the run stops gracefully. */
  signal: AbortSignal;
  /** Over HTTP: how long the agent's session may have no open request before the agent counts as gone (default AGENT_GONE_MS). */
  agentGoneMs?: number;
};

/** The seed prompt the agent should follow, filled with PROMPT and MODEL. */
export function seedPrompt(cfg: RunConfig) {
  return buildSystemPrompt(cfg.templatePath, cfg.prompt, cfg.model);
}

/** How long a new agent's initialize waits, over HTTP, for the last run's wrap-up and the next run's start before it is told busy. */
const NEXT_RUN_WAIT_MS = 120_000;

/** The run after `cfg`'s on an HTTP gateway: a new run id, and a new folder beside the last one. */
export function nextRunConfig(cfg: RunConfig, n: number): RunConfig {
  const runId = newRunId();
  const dir = path.dirname(cfg.runDir);
  // runs/<id> (the default) becomes runs/<new id>; a folder the user named gets a numbered sibling.
  const runDir = path.basename(cfg.runDir) === cfg.runId ? path.join(dir, runId) : `${cfg.runDir}-${n}`;
  return { ...cfg, runId, runDir };
}

/** Opens a run's session (tool servers, listeners, run directory) and the GatewayRun an agent drives. */
async function openRun(cfg: RunConfig, env: Env, o: GatewayOptions): Promise<GatewayRun> {
  let run: GatewayRun | undefined;
  const session = await RunSession.open(
    cfg,
    env,
    { out: o.out, signal: o.signal },
    {
      prices: runPrices(cfg, undefined, loadPrices(cfg.pricesFile)),
      onProgress: (_server, _tool, message) => run?.forwardProgress(message),
    },
  );
  run = new GatewayRun(session, seedPrompt(cfg), o.out);
  // After the agent's initialize has its answer (the bundling blocks for a second or two).
  setTimeout(warmPageScript, 0);
  return run;
}

/**
 * Serves runs to agents. Over stdio: one run, ended when the agent disconnects (or calls
 * finish(), or the gateway is stopped). Over HTTP: one agent at a time; when its run has
 * ended and its session is over (closed, or gone for agentGoneMs), the next run opens for
 * the next agent, until the gateway is stopped. Resolves with the last run's exit code.
 */
export async function runGateway(cfg: RunConfig, env: Env, o: GatewayOptions): Promise<number> {
  const fixedToken = env[TOKEN_ENV];
  if (o.httpPort !== undefined && fixedToken !== undefined && fixedToken.length < MIN_TOKEN_LENGTH) {
    throw new UserError(
      `${TOKEN_ENV} is shorter than ${MIN_TOKEN_LENGTH} characters.`,
      `Use a long random value (e.g. openssl rand -base64 32), or unset it for a fresh token.`,
    );
  }
  refuseSelfStart(cfg.mcpConfigPath ? loadServers(cfg.mcpConfigPath, env) : [], cfg.mcpConfigPath, env);
  const first = await openRun(cfg, env, o);
  return o.httpPort === undefined ? serveStdio(first, o) : serveRunsOverHttp(first, cfg, env, { ...o, httpPort: o.httpPort });
}

/** One run to the agent that started the gateway over stdio. */
async function serveStdio(gw: GatewayRun, o: GatewayOptions): Promise<number> {
  const ended = new Promise<number>((resolve) => gw.whenEnded(resolve));
  let agentGone!: () => void;
  const gone = new Promise<void>((resolve) => (agentGone = resolve));
  const stopped = new Promise<void>((resolve) => onAbort(o.signal, resolve));
  onAbort(o.signal, () => void gw.end("aborted", "the gateway was stopped"));
  const leave = (detail: string) => {
    void gw.end("aborted", detail);
    agentGone();
  };
  gw.whenEnded(() => o.out("the run has ended; the gateway stops when the agent disconnects."));
  const transport = new StdioServerTransport();
  process.stdin.once("end", () => leave("the agent disconnected without calling finish()"));
  transport.onclose = () => leave("the agent disconnected without calling finish()");
  await gatewayServer(gw).connect(transport);
  o.out("gateway: serving MCP over stdio");
  await Promise.race([gone, stopped]);
  const code = await ended;
  await transport.close().catch(() => undefined);
  return code;
}

/** Runs one after another over HTTP, one agent at a time, until the gateway is stopped. */
async function serveRunsOverHttp(first: GatewayRun, cfg: RunConfig, env: Env, o: GatewayOptions & { httpPort: number }): Promise<number> {
  const goneAfterMs = o.agentGoneMs ?? AGENT_GONE_MS;
  let current = first;
  let runs = 1;
  let lastCode = 0;
  let opening: Promise<void> | undefined;
  const fixedToken = env[TOKEN_ENV];
  /** After a run has ended and its agent's session is over, the next run opens (unless the gateway is stopping). */
  const openNext = () => {
    if (opening || o.signal.aborted || !current.endReason) return;
    runs++;
    const next = nextRunConfig(cfg, runs);
    opening = openRun(next, env, o)
      .then((gw) => {
        current = gw;
        watch(gw);
        for (const w of waiting) w();
        waiting = [];
        o.out(`next run: ${gw.runDir}, for the next agent`);
      })
      .catch((err: unknown) => o.out(`the next run could not open (${(err as Error).message.split("\n")[0]}); stop the gateway (Ctrl-C) and start it again`))
      .finally(() => (opening = undefined));
  };
  let waiting: Array<() => void> = [];
  const nextRun = () =>
    new Promise<void>((resolve, reject) => {
      if (!current.closing) return resolve();
      waiting.push(resolve);
      setTimeout(() => reject(new Error("the next run did not open in time")), NEXT_RUN_WAIT_MS).unref();
    });
  const watch = (gw: GatewayRun) =>
    gw.whenEnded((code) => {
      lastCode = code;
      if (!http.held()) openNext();
    });
  const leave = (detail: string) => {
    if (current.endReason) openNext();
    else void current.end("aborted", detail);
  };
  const http = await serveHttp(() => current, {
    port: o.httpPort,
    token: fixedToken ?? newToken(),
    onClosed: () => leave("the agent closed its session without calling finish()"),
    goneAfterMs,
    onGone: () => leave(`the agent's connection closed and stayed gone for ${Math.round(goneAfterMs / 1000)} s, without finish()`),
    nextRun,
  });
  watch(first);
  o.out(`gateway: ${http.url}  (Streamable HTTP, 127.0.0.1 only)`);
  o.out(fixedToken ? `token: the value of ${TOKEN_ENV}` : `token: ${http.token}`);
  o.out(`send it as: Authorization: Bearer <token>`);
  o.out(
    `an agent that leaves without finish() (its session closed, or no request open for ${Math.round(goneAfterMs / 1000)} s) ends its run; the next agent gets a new run`,
  );
  await new Promise<void>((resolve) => onAbort(o.signal, resolve));
  await opening;
  if (!current.endReason) await current.end("aborted", "the gateway was stopped");
  lastCode = await new Promise<number>((resolve) => current.whenEnded(resolve));
  await http.close().catch(() => undefined);
  return lastCode;
}

/** Runs `fn` when the signal trips, or at once when it has already (a signal during the tool servers' start). */
function onAbort(signal: AbortSignal, fn: () => void): void {
  if (signal.aborted) fn();
  else signal.addEventListener("abort", fn, { once: true });
}

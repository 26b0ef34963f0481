/** `tinkerloop mcp`: the guarded tool hub served as one MCP server to an external agent (stdio, or Streamable HTTP on 127.0.0.1). */
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { Env, RunConfig } from "../config.ts";
import { loadServers } from "../config.ts";
import { UserError } from "../errors.ts";
import { buildSystemPrompt } from "../prompt.ts";
import { RunSession } from "../run-session.ts";
import { loadPrices } from "../spend/prices-file.ts";
import { runPrices } from "../spend/setup.ts";
import { GatewayRun } from "./gateway-run.ts";
import { MIN_TOKEN_LENGTH, newToken, serveHttp } from "./http.ts";
import { gatewayServer } from "./mcp-server.ts";
import { refuseSelfStart } from "./self-start.ts";

import { AGENT_GONE_MS, TOKEN_ENV } from "./defaults.ts";

export { TOKEN_ENV };

/** Over HTTP, how long the gateway keeps answering (every call refused) after its run ended. */
export const ENDED_GRACE_MS = 3000;

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

/** Serves one run to one agent; resolves with the run's exit code once the agent has gone (or the gateway was stopped). */
export async function runGateway(cfg: RunConfig, env: Env, o: GatewayOptions): Promise<number> {
  const prompt = seedPrompt(cfg);
  const fixedToken = env[TOKEN_ENV];
  if (o.httpPort !== undefined && fixedToken !== undefined && fixedToken.length < MIN_TOKEN_LENGTH) {
    throw new UserError(
      `${TOKEN_ENV} is shorter than ${MIN_TOKEN_LENGTH} characters.`,
      `Use a long random value (e.g. openssl rand -base64 32), or unset it for a fresh token.`,
    );
  }
  refuseSelfStart(cfg.mcpConfigPath ? loadServers(cfg.mcpConfigPath, env) : [], cfg.mcpConfigPath, env);
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
  const gw = new GatewayRun(session, prompt, o.out);
  run = gw;
  const ended = new Promise<number>((resolve) => gw.whenEnded(resolve));
  let agentGone!: () => void;
  const gone = new Promise<void>((resolve) => (agentGone = resolve));
  const stopped = new Promise<void>((resolve) => o.signal.addEventListener("abort", () => resolve(), { once: true }));
  o.signal.addEventListener("abort", () => void gw.end("aborted", "the gateway was stopped"), { once: true });
  const leave = (detail: string) => {
    void gw.end("aborted", detail);
    agentGone();
  };
  gw.whenEnded(() => {
    if (o.httpPort === undefined) return o.out("the run has ended; the gateway stops when the agent disconnects.");
    // Over HTTP nothing says the agent has gone: it has the last answer by now, so the gateway stops shortly.
    o.out(`the run has ended; the gateway stops in ${ENDED_GRACE_MS / 1000} s.`);
    setTimeout(agentGone, ENDED_GRACE_MS).unref();
  });

  let close: () => Promise<void>;
  if (o.httpPort !== undefined) {
    const http = await serveHttp(gw, {
      port: o.httpPort,
      token: fixedToken ?? newToken(),
      onClosed: () => leave("the agent closed its session without calling finish()"),
      goneAfterMs: o.agentGoneMs ?? AGENT_GONE_MS,
      onGone: () => leave(`the agent's connection closed and stayed gone for ${Math.round((o.agentGoneMs ?? AGENT_GONE_MS) / 1000)} s, without finish()`),
    });
    o.out(`gateway: ${http.url}  (Streamable HTTP, 127.0.0.1 only)`);
    o.out(fixedToken ? `token: the value of ${TOKEN_ENV}` : `token: ${http.token}`);
    o.out(`send it as: Authorization: Bearer <token>`);
    close = http.close;
  } else {
    const transport = new StdioServerTransport();
    process.stdin.once("end", () => leave("the agent disconnected without calling finish()"));
    transport.onclose = () => leave("the agent disconnected without calling finish()");
    await gatewayServer(gw).connect(transport);
    o.out("gateway: serving MCP over stdio");
    close = () => transport.close();
  }
  await Promise.race([gone, stopped]);
  const code = await ended;
  await close().catch(() => undefined);
  return code;
}

import crypto from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { UserError } from "../core/errors.ts";
import type { GatewayRun } from "./gateway-run.ts";
import { gatewayServer } from "./mcp-server.ts";

export const GATEWAY_PATH = "/mcp";
import { GATEWAY_DEFAULT_PORT } from "./defaults.ts";

export { GATEWAY_DEFAULT_PORT };
/** A token from the environment must be at least this long; a shorter one is refused at start. */
export const MIN_TOKEN_LENGTH = 16;
const MAX_BODY_BYTES = 8 * 1024 * 1024;

export type HttpGateway = {
  url: string;
  token: string;
  /** Whether an agent's session is open (it holds the current run, or still the one that ended). */
  held(): boolean;
  close(): Promise<void>;
};

/** A fresh random bearer token (256 bits): one declaration for the gateway and the live view. */
export { newToken } from "../secrets/access-token.ts";

/**
 * Streamable HTTP on 127.0.0.1 only, every request with `Authorization: Bearer <token>`
 * (compared in constant time), the Host header a loopback name (no DNS rebinding).
 * One agent session at a time: the run, its MODEL, budget, training session and
 * transcript belong to one researcher, so a second client's initialize is refused as
 * busy (HTTP 409) while the first holds the run, and while the next run is opening.
 * `onClosed` is told when the agent ends its session (HTTP DELETE), `onGone` when the session
 * has had no request open (no call, no event stream) for `goneAfterMs`: the clients close
 * without a DELETE when they exit, and a live one keeps its event stream open between calls.
 */
export async function serveHttp(
  current: () => GatewayRun,
  o: {
    port: number;
    token: string;
    onClosed: () => void;
    onGone: () => void;
    goneAfterMs: number;
    /** Resolves when a run an agent may take is current (after the last one's wrap-up and the next one's start). */
    nextRun: () => Promise<void>;
  },
): Promise<HttpGateway> {
  let transport: StreamableHTTPServerTransport | undefined;
  let since: Date | undefined;
  let openRequests = 0;
  /** The agent's session is over: its transport is let go (a later initialize may take the next run). */
  const release = () => {
    const t = transport;
    transport = undefined;
    since = undefined;
    clearTimeout(goneTimer);
    if (t) {
      t.onclose = undefined;
      void t.close().catch(() => undefined);
    }
  };
  let goneTimer: NodeJS.Timeout | undefined;
  /** Counts a request of the session while it is open; the last one to close starts the clock. */
  const track = (res: http.ServerResponse) => {
    openRequests++;
    clearTimeout(goneTimer);
    res.once("close", () => {
      openRequests--;
      if (openRequests > 0 || !transport) return;
      clearTimeout(goneTimer);
      goneTimer = setTimeout(() => {
        if (openRequests > 0 || !transport) return;
        release();
        o.onGone();
      }, o.goneAfterMs);
    });
  };
  const expected = Buffer.from(o.token);
  let port = o.port;

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) reply(res, 500, `internal error: ${(err as Error).message}`);
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const host = (req.headers.host ?? "").toLowerCase();
    if (![`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(host))
      return reply(res, 403, "forbidden: this gateway answers only to 127.0.0.1 and localhost.");
    const url = new URL(req.url ?? "/", `http://${host}`);
    if (url.pathname !== GATEWAY_PATH) return reply(res, 404, `not found: the MCP endpoint is ${GATEWAY_PATH}.`);
    // The scheme is case-insensitive (RFC 7235); the token is compared in constant time.
    const given = Buffer.from(/^bearer +(.*)$/i.exec(req.headers.authorization ?? "")?.[1] ?? "");
    if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
      res.setHeader("WWW-Authenticate", 'Bearer realm="tinkerloop"');
      return reply(res, 401, "unauthorized: send the token this gateway printed at start, as Authorization: Bearer <token>.");
    }
    let body: unknown;
    if (req.method === "POST") {
      const raw = await readBody(req);
      if (raw === undefined) {
        res.setHeader("connection", "close");
        return reply(res, 413, `request too large (over ${MAX_BODY_BYTES} bytes).`);
      }
      try {
        body = JSON.parse(raw);
      } catch {
        return reply(res, 400, "parse error: the body is not JSON.", -32700);
      }
      const initializing = Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body);
      // The last agent's run is still being wrapped up, or the next one is opening: this agent waits for it.
      if (initializing && !transport && current().closing) await o.nextRun().catch(() => undefined);
      const run = current();
      if (initializing && (transport || run.closing)) {
        const why = transport
          ? `this gateway serves one agent at a time, and ${run.holder ?? "another agent"} has held its run (${run.runDir}) since ${since?.toISOString() ?? "now"}${run.endReason ? `; that run has ended (${run.endReason}), and the next one opens when its session is over` : ""}. Start another tinkerloop mcp --http (another port, its own run dir) for a second agent at once.`
          : `this gateway's run is ${run.endReason ? `over (${run.endReason})` : "being wrapped up"} (its record is in ${run.runDir}) and the next run is opening; try again in a few seconds.`;
        return reply(res, 409, `busy: ${why}`);
      }
      if (initializing) {
        since = new Date();
        const t = new StreamableHTTPServerTransport({ sessionIdGenerator: () => crypto.randomUUID() });
        t.onclose = () => {
          if (transport !== t) return;
          release();
          o.onClosed();
        };
        transport = t;
        await gatewayServer(run).connect(t);
        track(res);
        await t.handleRequest(req, res, body);
        // An initialize the transport refused (bad headers or body) holds nothing: the next one may try again.
        if (t.sessionId === undefined) {
          transport = undefined;
          since = undefined;
          t.onclose = undefined;
          await t.close().catch(() => undefined);
        }
        return;
      }
    }
    if (!transport) return reply(res, 400, "no session: send initialize first.");
    track(res);
    await transport.handleRequest(req, res, body);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new UserError(`Port ${o.port} on 127.0.0.1 is already in use.`, "Pick another with --http <port>, or 0 for a free one.")
          : err,
      ),
    );
    server.listen(o.port, "127.0.0.1", () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${GATEWAY_PATH}`,
    token: o.token,
    held: () => transport !== undefined,
    close: async () => {
      clearTimeout(goneTimer);
      await transport?.close().catch(() => undefined);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A JSON-RPC error answer with an HTTP status. */
function reply(res: http.ServerResponse, status: number, message: string, code = -32000): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }));
}

function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        // Stop keeping it, but let it drain, so the 413 reaches the client (destroying the request would reset the connection first).
        req.off("data", onData);
        req.resume();
        resolve(undefined);
        return;
      }
      chunks.push(c);
    };
    req.on("data", onData);
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

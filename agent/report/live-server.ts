/**
 * The live view: the report page served over HTTP, kept current with server-sent
 * events from the transcript as it grows. Loopback only unless the user names a host;
 * requests whose Host header names another site are refused (DNS rebinding), and every
 * request must carry the view's token (printed in its address, like the gateway's), so
 * another local user — or a page in the browser — cannot read the run.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { UserError } from "../core/errors.ts";
import { newToken, tokenEquals } from "../secrets/access-token.ts";
import type { RecordedEvent } from "../transcript/transcript.ts";
import { ReportFolder } from "./model.ts";
import { renderPage } from "./page.ts";
import { runLayout } from "../../lib/run-layout.ts";
import { TranscriptTail } from "./tail.ts";

export const LIVE_DEFAULTS = { port: 8765, host: "127.0.0.1", pollMs: 300, keepAliveMs: 15_000 } as const;

const EVENTS_PATH = "/events";

export type LiveServer = { url: string; port: number; token: string; close: () => Promise<void> };

export type LiveOptions = { runDir: string; port?: number; host?: string; pollMs?: number; token?: string };

/** The token in `?token=` (a browser's address) or `Authorization: Bearer` (a script). */
function tokenMatches(req: http.IncomingMessage, url: URL, expected: string): boolean {
  return tokenEquals(url.searchParams.get("token") ?? /^bearer +(.*)$/i.exec(req.headers.authorization ?? "")?.[1] ?? "", expected);
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

/** Host header names this server answers to: loopback names, or the host the user bound. */
function hostAllowed(header: string | undefined, boundHost: string): boolean {
  if (!header) return false;
  const name = header.startsWith("[") ? header.slice(0, header.indexOf("]") + 1) : header.replace(/:\d+$/, "");
  if (LOOPBACK.has(name)) return true;
  if (!LOOPBACK.has(boundHost)) return true; // the user chose to expose it: any name that reaches it
  return false;
}

/** Starts serving `runDir`; fails with a UserError when the port is taken. */
export async function startLiveServer(o: LiveOptions): Promise<LiveServer> {
  const host = o.host ?? LIVE_DEFAULTS.host;
  const port = o.port ?? LIVE_DEFAULTS.port;
  const token = o.token ?? newToken();
  const eventsPath = `${EVENTS_PATH}?token=${encodeURIComponent(token)}`;
  const tail = new TranscriptTail(runLayout(o.runDir).transcript);
  const events: RecordedEvent[] = [];
  const clients = new Set<http.ServerResponse>();

  const send = (res: http.ServerResponse, e: RecordedEvent) => res.write(`id: ${e.seq}\ndata: ${JSON.stringify(e)}\n\n`);
  const pump = () => {
    const fresh = tail.poll();
    if (!fresh.length) return;
    events.push(...fresh);
    for (const res of clients) for (const e of fresh) send(res, e);
  };
  pump();
  const poller = setInterval(pump, o.pollMs ?? LIVE_DEFAULTS.pollMs);
  const keepAlive = setInterval(() => {
    for (const res of clients) res.write(": keep-alive\n\n");
  }, LIVE_DEFAULTS.keepAliveMs);

  const server = http.createServer((req, res) => {
    if (!hostAllowed(req.headers.host, host)) {
      res.writeHead(421, { "content-type": "text/plain" }).end("This live view answers only to its own address.\n");
      return;
    }
    const url = new URL(req.url ?? "/", "http://live.invalid");
    if (!tokenMatches(req, url, token)) {
      res.writeHead(401, { "content-type": "text/plain" }).end("This live view needs its token: open the address tinkerloop printed (it ends in ?token=…).\n");
      return;
    }
    if (req.method !== "GET") {
      res.writeHead(405, { allow: "GET" }).end();
      return;
    }
    if (url.pathname === "/") {
      pump();
      const model = new ReportFolder().applyAll(events);
      res.writeHead(200, {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
      });
      res.end(renderPage({ kind: "run", model, live: { events: eventsPath } }, `tinkerloop live · ${model.runId || "waiting for the run"}`));
      return;
    }
    if (url.pathname === EVENTS_PATH) {
      const after = Number(req.headers["last-event-id"] ?? url.searchParams.get("after") ?? 0) || 0;
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        connection: "keep-alive",
      });
      res.write("retry: 1000\n\n");
      pump();
      for (const e of events) if (e.seq > after) send(res, e);
      clients.add(res);
      req.on("close", () => clients.delete(res));
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("Not found: the live view serves / and /events.\n");
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      clearInterval(poller);
      clearInterval(keepAlive);
      if (err.code === "EADDRINUSE") {
        reject(
          new UserError(
            `Port ${port} on ${host} is already in use (another run or watch is probably being served there).`,
            `Choose another port: --serve <port> for run, --port <port> for watch (0 picks a free one).`,
          ),
        );
      } else if (err.code === "EADDRNOTAVAIL" || err.code === "ENOTFOUND") {
        reject(new UserError(`Cannot listen on ${host}: no such local address.`, "Give --host an address of this machine (default 127.0.0.1)."));
      } else if (err.code === "EACCES") {
        reject(new UserError(`Not allowed to listen on port ${port}.`, "Choose a port above 1023."));
      } else reject(err);
    });
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${bound}/?token=${encodeURIComponent(token)}`,
    port: bound,
    token,
    close: async () => {
      clearInterval(poller);
      clearInterval(keepAlive);
      pump();
      for (const res of clients) {
        res.write("event: closing\ndata: {}\n\n");
        res.end();
      }
      clients.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

const portShape = z.coerce
  .number({ error: "the port must be a number" })
  .int("the port must be a whole number")
  .min(0, "the port must be 0-65535")
  .max(65535, "the port must be 0-65535");

/** `--serve [port]` (true when given bare) or `--port <n>`, and `--host`, validated. */
export function liveOptionsFrom(flags: { serve?: string | boolean; port?: string; host?: string }): { port: number; host: string } | undefined {
  const raw = flags.port ?? flags.serve;
  if (raw === undefined || raw === false) return undefined;
  const port = raw === true ? { success: true as const, data: LIVE_DEFAULTS.port } : portShape.safeParse(raw);
  if (!port.success)
    throw new UserError(
      `${flags.port !== undefined ? "--port" : "--serve"} ${String(raw)}: ${port.error.issues[0]?.message ?? "not a port"}.`,
      `e.g. --serve ${LIVE_DEFAULTS.port}, or 0 for any free port.`,
    );
  const host = flags.host ?? LIVE_DEFAULTS.host;
  if (!host.trim()) throw new UserError("--host is empty.", "Give an address of this machine, e.g. --host 0.0.0.0 to be reachable from other machines.");
  return { port: port.data, host };
}

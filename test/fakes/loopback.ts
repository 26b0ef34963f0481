import http from "node:http";
import type { AddressInfo } from "node:net";

/** An HTTP server listening on a free loopback port, as every fake service in these tests does. */
export type LoopbackServer = {
  /** `http://127.0.0.1:<port>`, without a trailing slash. */
  origin: string;
  /** Drops open (keep-alive) connections too, so a test never waits on a client's socket. */
  close(): Promise<void>;
};

export async function listenOnLoopback(handler: http.RequestListener): Promise<LoopbackServer> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The whole request body as text. */
export async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

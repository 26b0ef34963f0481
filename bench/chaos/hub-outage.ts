/**
 * A Hugging Face Hub that goes down on command: a loopback proxy in front of the Hub fake
 * (test/fakes/hf-hub-server.ts) that answers 503 while `down`, and forwards otherwise.
 */
import http from "node:http";
import { listenOnLoopback, readBody } from "../../test/fakes/loopback.ts";
import type { LoopbackServer } from "../../test/fakes/loopback.ts";

export class HubWithOutages {
  down = false;
  /** Requests answered 503 during outages. */
  refused = 0;
  private constructor(private readonly server: LoopbackServer) {}

  static async start(upstream: string): Promise<HubWithOutages> {
    let self!: HubWithOutages;
    const server = await listenOnLoopback(async (req, res) => {
      const body = await readBody(req);
      if (self.down) {
        self.refused++;
        res.writeHead(503, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: "Service Unavailable (chaos: Hub outage)" }));
        return;
      }
      const up = http.request(`${upstream}${req.url ?? "/"}`, { method: req.method, headers: { ...req.headers, host: new URL(upstream).host } }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on("error", () => {
        res.writeHead(502);
        res.end();
      });
      up.end(body);
    });
    self = new HubWithOutages(server);
    return self;
  }

  get url(): string {
    return this.server.origin;
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

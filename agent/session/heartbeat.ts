import { replaceFile } from "../../lib/run-file-writes.ts";
import type { EventListener, RunEvent } from "../core/events.ts";

/**
 * Keeps `progress.txt` in the run directory current: rewritten on every event, and at
 * least every `intervalMs` while a long call runs, so a person or a watchdog outside
 * the process can tell a slow run from a dead one.
 */
export class Heartbeat implements EventListener {
  private last = "starting";
  private lastAt = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly file: string,
    private readonly intervalMs = 30_000,
  ) {}

  start(): void {
    this.write();
    this.timer = setInterval(() => this.write(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.write();
  }

  /** A progress notification from a tool server. */
  progress(server: string, tool: string, message: string | undefined): void {
    this.note(`${server}/${tool}: ${message ?? "working"}`);
  }

  on(event: RunEvent): void {
    const turn = "turn" in event ? ` turn ${event.turn}` : "";
    const what = event.type === "tool" || event.type === "guard" ? ` ${event.name}` : event.type === "end" ? ` ${event.reason}` : "";
    this.note(`${event.type}${turn}${what}`);
  }

  private note(text: string): void {
    this.last = text;
    this.lastAt = Date.now();
    this.write();
  }

  private write(): void {
    const age = Math.round((Date.now() - this.lastAt) / 1000);
    try {
      replaceFile(this.file, `${new Date().toISOString()} pid ${process.pid} · last: ${this.last} (${age}s ago)\n`);
    } catch {
      // A heartbeat that cannot be written must not stop the run.
    }
  }
}

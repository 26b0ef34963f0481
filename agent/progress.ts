import { textOf, toolUses } from "./conversation.ts";
import type { Redactor } from "./redact.ts";
import type { TranscriptEvent, TranscriptSink } from "./transcript.ts";

type CallMark = { name: string; mark: string };

/**
 * Prints one line per turn (turn number, elapsed time, tool calls and how each
 * went) by watching the events on their way to the transcript.
 */
export class ProgressPrinter implements TranscriptSink {
  private calls: CallMark[] = [];
  private turnText = "";
  private turn = 0;

  constructor(
    private readonly inner: TranscriptSink,
    private readonly write: (line: string) => void,
    private readonly redactor: Redactor,
    private readonly startedAt: number,
    private readonly now: () => number = Date.now,
  ) {}

  append(event: TranscriptEvent): void {
    this.inner.append(event);
    switch (event.type) {
      case "assistant": {
        this.turn = event.turn;
        this.calls = [];
        this.turnText = textOf(event.content).split("\n").find((l) => l.trim()) ?? "";
        if (event.stopReason === "error") this.line(`planner error: ${event.error ?? "unknown"}`);
        else if (toolUses(event.content).length === 0) this.line(`(no tool call) ${clip(this.turnText, 70)}`);
        break;
      }
      case "guard":
        if (event.decision.action === "reject") this.calls.push({ name: event.name, mark: "⊘ rejected" });
        else if (event.decision.action === "stop") this.calls.push({ name: event.name, mark: "⊘ stop" });
        else if (event.decision.action === "rewrite") this.calls.push({ name: event.name, mark: "rewritten" });
        break;
      case "tool": {
        const prior = this.calls.find((c) => c.name === event.name && c.mark === "rewritten");
        const mark = `${event.isError ? "✗" : "✓"} ${(event.ms / 1000).toFixed(1)}s`;
        if (prior) prior.mark = `${mark} (rewritten)`;
        else this.calls.push({ name: event.name, mark });
        break;
      }
      case "user":
        if (event.turn > 0 && this.calls.length > 0) {
          this.line(this.calls.map((c) => `${c.name} ${c.mark}`).join(" · "));
          this.calls = [];
        }
        break;
      case "end":
        break;
      default:
        break;
    }
  }

  private line(body: string): void {
    const elapsed = ((this.now() - this.startedAt) / 1000).toFixed(1).padStart(7);
    this.write(this.redactor.text(`turn ${String(this.turn).padStart(3)} ${elapsed}s  ${body}`));
  }
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

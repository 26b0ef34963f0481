import { textOf, toolUses } from "./conversation.ts";
import type { Redactor } from "./redact.ts";
import type { EventListener, RunEvent } from "./events.ts";

type CallMark = { name: string; mark: string };

/**
 * Prints one line per turn (turn number, elapsed time, tool calls and how each
 * went) by watching the events on their way to the transcript.
 */
export class ProgressPrinter implements EventListener {
  private calls: CallMark[] = [];
  private turnText = "";
  private turn = 0;

  constructor(
    private readonly write: (line: string) => void,
    private readonly redactor: Redactor,
    private readonly startedAt: number,
    private readonly now: () => number = Date.now,
    /** The run's spend so far, shown at the end of each line (nothing for a run that spends nothing). */
    private readonly spend?: () => string | undefined,
  ) {}

  on(event: RunEvent): void {
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
        const mark = `${event.isError ? "✗" : "✓"} ${(event.ms / 1000).toFixed(1)}s${event.isError ? "" : metricsNote(event.structured)}`;
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
    const spent = this.spend?.();
    this.write(this.redactor.text(`turn ${String(this.turn).padStart(3)} ${elapsed}s  ${body}${spent ? `  · spend ${spent}` : ""}`));
  }
}

/** Training and holdout numbers worth a glance in the progress line. */
function metricsNote(s: unknown): string {
  const x = s as Record<string, any> | undefined;
  if (!x || typeof x !== "object") return "";
  if (x.method === "grpo" && Array.isArray(x.iterations) && x.iterations.length) {
    const it = x.iterations[x.iterations.length - 1];
    const g = it.groups ?? {};
    return ` [iter ${it.iteration}: reward ${Number(it.reward_mean).toFixed(3)}, mixed/ALL-0/ALL-1 ${g.mixed}/${g.all_zero}/${g.all_one}]`;
  }
  if (x.method === "sft" && Array.isArray(x.epochs) && x.epochs.length) {
    const e = x.epochs[x.epochs.length - 1];
    return ` [epoch ${e.epoch}: train ${Number(e.train_loss).toFixed(3)}${e.val_loss === null ? "" : `, val ${Number(e.val_loss).toFixed(3)}`}]`;
  }
  if (typeof x.mean_reward === "number") return ` [holdout ${(x.mean_reward * 100).toFixed(1)}% over ${x.scored}]`;
  return "";
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

import { textOf, toolUses } from "../core/conversation.ts";
import type { Redactor } from "../secrets/redactor.ts";
import type { EventListener, RunEvent } from "../core/events.ts";
import { pct } from "../../lib/format.ts";
import { grpoStepResult, sampleResult, sftStepResult } from "../../tools/contracts/tinker-results.ts";
import { readResult } from "../../tools/contracts/tool-results.ts";
import { HARNESS_CALL } from "../core/harness-call-ids.ts";

/** How the harness's own calls show in the progress line. */
const HARNESS_LABEL: Record<string, string> = {
  [HARNESS_CALL.restore]: "restore",
  [HARNESS_CALL.resumePoint]: "resume point",
  [HARNESS_CALL.emergencySave]: "emergency save",
};

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
        this.turnText =
          textOf(event.content)
            .split("\n")
            .find((l) => l.trim()) ?? "";
        if (event.stopReason === "error") this.line(`planner error: ${event.error ?? "unknown"}`);
        else if (toolUses(event.content).length === 0) this.line(`(no tool call) ${clip(this.turnText, 70)}`);
        break;
      }
      case "guard": {
        const name = HARNESS_LABEL[event.toolUseId] ?? event.name;
        if (event.decision.action === "reject") this.calls.push({ name, mark: "⊘ rejected" });
        else if (event.decision.action === "stop") this.calls.push({ name, mark: "⊘ stop" });
        else if (event.decision.action === "rewrite") this.calls.push({ name, mark: "rewritten" });
        break;
      }
      case "tool": {
        const name = HARNESS_LABEL[event.toolUseId] ?? event.name;
        const prior = this.calls.find((c) => c.name === name && c.mark === "rewritten");
        const mark = `${event.isError ? "✗" : "✓"} ${(event.ms / 1000).toFixed(1)}s${event.isError ? "" : metricsNote(event.structured)}`;
        if (prior) prior.mark = `${mark} (rewritten)`;
        else this.calls.push({ name, mark });
        break;
      }
      case "user":
        this.turn = event.turn;
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
function metricsNote(structured: unknown): string {
  const grpo = readResult(grpoStepResult, structured);
  const it = grpo?.iterations[grpo.iterations.length - 1];
  if (it) {
    const g = it.groups;
    return ` [iter ${it.iteration}: reward ${it.reward_mean.toFixed(3)}, mixed/ALL-0/ALL-1 ${g.mixed}/${g.all_zero}/${g.all_one}${it.stepped ? "" : ", no step"}]`;
  }
  const sft = readResult(sftStepResult, structured);
  const e = sft?.epochs[sft.epochs.length - 1];
  if (e) return ` [epoch ${e.epoch}: train ${e.train_loss.toFixed(3)}${e.val_loss === null ? "" : `, val ${e.val_loss.toFixed(3)}`}]`;
  const sample = readResult(sampleResult, structured);
  if (sample && sample.mean_reward !== null) return ` [holdout ${pct(sample.mean_reward, 1)} over ${sample.scored}]`;
  return "";
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

import path from "node:path";
import { appendRunFile } from "../../lib/run-file-writes.ts";
import type { EventListener, RunEvent } from "../core/events.ts";
import { toolOutcome } from "../core/events.ts";
import { isTrainingTool } from "../core/tool-names.ts";
import { trainingRecordOf } from "./records.ts";

/** Appends one line per training call to metrics.jsonl, as the call happens (a file writer: never part of a replay). */
export class MetricsFileWriter implements EventListener {
  constructor(
    private readonly file: string,
    private readonly redact: (text: string) => string,
  ) {}

  on(e: RunEvent): void {
    if (e.type !== "tool" || !isTrainingTool(e.name)) return;
    const { call, result } = toolOutcome(e);
    const rec = trainingRecordOf(call, result, e.turn);
    if (rec) appendRunFile(path.dirname(this.file), path.basename(this.file), `${this.redact(JSON.stringify(rec))}\n`);
  }
}

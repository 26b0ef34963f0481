import { UserError } from "../core/errors.ts";
import type { ExamSource } from "../config/exam-spec.ts";
import type { ExamItem } from "../../lib/exam-files.ts";
import { HfError, HubClient, hubConfigFromEnv } from "../../lib/hub-client.ts";

type HubSource = Extract<ExamSource, { kind: "hub" }>;

/** Column names tried, in order, when the spec names none. */
const PROMPT_COLUMNS = ["question", "prompt", "problem", "text", "instruction", "input"];
const ANSWER_COLUMNS = ["answer", "ground_truth", "solution", "test_list", "output", "response"];

/**
 * A Hub split's first `n` rows as exam items, through the Dataset Viewer (the same client as
 * the hf-datasets server, from lib/). Loaded by the harness before the run starts; offline
 * (HF_HUB_OFFLINE) or unreachable, the run is refused with the reason.
 */
export function hubExamLoader(env: Record<string, string | undefined>): (s: HubSource, n: number) => Promise<ExamItem[]> {
  return async (s, n) => {
    const cfg = hubConfigFromEnv(env);
    const where = `the exam hub:${s.dataset}${s.config ? `@${s.config}` : ""}:${s.split}`;
    if (cfg.offline)
      throw new UserError(`${where} needs the Hugging Face Hub, and HF_HUB_OFFLINE is set.`, "Use --exam generator:<task> or jsonl:<file> offline.");
    const client = new HubClient(cfg);
    const items: ExamItem[] = [];
    try {
      const config = s.config ?? (await client.splits(s.dataset)).find((x) => x.split === s.split)?.config ?? "default";
      for (let offset = 0; items.length < n; offset += 100) {
        const page = await client.rows(s.dataset, config, s.split, offset, Math.min(100, n - items.length));
        if (page.rows.length === 0) break;
        for (const r of page.rows) items.push(itemOf(r.row, s, where));
        if (offset + page.rows.length >= page.numRowsTotal) break;
      }
    } catch (err) {
      if (err instanceof HfError || err instanceof TypeError) throw new UserError(`${where} could not be loaded: ${err.message}`);
      throw err;
    }
    return items.slice(0, n);
  };
}

function itemOf(row: Record<string, unknown>, s: HubSource, where: string): ExamItem {
  const pick = (named: string | undefined, tried: string[]) => (named !== undefined ? named : tried.find((c) => row[c] !== undefined));
  const p = pick(s.prompt_column, PROMPT_COLUMNS);
  const a = pick(s.answer_column, ANSWER_COLUMNS);
  if (p === undefined || a === undefined || row[p] === undefined || row[a] === undefined)
    throw new UserError(`${where}: no prompt or answer column among ${Object.keys(row).join(", ")}.`, "Name them: prompt_column=…,answer_column=…");
  const text = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
  return { prompt: text(row[p]), ground_truth: text(row[a]) };
}

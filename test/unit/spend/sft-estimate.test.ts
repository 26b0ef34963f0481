import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CallEstimator } from "../../../agent/spend/estimate.ts";
import { hashString, Rng } from "../../../lib/random.ts";
import { splitExamples } from "../../../tools/contracts/sft-split.ts";
import { tempDir } from "../../helpers.ts";

/**
 * An SFT estimate prices the rows the server will train: the server keeps a share of the
 * examples for validation, chosen by a hash of their content (the split of
 * tools/contracts/sft-split.ts, which tools/tinker/sft.ts runs). Data crafted so the hash
 * picks the short rows for validation made an estimate by average size come out under.
 */

type Row = { prompt: string; response: string };
const PRICE = { prefill: 1, cachedPrefill: 1, sample: 1, train: 1 };

function estimateOf(rows: Row[], input: Record<string, unknown>) {
  const dir = tempDir("tl-sft-est-");
  fs.writeFileSync(path.join(dir, "sft.jsonl"), rows.map((r) => JSON.stringify(r)).join("\n"));
  const est = new CallEstimator({ model: "Qwen/Qwen3-8B", price: PRICE, runDir: dir });
  const e = est.estimate({ id: "s", name: "train_sft_step", input: { examples: "sft.jsonl", ...input } }, []);
  fs.rmSync(dir, { recursive: true, force: true });
  if (!e || !("tokens" in e)) throw new Error(`no estimate: ${JSON.stringify(e)}`);
  return e.tokens;
}

/** Rows whose content hashes low are short, the rest long: the server's validation share is all short rows. */
function crafted(nShort: number, nLong: number): Row[] {
  const short: Row[] = [];
  const long: Row[] = [];
  for (let i = 0; short.length < nShort || long.length < nLong; i++) {
    const s = { prompt: `q${i}`, response: "a" };
    const l = { prompt: `q${i}`, response: "b".repeat(4000) };
    if (short.length < nShort && hashString(`${s.prompt}\n${s.response}`) < 2 ** 30) short.push(s);
    if (long.length < nLong && hashString(`${l.prompt}\n${l.response}`) >= 2 ** 30) long.push(l);
  }
  return [...long, ...short];
}

describe("the SFT estimate prices the rows the server trains", () => {
  it("crafted data: the hash keeps the short rows for validation, and the estimate is not under", () => {
    const rows = crafted(10, 30);
    const { train, val } = splitExamples(rows, 0.25);
    expect(val.every((r) => r.response === "a")).toBe(true);
    const all = estimateOf(rows, { validation_split: 0.25, num_epochs: 3 });
    // The same rows trained with no validation share: what the server's training rows alone cost.
    expect(all.trained).toBe(estimateOf(train, { validation_split: 0, num_epochs: 3 }).trained);
    expect(all.prefill).toBe(estimateOf(val, { validation_split: 0, num_epochs: 3 }).trained);
  });

  it("any data, share and window: the estimate's trained and evaluated tokens are those of the server's split", () => {
    const rng = new Rng(7);
    const rand = () => rng.next();
    for (let k = 0; k < 60; k++) {
      const n = 2 + Math.floor(rand() * 60);
      const rows = Array.from({ length: n }, (_, i) => ({ prompt: `p${k}-${i}`, response: "r".repeat(1 + Math.floor(rand() ** 3 * 5000)) }));
      const share = [0.05, 0.1, 0.3, 0.5, 0.9][k % 5]!;
      const start = Math.floor(rand() * n * 2);
      const limit = 1 + Math.floor(rand() * n);
      const { train, val } = splitExamples(
        Array.from({ length: limit }, (_, i) => rows[(start + i) % n]!),
        share,
      );
      const e = estimateOf(rows, { validation_split: share, start, limit });
      expect(e.trained, `case ${k}`).toBe(estimateOf(train, { validation_split: 0 }).trained);
      expect(e.prefill, `case ${k}`).toBe(val.length ? estimateOf(val, { validation_split: 0 }).trained : 0);
    }
  });
});

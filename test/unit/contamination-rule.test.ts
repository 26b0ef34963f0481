import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { GuardContext, GuardVerdict, ToolCall } from "../../agent/core/guard.ts";
import { ZERO_USAGE } from "../../agent/core/conversation.ts";
import { buildGuard } from "../../agent/guard/index.ts";
import type { GuardConfig } from "../../agent/guard/index.ts";
import { TrainingState } from "../../agent/state/training-state.ts";
import { generate } from "../../lib/generators/generate.ts";
import { runLayout } from "../../lib/run-layout.ts";

const MODEL = "local/tiny-arith";
const CTX: GuardContext = { tools: [], model: MODEL, turn: 1, elapsedMs: 0, usage: ZERO_USAGE };

/** Boilerplate every exam prompt starts with (a template): it identifies no item, so sharing it is no hit. */
const BOILER = "Read the following problem carefully, think step by step, and give only the final number at the end.";
const PEOPLE = ["Marisol", "Tobiah", "Quenby", "Larkin", "Odessa", "Fenwick", "Ysolde", "Barnaby", "Calloway", "Delphine"];
const GOODS = ["walnuts", "lanterns", "postcards", "marbles", "ribbons", "teacups", "pinecones", "buttons"];
const PLACES = ["greenhouse", "boathouse", "library", "bakery", "observatory", "workshop", "granary"];
const DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
/** A word no training row below contains: found in a refusal, it would show the exam leaking. */
const SECRET = (i: number) => `zephyrine${"abcdefghij"[i % 10]}${"klmnopqrst"[Math.floor(i / 10) % 10]}`;

/** Exam items of the GSM8K kind (long prompts, some with worked answers), each with a marker word of its own. */
function examItems(n: number) {
  return Array.from({ length: n }, (_, i) => {
    const who = PEOPLE[i % PEOPLE.length]!;
    const what = GOODS[(i * 3) % GOODS.length]!;
    const where = PLACES[(i * 5) % PLACES.length]!;
    const day = DAYS[(i * 7) % DAYS.length]!;
    const a = 12 + i * 7;
    const b = 3 + (i % 9);
    const prompt = `${BOILER} On ${day} ${who} carried ${a} ${what} into the ${where} near ${SECRET(i)}, gave ${b} of them to each of ${2 + (i % 4)} neighbours, and sold the rest at the market. How many ${what} did ${who} sell?`;
    const left = a - b * (2 + (i % 4));
    const ground_truth =
      i % 2 === 0
        ? String(left)
        : `${who} gave away ${b} times ${2 + (i % 4)} which is ${b * (2 + (i % 4))} ${what} beside ${SECRET(i)}, so ${a} minus that leaves ${left} to sell. #### ${left}`;
    return { prompt, ground_truth };
  });
}

const EXAM = examItems(60);
const words = (s: string) => s.split(/\s+/);

async function guardFor(exam: GuardConfig["exam"]) {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), "tl-contam-"));
  fs.mkdirSync(runLayout(runDir).data, { recursive: true });
  // Only this rule's verdicts are under test here (the e2e test runs every rule against the real tinker server's tools).
  const disabled = ["unknown-tool", "schema", "workflow", "reward-code"];
  const guard = await buildGuard({
    onWrongModel: "reject",
    dataDir: runLayout(runDir).data,
    budget: {},
    trainingState: new TrainingState(),
    disabled,
    ...(exam ? { exam } : {}),
  });
  let n = 0;
  const check = (name: string, input: Record<string, unknown>, harness = false): Promise<GuardVerdict> => {
    const call: ToolCall = { id: `c${++n}`, name, input, ...(harness ? { harness: true as const } : {}) };
    return guard.check(call, CTX);
  };
  return { runDir, check };
}

const sft = (rows: Array<{ prompt: string; response: string }>) => ({ examples: rows });
const grpo = (rows: Array<{ prompt: string; ground_truth: string }>) => ({ prompts: rows, reward_function: "def compute_reward(c, g):\n    return 0.0\n" });
const honest = (i: number) => ({
  prompt: `A ferry crosses the bay ${i + 2} times each day and carries ${40 + i} passengers on every crossing. How many passengers does it carry in a day?`,
  response: String((i + 2) * (40 + i)),
});
const honestPrompt = (i: number) => ({ prompt: honest(i).prompt, ground_truth: honest(i).response });

function expectRefused(v: GuardVerdict, rows: number[], hidden: string[]) {
  expect(v.decision.action, JSON.stringify(v)).toBe("reject");
  expect(v.rule).toBe("contamination");
  const message = v.decision.action === "reject" ? v.decision.message : "";
  for (const r of rows) expect(message).toMatch(new RegExp(`row ${r}\\b`));
  expect(message).toMatch(/Remove these rows/);
  for (const h of hidden) expect(message).not.toContain(h);
  return message;
}

describe("contamination rule: paraphrase-free hits of every kind are refused, naming the planner's rows only", () => {
  it("exact: an item's prompt (case, spacing and sentence punctuation aside), its prompt+answer, or its worked answer", async () => {
    const { check } = await guardFor({ items: EXAM });
    for (const i of [0, 7, 31, 58]) {
      const item = EXAM[i]!;
      const rows = [honest(1), { prompt: `  ${item.prompt.toUpperCase().replace(/[.,?]/g, "")}  `, response: "42" }, honest(2)];
      expectRefused(await check("train_sft_step", sft(rows)), [2], [SECRET(i + 1)]);
      // prompt and answer in one field, with another answer beside it
      const both = [honest(3), honest(4), { prompt: `${item.prompt}\n${item.ground_truth}`, response: "see above" }];
      expectRefused(await check("train_sft_step", sft(both)), [3], [SECRET(i + 1)]);
    }
    for (const i of [1, 9, 33]) {
      // Only its answer (a worked one, long enough to be the item's own), under a made-up question.
      const rows = [{ prompt: "Show your working.", response: EXAM[i]!.ground_truth }];
      expectRefused(await check("train_sft_step", sft(rows)), [1], [EXAM[i]!.prompt.slice(BOILER.length, BOILER.length + 30)]);
    }
  });

  it("13-gram: 13 consecutive words of an item inside other text, wherever they sit in the item", async () => {
    const { check } = await guardFor({ items: EXAM });
    for (const i of [2, 13, 44]) {
      const w = words(EXAM[i]!.prompt.slice(BOILER.length + 1));
      for (const start of [0, 5, w.length - 13]) {
        const piece = w.slice(start, start + 13).join(" ");
        const rows = [honestPrompt(5), { prompt: `Here is a puzzle I wrote myself: ${piece} Think it over.`, ground_truth: "3" }];
        const message = expectRefused(await check("train_grpo_step", grpo(rows)), [2], []);
        expect(message).toMatch(/13 consecutive words|equal to an exam item|50-character/);
      }
    }
  });

  it("50-character: a long stretch of an item with its spaces and punctuation changed (GPT-4's rule catches what word n-grams miss)", async () => {
    const { check } = await guardFor({ items: EXAM });
    for (const i of [4, 21, 50]) {
      // GPT-4 took three 50-character samples of each item: a row holding the item's text (here
      // with its words joined by underscores, so no word n-gram matches) holds them.
      const squashed = EXAM[i]!.prompt.replace(/\s+/g, "_");
      const rows = [honestPrompt(6), honestPrompt(7), { prompt: `Decode this: ${squashed}`, ground_truth: "0" }];
      const v = await check("train_grpo_step", grpo(rows));
      const message = expectRefused(v, [3], [SECRET(i + 1)]);
      expect(message).toMatch(/50-character passage/);
    }
  });

  it("generator split: any row of the reserved task's eval split, exam item or not; harness calls too", async () => {
    const items = generate("word_problems", { n: 100, seed: 1, split: "eval" }).items.map(({ prompt, ground_truth }) => ({ prompt, ground_truth }));
    const { check } = await guardFor({ items, generatorTask: "word_problems" });
    const others = generate("word_problems", { n: 40, seed: 99, split: "eval" }).items.filter((x) => !items.some((e) => e.prompt === x.prompt));
    expect(others.length).toBeGreaterThan(20);
    for (const [k, row] of others.slice(0, 10).entries()) {
      const rows = [...generate("word_problems", { n: 3, seed: k, split: "train" }).items, row];
      const message = expectRefused(await check("train_grpo_step", grpo(rows), k % 2 === 0), [4], [items[0]!.prompt]);
      expect(message).toMatch(/generator's eval split/);
      expect(message).toMatch(/split="train"/);
    }
  });
});

describe("contamination rule: near-misses are allowed", () => {
  it("13 words of an item with one changed, a short item plus one word or with another operator, a shared answer, the shared template, a 45-character stretch", async () => {
    const short = [
      { prompt: "What is 17 + 25?", ground_truth: "42" },
      { prompt: "Spell the word cat backwards.", ground_truth: "tac" },
    ];
    const { check } = await guardFor({ items: [...EXAM, ...short] });
    const misses: Array<{ prompt: string; ground_truth: string }> = [];
    for (const i of [3, 17, 40]) {
      const w = words(EXAM[i]!.prompt.slice(BOILER.length + 1));
      const oneChanged = w.slice(4, 17);
      oneChanged[6] = "purple";
      misses.push({ prompt: `Puzzle: ${oneChanged.join(" ")} and then something else entirely.`, ground_truth: "1" });
      misses.push({
        prompt: `Another one: ${EXAM[i]!.prompt.slice(BOILER.length + 1)
          .slice(20, 65)
          .replace(/\s+/g, "")}`,
        ground_truth: "2",
      });
      misses.push({
        prompt: `${BOILER} A train leaves at ${i} o'clock and travels for three hours. When does it arrive?`,
        ground_truth: EXAM[i]!.ground_truth.length < 5 ? EXAM[i]!.ground_truth : "9",
      });
    }
    misses.push(
      { prompt: "What is 17 + 25 + 1?", ground_truth: "43" },
      { prompt: "What is 17 - 25?", ground_truth: "-8" },
      { prompt: "Spell the word cart backwards.", ground_truth: "trac" },
    );
    misses.push({ prompt: "Name a number.", ground_truth: "42" });
    const v = await check("train_grpo_step", grpo(misses));
    expect(v.decision, JSON.stringify(v)).toEqual({ action: "allow" });
    // ... and the short items themselves are refused (exact match).
    expectRefused(await check("train_grpo_step", grpo([{ prompt: "what is 17 + 25", ground_truth: "0" }])), [1], []);
  });

  it("the generator's train split, and other tasks' rows, pass a generator exam", async () => {
    const items = generate("arithmetic", { n: 200, seed: 2, split: "eval" }).items.map(({ prompt, ground_truth }) => ({ prompt, ground_truth }));
    const { check } = await guardFor({ items, generatorTask: "arithmetic" });
    const train = generate("arithmetic", { n: 300, seed: 5, split: "train" }).items;
    const other = generate("word_problems", { n: 100, seed: 5, split: "eval" }).items;
    const v = await check("train_grpo_step", grpo([...train, ...other]));
    // (So many rows inline are moved to a file by rule large-inline, which this rule then reads.)
    expect(v.decision.action, JSON.stringify(v)).toBe("rewrite");
    expect(v.rule).toBe("large-inline");
  });

  it("no exam: no rule, whatever the rows", async () => {
    const { check } = await guardFor(undefined);
    expect((await check("train_sft_step", sft([{ prompt: EXAM[0]!.prompt, response: "x" }]))).decision).toEqual({ action: "allow" });
  });
});

describe("contamination rule: the rows the call trains on, inline or from files", () => {
  it("reads .jsonl and .json files through the path rule, JSON text inline, and honours start/limit", async () => {
    const { runDir, check } = await guardFor({ items: EXAM });
    const data = runLayout(runDir).data;
    const rows = [honest(0), honest(1), { prompt: EXAM[12]!.prompt, response: "x" }, honest(3), honest(4)];
    fs.writeFileSync(path.join(data, "train.jsonl"), `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
    fs.writeFileSync(path.join(data, "train.json"), JSON.stringify(rows));
    for (const file of ["data/train.jsonl", "data/train.json"]) {
      const message = expectRefused(await check("train_sft_step", { examples: file }), [3], [SECRET(13)]);
      expect(message).toContain(file);
      // A window that leaves row 3 out trains on clean rows only; one that wraps around to it does not.
      expect((await check("train_sft_step", { examples: file, start: 3, limit: 2 })).decision).toEqual({ action: "allow" });
      expectRefused(await check("train_sft_step", { examples: file, start: 4, limit: 4 }), [3], []);
    }
    expectRefused(await check("train_sft_step", { examples: JSON.stringify(rows) }), [3], []);
    const jsonl = rows.map((r) => JSON.stringify(r)).join("\n");
    expectRefused(await check("train_sft_step", { examples: jsonl }), [3], []);
    // Fields the server reads as well: {input, output}; a number ground truth.
    expectRefused(await check("train_sft_step", { examples: [{ input: "hello there", output: EXAM[1]!.ground_truth }] }), [1], []);
  });

  it("a file the path rule refuses is the tool's to refuse (allowed here, never read)", async () => {
    const { check } = await guardFor({ items: EXAM });
    const outside = path.join(os.tmpdir(), `tl-outside-${process.pid}.jsonl`);
    fs.writeFileSync(outside, JSON.stringify({ prompt: EXAM[0]!.prompt, response: "x" }));
    expect((await check("train_sft_step", { examples: outside })).decision).toEqual({ action: "allow" });
  });

  it("names many offending rows compactly", async () => {
    const { check } = await guardFor({ items: EXAM });
    const rows = EXAM.slice(0, 9).map((e) => ({ prompt: e.prompt, response: "x" }));
    const message = expectRefused(await check("train_sft_step", sft([honest(1), ...rows])), [2, 3, 4, 5, 6], []);
    expect(message).toMatch(/9 of the 10 rows/);
    expect(message).toMatch(/and 4 more/);
    expect(message).toMatch(/rows 2-10/);
  });
});

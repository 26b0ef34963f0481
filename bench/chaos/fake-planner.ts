/**
 * The fake-model planner of `bench:chaos`: the Anthropic fake (test/fakes/anthropic-server.ts)
 * answering every Messages request with the next step of a short research plan, chosen from
 * the conversation it is sent (so a resumed run carries on where its transcript ends), and a
 * seeded schedule of planner faults by request number: 529 bursts and cut streams.
 */
import { Rng } from "../../lib/random.ts";
import { errorResponse, toolUseReply } from "../../test/fakes/anthropic-server.ts";
import type { FakeResponse, RecordedRequest } from "../../test/fakes/anthropic-server.ts";

export type PlannerFault = "overloaded-529" | "cut-stream";

const EXACT_REWARD =
  "def compute_reward(completion, ground_truth):\n    text = completion.strip()\n    first = text.split()[0] if text else ''\n    return 1.0 if first == ground_truth.strip() else 0.0\n";

type Step = { name: string; input: Record<string, unknown> };

/** A dataset the built-in catalog does not hold, so inspecting it asks the Hub (and meets its outages). */
const hubLook: Step = { name: "inspect_dataset", input: { dataset: "someone/math-word-problems", sample_rows: 2 } };

/** The plan for one run: a look at the Hub, data, a session, four training calls (another look at the Hub among them), a save, finish. */
function plan(model: string, sft: boolean): Step[] {
  const train = (j: number): Step =>
    sft
      ? { name: "train_sft_step", input: { examples: "data/pool.jsonl", start: 16 * j, limit: 16, learning_rate: 1e-3, warmup_ratio: 0 } }
      : {
          name: "train_grpo_step",
          input: {
            prompts: "data/pool.jsonl",
            start: 8 * j,
            limit: 8,
            reward_function: "rewards/exact.py",
            learning_rate: 1e-3,
            warmup_ratio: 0,
            auto_checkpoint: false,
          },
        };
  return [
    hubLook,
    {
      name: "generate_synthetic",
      input: sft
        ? { task: "json_format", n: 96, seed: 1, difficulty: 2, format: "sft", output: "data/pool.jsonl" }
        : { task: "arithmetic", n: 64, seed: 1, difficulty: 1, format: "grpo", output: "data/pool.jsonl" },
    },
    { name: "write_file", input: { path: "rewards/exact.py", content: EXACT_REWARD } },
    { name: sft ? "init_sft" : "init_grpo", input: sft ? { base_model: model } : { base_model: model, group_size: 4 } },
    train(0),
    train(1),
    hubLook,
    train(2),
    train(3),
    { name: "save", input: { name: "final" } },
    { name: "finish", input: {} },
  ];
}

const textOf = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
      ? content.map((b: { type?: string; text?: string }) => (b.type === "text" ? (b.text ?? "") : "")).join("\n")
      : "";

/** The next step for the conversation in `req`: step k after k assistant turns. */
export function nextStep(req: RecordedRequest): Step {
  const body = req.body as { system?: unknown; messages?: Array<{ role: string; content: unknown }> };
  const system = textOf(body.system);
  const model = /base_model="([^"]+)"/.exec(system)?.[1] ?? "local/tiny-arith";
  const messages = body.messages ?? [];
  const sft = /JSON/.test(textOf(messages[0]?.content));
  const steps = plan(model, sft);
  const done = messages.filter((m) => m.role === "assistant").length;
  return steps[Math.min(done, steps.length - 1)]!;
}

/** Request i's fault, from a seeded schedule: bursts of 1-3 overloaded answers (fewer than the harness's retries) and single cut streams. */
export function plannerFaultSchedule(seed: number, length: number): Array<PlannerFault | undefined> {
  const rng = new Rng(seed);
  const out: Array<PlannerFault | undefined> = [];
  while (out.length < length) {
    const r = rng.next();
    if (r < 0.06) out.push(...Array<PlannerFault>(rng.int(1, 3)).fill("overloaded-529"), undefined);
    else if (r < 0.1) out.push("cut-stream", undefined);
    else out.push(undefined);
  }
  return out.slice(0, length);
}

/** The fake's script: the plan's next step, or the scheduled fault; `injected` counts what was sent. */
export function chaosPlannerScript(seed: number, length: number, injected: Map<string, number>): Array<(req: RecordedRequest, i: number) => FakeResponse> {
  const faults = plannerFaultSchedule(seed, length);
  const count = (k: string) => injected.set(k, (injected.get(k) ?? 0) + 1);
  return faults.map((fault) => (req: RecordedRequest) => {
    if (fault === "overloaded-529") {
      count("planner 529");
      return errorResponse(529, "overloaded_error", "Overloaded");
    }
    const reply = toolUseReply([nextStep(req)]);
    if (fault === "cut-stream") {
      count("planner cut stream");
      return { ...reply, dropMidStream: true };
    }
    return reply;
  });
}

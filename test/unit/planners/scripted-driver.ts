import fs from "node:fs";
import path from "node:path";
import type { Message, ToolUseBlock } from "../../../agent/core/conversation.ts";
import type { ToolSpec } from "../../../agent/core/tools.ts";
import { toolUses } from "../../../agent/core/conversation.ts";
import { ScriptedPlanner } from "../../../agent/planners/scripted.ts";
import type { Hints } from "../../../agent/config/recipes.ts";
import { fillTemplate } from "../../../agent/config/system-prompt.ts";
import { REPO } from "../../helpers.ts";

/** The scripted planner driven in-process: its tools, a driver that answers its calls, canned results. */
export const MODEL = "local/tiny-arith";
export const SYSTEM = fillTemplate(fs.readFileSync(path.join(REPO, "prompts", "system.md"), "utf8"), "Teach arithmetic.", MODEL);
export const TOOLS: ToolSpec[] = [
  "read_file",
  "generate_synthetic",
  "search_datasets",
  "check_reward",
  "init_grpo",
  "init_sft",
  "sample",
  "save",
  "load",
  "finish",
  "train_grpo_step",
  "train_sft_step",
].map((name) => ({ name, description: "", inputSchema: { type: "object" }, source: "t" }));

export type Answer = { ok?: boolean; s?: unknown; text?: string };

/** Drives the planner turn by turn, answering each call with `answer(call)`. */
export class Driver {
  messages: Message[] = [{ role: "user", content: [{ type: "text", text: "go" }] }];
  calls: ToolUseBlock[] = [];
  constructor(readonly planner: ScriptedPlanner) {}

  async step(answer: (c: ToolUseBlock) => Answer): Promise<ToolUseBlock | undefined> {
    const turn = await this.planner.next({ system: SYSTEM, messages: this.messages, tools: TOOLS, signal: new AbortController().signal });
    this.messages.push({ role: "assistant", content: turn.content });
    const use = toolUses(turn.content)[0];
    if (!use) return undefined;
    this.calls.push(use);
    const a = answer(use);
    this.messages.push({
      role: "user",
      content: [
        {
          type: "tool_result",
          toolUseId: use.id,
          content: a.text ?? "ok",
          ...(a.ok === false ? { isError: true } : {}),
          ...(a.s !== undefined ? { structured: a.s } : {}),
        },
      ],
    });
    return use;
  }

  /** Steps until the planner calls `tool` (answering everything before with `answer`), returning that call. */
  async until(tool: string, answer: (c: ToolUseBlock) => Answer, max = 50): Promise<ToolUseBlock> {
    for (let i = 0; i < max; i++) {
      const next = await this.peek();
      if (next?.name === tool) return next;
      await this.answerPending(answer);
    }
    throw new Error(`no ${tool} call within ${max} turns; calls: ${this.calls.map((c) => c.name).join(", ")}`);
  }

  private pending: ToolUseBlock | undefined;
  async peek(): Promise<ToolUseBlock | undefined> {
    if (!this.pending) {
      const turn = await this.planner.next({ system: SYSTEM, messages: this.messages, tools: TOOLS, signal: new AbortController().signal });
      this.messages.push({ role: "assistant", content: turn.content });
      this.pending = toolUses(turn.content)[0];
      if (this.pending) this.calls.push(this.pending);
    }
    return this.pending;
  }
  async answerPending(answer: (c: ToolUseBlock) => Answer): Promise<void> {
    const use = await this.peek();
    if (!use) throw new Error("the planner stopped calling tools");
    const a = answer(use);
    this.pending = undefined;
    this.messages.push({
      role: "user",
      content: [
        {
          type: "tool_result",
          toolUseId: use.id,
          content: a.text ?? "ok",
          ...(a.ok === false ? { isError: true } : {}),
          ...(a.s !== undefined ? { structured: a.s } : {}),
        },
      ],
    });
  }
}

export function grpoReport(o: { reward?: number; allZero?: number; allOne?: number; kl?: number }) {
  const total = 32;
  return {
    method: "grpo",
    cumulative_iterations: 1,
    iterations: [
      {
        iteration: 1,
        reward_mean: o.reward ?? 0.4,
        reward_std: 0.3,
        learning_rate: 0.002,
        groups: { total, mixed: total - (o.allZero ?? 0) - (o.allOne ?? 0), all_zero: o.allZero ?? 0, all_one: o.allOne ?? 0, uniform_other: 0, failed: 0 },
        samples_generated: 256,
        samples_used: 100,
        reward_errors: 0,
        kl: o.kl ?? 0.001,
        tokens_sampled: 800,
        truncated: 0,
      },
    ],
  };
}

/** Plausible answers for everything before training. */
export function setupAnswers(holdoutScore = 0.2) {
  return (c: ToolUseBlock): Answer => {
    switch (c.name) {
      case "generate_synthetic":
        return { s: { path: `/run/${(c.input as { output: string }).output}`, rows_written: 500 } };
      case "check_reward":
        return { s: { ok: true, errors: 0, mismatches: 0 } };
      case "sample":
        return { s: { mean_reward: holdoutScore, completions: [] } };
      case "train_grpo_step":
        return { s: grpoReport({}) };
      default:
        return { s: {} };
    }
  };
}

export const HINTS: Hints = {
  recipe: "t",
  method: "grpo",
  task: "arithmetic",
  difficulty: 2,
  reward: "numeric",
  batch_size: 16,
  learning_rate: 0.002,
  temperature: 1,
  max_tokens: 8,
  max_steps: 50,
  sample_every: 100,
  patience: 2,
  target: 0.9,
};

export async function atTraining(hints: Hints = HINTS) {
  const d = new Driver(new ScriptedPlanner({ hints }));
  await d.until(hints.method === "sft" ? "train_sft_step" : "train_grpo_step", setupAnswers());
  return d;
}

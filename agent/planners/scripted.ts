import type { AssistantTurn, Message, ToolResultBlock } from "../core/conversation.ts";
import { searchResult } from "../../tools/contracts/hf-datasets-results.ts";
import { readResult } from "../../tools/contracts/tool-results.ts";
import type { ToolSpec } from "../core/tools.ts";
import { ZERO_USAGE } from "../core/conversation.ts";
import { loadRecipe } from "../config/recipes.ts";
import type { Hints } from "../config/recipes.ts";
import { ORPHAN_ANSWER, readRestore } from "../state/restore-note.ts";
import { baseToolName } from "../core/tool-names.ts";
import type { Planner, PlannerRequest } from "../core/planner.ts";
import { Researcher } from "./scripted-researcher.ts";
import type { Observation } from "./scripted-research-state.ts";

/** Words in an objective that point at a built-in recipe. */
const KEYWORDS: Array<[RegExp, string]> = [
  [/countdown/i, "countdown"],
  [/carr(y|ies)|two-digit|multi-digit/i, "addition"],
  [/word problem|gsm8k/i, "word-problems"],
  [/\brevers|uppercase|letters of/i, "strings"],
  [/\bjson\b|format|schema/i, "format"],
  [/arithmetic|addition|subtraction|\badd\b|\bsum\b|math|number|calculat/i, "arithmetic"],
];

/**
 * A deterministic researcher that acts only through the same tools an LLM planner
 * uses, explaining each decision in its text. With recipe hints it follows them;
 * otherwise it reads the objective, searches the catalog and picks the closest recipe.
 */
export class ScriptedPlanner implements Planner {
  readonly id = "scripted";
  private researcher: Researcher | undefined;
  private pendingId: string | undefined;
  private calls = 0;
  private searched = false;

  constructor(private readonly opts: { hints?: Hints; model?: string } = {}) {}

  /** The researcher, for tests that drive it with recorded metrics. */
  get state(): Researcher | undefined {
    return this.researcher;
  }

  async next(req: PlannerRequest): Promise<AssistantTurn> {
    if (!this.researcher && !this.pendingId && req.messages.some((m) => m.role === "assistant")) this.fastForward(req);
    const obs = this.observe(req.messages);
    const model = /base_model="([^"]+)"/.exec(req.system)?.[1] ?? this.opts.model;
    if (!model) return this.say('I cannot find the model to train in the system prompt (base_model="..."); stopping.', "end_turn");
    if (!this.researcher) {
      if (this.opts.hints) this.researcher = new Researcher(model, this.opts.hints);
      else if (!this.searched) {
        this.searched = true;
        const query = keywords(objectiveOf(req.system));
        return this.call(
          req.tools,
          "search_datasets",
          { query, max_results: 5 },
          `No recipe was given, so I start from the objective: searching the catalog and the Hub for "${query}".`,
        );
      } else {
        const found = (readResult(searchResult, obs?.s)?.results ?? []).map((r) => r.id).join(", ");
        const recipe = recipeFor(objectiveOf(req.system));
        const hints = loadRecipe(recipe).hints ?? {};
        this.researcher = new Researcher(model, hints);
        const first = this.researcher.next(undefined)!;
        return this.call(
          req.tools,
          first.tool,
          first.input,
          `The search found ${found || "nothing usable"}. The objective matches the built-in "${recipe}" recipe, which this model can be trained on offline; following it. ${first.say}`,
        );
      }
    }
    const action = this.researcher.next(obs);
    if (!action) return this.say(this.researcher.summary(), "end_turn");
    return this.call(req.tools, action.tool, action.input, action.say);
  }

  /**
   * Rebuilds the researcher's state from a conversation it did not see live (resume,
   * fork onto the scripted planner): its decisions are deterministic, so feeding it
   * the recorded results in order brings it to where the conversation stands.
   */
  private fastForward(req: PlannerRequest): void {
    const model = /base_model="([^"]+)"/.exec(req.system)?.[1] ?? this.opts.model ?? "";
    const hints = this.opts.hints ?? loadRecipe(recipeFor(objectiveOf(req.system))).hints ?? {};
    this.searched = true;
    this.researcher = new Researcher(model, hints);
    let obs: Observation | undefined;
    let primed = false;
    req.messages.forEach((m, i) => {
      if (m.role !== "assistant") return;
      const use = m.content.find((b) => b.type === "tool_use") as { id: string; name: string } | undefined;
      if (!use || (!primed && baseToolName(use.name) === "search_datasets")) return;
      primed = true;
      this.researcher!.next(obs);
      const answer = req.messages[i + 1];
      const result = answer?.content.find((b): b is ToolResultBlock => b.type === "tool_result" && b.toolUseId === use.id);
      obs = result ? { ok: !result.isError, text: result.content, s: result.structured } : { ok: false, text: "no result", s: undefined };
      this.calls++;
      // A resume or fork note (now, or at an earlier resume) says where the session stood from then on; a call that never returned is retried or planned again.
      const facts = answer?.content.map((b) => (b.type === "text" ? readRestore(b.text) : undefined)).find((f) => f !== undefined);
      const orphaned = obs.text === ORPHAN_ANSWER;
      if (facts || orphaned) {
        this.researcher!.resumeAfter(facts, obs, orphaned);
        obs = undefined;
      }
    });
    this.carried = obs;
  }

  /** The last recorded result after a fast-forward, fed to the researcher on the next turn. */
  private carried: Observation | undefined;

  private observe(messages: Message[]): Observation | undefined {
    if (this.carried) {
      const c = this.carried;
      this.carried = undefined;
      return c;
    }
    if (!this.pendingId) return undefined;
    const last = messages[messages.length - 1];
    const block = last?.content.find((b): b is ToolResultBlock => b.type === "tool_result" && b.toolUseId === this.pendingId);
    this.pendingId = undefined;
    if (!block) return { ok: false, text: "no result", s: undefined };
    return { ok: !block.isError, text: block.content, s: block.structured };
  }

  private call(tools: ToolSpec[], wanted: string, input: Record<string, unknown>, text: string): AssistantTurn {
    const tool = tools.find((t) => t.name === wanted) ?? tools.find((t) => baseToolName(t.name) === wanted);
    if (!tool)
      return this.say(`${text}\nBut no tool named ${wanted} is available (tools: ${tools.map((t) => t.name).join(", ")}); I cannot continue.`, "end_turn");
    const id = `scripted_${++this.calls}`;
    this.pendingId = id;
    return {
      content: [
        { type: "text", text },
        { type: "tool_use", id, name: tool.name, input },
      ],
      stopReason: "tool_use",
      usage: ZERO_USAGE,
    };
  }

  private say(text: string, stopReason: "end_turn"): AssistantTurn {
    return { content: [{ type: "text", text }], stopReason, usage: ZERO_USAGE };
  }
}

/** The research objective: the PROMPT section of the filled template. */
function objectiveOf(system: string): string {
  return /## PROMPT\s*\n\*\*([\s\S]*?)\*\*\s*\n/.exec(system)?.[1] ?? system.slice(0, 400);
}

function recipeFor(objective: string): string {
  return KEYWORDS.find(([re]) => re.test(objective))?.[1] ?? "arithmetic";
}

function keywords(text: string): string {
  const stop = new Set([
    "the",
    "a",
    "an",
    "to",
    "of",
    "and",
    "or",
    "with",
    "for",
    "on",
    "in",
    "model",
    "teach",
    "train",
    "make",
    "it",
    "its",
    "that",
    "this",
    "answer",
    "answers",
    "questions",
    "question",
    "like",
    "what",
    "is",
    "nothing",
    "else",
    "exact",
    "only",
  ]);
  const words = text.toLowerCase().match(/[a-z][a-z0-9-]{2,}/g) ?? [];
  return [...new Set(words.filter((w) => !stop.has(w)))].slice(0, 3).join(" ") || "math";
}

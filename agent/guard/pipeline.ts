import type { CostEstimate } from "../core/cost.ts";
import type { EstimatedDecision, Guard, GuardContext, GuardDecision, GuardRule, GuardVerdict, ToolCall } from "../core/guard.ts";

/**
 * Runs rules in order. A rewrite feeds its input to the following rules (so two
 * rules can both correct a call), notes are joined; the first reject or stop wins.
 */
export class GuardPipeline implements Guard {
  constructor(private readonly rules: GuardRule[]) {}

  async check(call: ToolCall, ctx: GuardContext): Promise<GuardVerdict> {
    let input = call.input;
    const notes: string[] = [];
    const rewrittenBy: string[] = [];
    let estimate: CostEstimate | undefined;
    const verdict = (v: GuardVerdict): GuardVerdict => (estimate ? { ...v, estimate } : v);
    for (const rule of this.rules) {
      let decision: GuardDecision;
      try {
        const { estimate: e, ...d }: EstimatedDecision = await rule.check({ ...call, input }, ctx);
        if (e) estimate = e;
        decision = d as GuardDecision;
      } catch (err) {
        // A broken rule must not take the run down; refusing the call is the safe side.
        decision = {
          action: "reject" as const,
          message: `guard rule '${rule.name}' failed (${(err as Error).message}); the call was not run.`,
        };
      }
      if (decision.action === "allow") continue;
      if (decision.action === "rewrite") {
        input = decision.input;
        notes.push(decision.note);
        rewrittenBy.push(rule.name);
        continue;
      }
      return verdict({ decision, rule: rule.name });
    }
    if (notes.length === 0) return verdict({ decision: { action: "allow" } });
    return verdict({ decision: { action: "rewrite", input, note: notes.join(" ") }, rule: rewrittenBy.join(",") });
  }

  observe(call: ToolCall, result: { isError: boolean; structured?: unknown; content: string }): void {
    for (const rule of this.rules) rule.observe?.(call, result);
  }
}

import type { EventListener, RunEvent } from "../core/events.ts";
import { formatUsd } from "./prices.ts";
import { addTokens, ZERO_TOKENS } from "../core/cost.ts";
import type { TokenCounts } from "../core/cost.ts";
import { SPEND_META, spendShape } from "./priced-executor.ts";

/** One call that processed tokens on the training backend: what the guard expected it to cost, and what it did. */
export type CallSpend = { turn: number; toolUseId: string; tool: string; estimateUsd: number | null; actualUsd: number | null; tokens: TokenCounts };

/** The run's budgets in US dollars (absent: no limit). */
export type CostBudget = { maxCostUsd?: number; maxPlannerCostUsd?: number; maxTrainingCostUsd?: number };

/** The dollar budgets a run was given, without the ones it was not. */
export function costBudgetOf(cfg: CostBudget): CostBudget {
  return {
    ...(cfg.maxCostUsd !== undefined ? { maxCostUsd: cfg.maxCostUsd } : {}),
    ...(cfg.maxPlannerCostUsd !== undefined ? { maxPlannerCostUsd: cfg.maxPlannerCostUsd } : {}),
    ...(cfg.maxTrainingCostUsd !== undefined ? { maxTrainingCostUsd: cfg.maxTrainingCostUsd } : {}),
  };
}

/** The spend so far, as the guard and the printers read it. */
export interface SpendTotals {
  readonly plannerUsd: number;
  readonly trainingUsd: number;
  readonly totalUsd: number;
}

/**
 * The spend ledger: it listens to the run's events and adds up what the planner's
 * requests cost (each assistant turn's `usage.costUsd`) and what the training backend's
 * calls cost (each tool result's SPEND_META), keeping every costly call's estimate beside
 * its actual cost. Pure: it reads what the transcript records, so a resume or a summary
 * rebuilds it by replaying events. A planner turn or call without a price makes that
 * side's spend unknown (said, not guessed).
 */
export class SpendLedger implements EventListener, SpendTotals {
  plannerUsd = 0;
  trainingUsd = 0;
  /** Planner tokens were spent without a price (the planner's spend is a lower bound). */
  plannerUnpriced = false;
  /** Training tokens were processed without a price. */
  trainingUnpriced = false;
  tokens: TokenCounts = ZERO_TOKENS;
  readonly calls: CallSpend[] = [];
  private readonly estimates = new Map<string, number>();

  on(e: RunEvent): void {
    if (e.type === "assistant") {
      const u = e.usage;
      if (u.costUsd !== undefined) this.plannerUsd += u.costUsd;
      else if (u.inputTokens + u.outputTokens + u.cacheReadTokens + u.cacheWriteTokens > 0) this.plannerUnpriced = true;
    } else if (e.type === "guard" && e.estimate) {
      this.estimates.set(e.toolUseId, e.estimate.usd);
    } else if (e.type === "tool") {
      const s = spendShape.safeParse(e.meta?.[SPEND_META]);
      if (!s.success) return;
      const { usd, ...tokens } = s.data;
      this.tokens = addTokens(this.tokens, tokens);
      if (usd === null) this.trainingUnpriced = true;
      else this.trainingUsd += usd;
      this.calls.push({ turn: e.turn, toolUseId: e.toolUseId, tool: e.name, estimateUsd: this.estimates.get(e.toolUseId) ?? null, actualUsd: usd, tokens });
    }
  }

  get totalUsd(): number {
    return this.plannerUsd + this.trainingUsd;
  }

  /** The total, for the progress line. */
  short(budget: CostBudget = {}): string {
    return shortSpend(this, budget);
  }

  /** The total and each side, for the feedback block. */
  describe(budget: CostBudget = {}): string {
    return describeSpend(this, budget);
  }
}

/** The figures a spend line is made of (the ledger's, or a summary's). */
export type SpendFigures = { plannerUsd: number; trainingUsd: number; plannerUnpriced: boolean; trainingUnpriced: boolean };

/** "$0.0123 of $5.00"; "≥" when some tokens had no price. */
export function shortSpend(s: SpendFigures, budget: CostBudget = {}): string {
  return `${s.plannerUnpriced || s.trainingUnpriced ? "≥" : ""}${formatUsd(s.plannerUsd + s.trainingUsd)}${budget.maxCostUsd !== undefined ? ` of ${formatUsd(budget.maxCostUsd)}` : ""}`;
}

/** "$0.0123 of $5.00 (planner $0.0100, training $0.0023 of $4.00)". */
export function describeSpend(s: SpendFigures, budget: CostBudget = {}): string {
  const side = (usd: number, unpriced: boolean, max: number | undefined) =>
    `${unpriced ? "≥" : ""}${formatUsd(usd)}${max !== undefined ? ` of ${formatUsd(max)}` : ""}${unpriced ? " (some tokens unpriced)" : ""}`;
  return `${shortSpend(s, budget)} (planner ${side(s.plannerUsd, s.plannerUnpriced, budget.maxPlannerCostUsd)}, training ${side(s.trainingUsd, s.trainingUnpriced, budget.maxTrainingCostUsd)})`;
}

import type { RunConfig } from "../config/run-config.ts";
import { UserError } from "../core/errors.ts";
import { formatUsd } from "./prices.ts";
import type { PlannerPrice, PriceTable, Priced, TrainingPrice } from "./prices.ts";

/** The prices a run counts its spend at, and what it prints about them at the start. */
export type RunPrices = { planner: PlannerPrice | undefined; training: TrainingPrice | undefined; lines: string[] };

/**
 * Looks up the planner's and the base model's prices. A missing price is said at the
 * start with how to give one; with a dollar budget that the missing price would leave
 * unenforceable, the run does not start (one line, exit 2).
 */
export function runPrices(
  cfg: Pick<RunConfig, "model" | "maxCostUsd" | "maxPlannerCostUsd" | "maxTrainingCostUsd">,
  plannerId: string | undefined,
  table: PriceTable,
): RunPrices {
  // An external agent (tinkerloop mcp) pays for its own model: the harness sees no planner spend.
  const planner: Priced<PlannerPrice> =
    plannerId === undefined ? { price: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }, source: "external agent", date: "" } : table.planner(plannerId);
  const training = table.training(cfg.model);
  const lines: string[] = [];
  const hint = (key: string, example: string) => `give one in a prices file and pass --prices FILE, e.g. {"${key}": {${example}}}`;
  if ("unknown" in planner) {
    const example = `"${plannerId}": {"input": 1, "output": 4, "cacheRead": 0.1, "cacheWrite": 0}`;
    if (cfg.maxCostUsd !== undefined || cfg.maxPlannerCostUsd !== undefined) {
      throw new UserError(
        `No price for the planner ${plannerId} (${planner.unknown}), so ${cfg.maxCostUsd !== undefined ? "--max-cost" : "--max-planner-cost"} cannot be kept: ${hint("planners", example)} (USD per million tokens).`,
      );
    }
    lines.push(`price: none for the planner (${planner.unknown}); its spend is not counted — ${hint("planners", example)}`);
  }
  if ("unknown" in training) {
    const example = `"${cfg.model}": {"prefill": 0.2, "cachedPrefill": 0.04, "sample": 0.6, "train": 0.44}`;
    if (cfg.maxCostUsd !== undefined || cfg.maxTrainingCostUsd !== undefined) {
      throw new UserError(
        `No price for training ${cfg.model} (${training.unknown}), so ${cfg.maxCostUsd !== undefined ? "--max-cost" : "--max-training-cost"} cannot be kept: ${hint("training", example)} (USD per million tokens).`,
      );
    }
    lines.push(`price: none for training (${training.unknown}); its spend is not counted — ${hint("training", example)}`);
  }
  const known = [plannerId === undefined ? "" : describePlanner(plannerId, planner), describeTraining(cfg.model, training)].filter(Boolean);
  if (known.length) lines.unshift(`prices: ${known.join("; ")}`);
  const budgets = [
    cfg.maxCostUsd !== undefined ? `${formatUsd(cfg.maxCostUsd)} for the run` : "",
    cfg.maxPlannerCostUsd !== undefined ? `${formatUsd(cfg.maxPlannerCostUsd)} for the planner` : "",
    cfg.maxTrainingCostUsd !== undefined ? `${formatUsd(cfg.maxTrainingCostUsd)} for training` : "",
  ].filter(Boolean);
  if (budgets.length) lines.push(`budget: ${budgets.join(", ")}; training and sampling calls are estimated and refused when they would not fit`);
  return { planner: "price" in planner ? planner.price : undefined, training: "price" in training ? training.price : undefined, lines };
}

function describePlanner(id: string, p: Priced<PlannerPrice>): string {
  if (!("price" in p)) return "";
  const x = p.price;
  if (x.input + x.output === 0) return `planner ${id} free`;
  return `planner ${id} $${x.input} in / $${x.output} out / $${x.cacheRead} cache read / $${x.cacheWrite} cache write per M tokens (as of ${p.date})`;
}

function describeTraining(model: string, p: Priced<TrainingPrice>): string {
  if (!("price" in p)) return "";
  const x = p.price;
  if (x.prefill + x.sample + x.train === 0) return `training ${model} free`;
  return `training ${model} $${x.prefill} prefill / $${x.sample} sample / $${x.train} train per M tokens (as of ${p.date})`;
}

import type { HarnessCallDeps } from "../core/call.ts";
import { observing } from "../core/events.ts";
import type { EventListener, EventSink } from "../core/events.ts";
import type { ToolExecutor } from "../core/tools.ts";
import { buildGuard } from "../guard/index.ts";
import type { GuardConfig } from "../guard/index.ts";
import type { Budget } from "../guard/budget.ts";
import type { GuardPipeline } from "../guard/pipeline.ts";
import { MetricsLedger } from "../metrics/ledger.ts";
import type { LedgerOptions } from "../metrics/ledger.ts";
import { SpendLedger } from "../spend/ledger.ts";
import { TrainingState } from "../state/training-state.ts";

export type RunStateOptions = {
  model: string;
  /** The guard's rules and budget; the training state and the spend are the ones built here. */
  guard: Omit<GuardConfig, "trainingState" | "budget"> & { budget: Omit<Budget, "spend"> };
  /** The metrics ledger (feedback block and alerts); absent where no planner reads feedback. */
  ledger?: (spend: SpendLedger) => LedgerOptions;
};

/**
 * What a run knows, rebuilt only from its events: the training state, the guard (its rules
 * observe every outcome), the metrics ledger and the spend. Built once here for a live run
 * (run session), a cassette replay and an execute replay alike, so the three cannot wire
 * their listeners differently.
 */
export class RunState {
  /** The listeners that rebuild this state from events (recorded or live); no file writers among them. */
  readonly listeners: EventListener[];

  private constructor(
    readonly model: string,
    readonly training: TrainingState,
    readonly spend: SpendLedger,
    readonly guard: GuardPipeline,
    readonly ledger: MetricsLedger | undefined,
  ) {
    this.listeners = [training, observing(guard), ...(ledger ? [ledger] : []), spend];
  }

  static async build(o: RunStateOptions): Promise<RunState> {
    const training = new TrainingState();
    const spend = new SpendLedger();
    const guard = await buildGuard({ ...o.guard, trainingState: training, budget: { ...o.guard.budget, spend } });
    return new RunState(o.model, training, spend, guard, o.ledger ? new MetricsLedger(o.ledger(spend)) : undefined);
  }

  /** What the harness's own calls need: these tools and events, this guard, this run's model. */
  harness(tools: ToolExecutor, events: EventSink): HarnessCallDeps {
    return { tools, events, guard: this.guard, model: this.model };
  }
}

/**
 * Learning-rate schedules. Steps are counted across calls for the whole session, so
 * a schedule continues (rather than restarts) when training resumes after a call,
 * a save or a load.
 */

export const SCHEDULERS = ["constant", "linear", "cosine"] as const;
export type Scheduler = (typeof SCHEDULERS)[number];

/** Learning rate at 0-based `step` of a `total`-step horizon. */
export function learningRateAt(step: number, total: number, base: number, warmupRatio: number, scheduler: Scheduler): number {
  const horizon = Math.max(Math.floor(total), 1);
  const warmup = Math.floor(horizon * warmupRatio);
  if (step < warmup) return (base * (step + 1)) / Math.max(warmup, 1);
  if (scheduler === "constant") return base;
  const progress = Math.min(1, Math.max(0, (step - warmup) / Math.max(horizon - warmup, 1)));
  if (scheduler === "linear") return base * (1 - progress);
  return base * 0.5 * (1 + Math.cos(Math.PI * progress));
}

export class HorizonError extends Error {}

/**
 * The horizon (total steps) a decaying schedule runs over. An explicit horizon must
 * cover every step taken so far plus this call's. Without one, a decaying schedule
 * gets a horizon of at least 20 steps, so one-step calls do not collapse the LR at once.
 */
export function resolveHorizon(args: { scheduler: Scheduler; explicit: number | undefined; stepsSoFar: number; stepsThisCall: number; persisted: number }): {
  total: number;
  warning?: string;
} {
  const needed = Math.max(args.stepsSoFar + args.stepsThisCall, 1);
  if (args.explicit !== undefined && args.explicit > 0) {
    if (args.explicit < needed) {
      throw new HorizonError(
        `scheduler_total_steps=${args.explicit} is smaller than the steps this session will have taken after this call (${needed}). ` +
          `Pass at least ${needed}, or leave it at 0 for an inferred horizon.`,
      );
    }
    return { total: args.explicit };
  }
  if (args.scheduler === "constant") return { total: needed };
  const total = Math.max(needed, args.persisted, Math.max(20, args.stepsThisCall));
  const warning =
    args.stepsThisCall === 1 && total > needed
      ? `${args.scheduler} schedule without scheduler_total_steps: using an inferred horizon of ${total} steps. ` +
        `Pass scheduler_total_steps for a decay you control, or use lr_scheduler="constant".`
      : undefined;
  return { total, ...(warning ? { warning } : {}) };
}

/**
 * The schedule of one training call. Warmup applies only to a session's first call:
 * on a later call it is dropped, with a warning, because a fresh ramp would undo the
 * learning rate the session has reached. `unit` names a step in that warning.
 */
export function scheduleForCall(args: {
  scheduler: Scheduler;
  explicit: number | undefined;
  warmupRatio: number;
  stepsSoFar: number;
  stepsThisCall: number;
  persisted: number;
  unit: "step" | "iteration";
}): { warmup: number; horizon: number; warnings: string[] } {
  const warnings: string[] = [];
  let warmup = args.warmupRatio;
  if (warmup > 0 && args.stepsSoFar > 0) {
    warnings.push(
      `warmup_ratio=${warmup} ignored on continued training (${args.unit} ${args.stepsSoFar}); warmup only applies to a session's first training call.`,
    );
    warmup = 0;
  }
  const horizon = resolveHorizon(args);
  if (horizon.warning) warnings.push(horizon.warning);
  return { warmup, horizon: horizon.total, warnings };
}

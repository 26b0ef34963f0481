import type { SftRecord } from "./data-input.ts";
import { splitExamples } from "../contracts/sft-split.ts";
import { learningRateAt, scheduleForCall } from "./schedule.ts";
import type { Scheduler } from "./schedule.ts";
import type { EpochRecord, TrainingSession } from "./session.ts";

export type SftArgs = {
  examples: SftRecord[];
  numEpochs: number;
  learningRate: number;
  batchSize: number;
  warmupRatio: number;
  scheduler: Scheduler;
  schedulerTotalSteps: number | undefined;
  validationSplit: number;
};

export type SftOutcome = {
  train: number;
  validation: number;
  epochs: EpochRecord[];
  overfitting: boolean;
  lastLearningRate: number;
  horizon: number;
  effectiveWarmup: number;
  stepsThisCall: number;
  tokens: number;
  seconds: number;
  warnings: string[];
};

export async function runSft(session: TrainingSession, a: SftArgs, onProgress: (msg: string) => void): Promise<SftOutcome> {
  const backend = session.backend!;
  const logs = session.logs;
  const started = Date.now();
  const { train, val } = splitExamples(a.examples, a.validationSplit);
  const batches = Math.max(1, Math.ceil(train.length / a.batchSize));
  const stepsThisCall = batches * a.numEpochs;
  const { warmup, horizon, warnings } = scheduleForCall({
    scheduler: a.scheduler,
    explicit: a.schedulerTotalSteps,
    warmupRatio: a.warmupRatio,
    stepsSoFar: session.counters.sftSteps,
    stepsThisCall,
    persisted: session.counters.sftHorizon,
    unit: "step",
  });
  session.counters.sftHorizon = Math.max(session.counters.sftHorizon, horizon);
  logs.write(
    "training_debug.log",
    `[START] train_sft_step examples=${a.examples.length} train/val=${train.length}/${val.length} epochs=${a.numEpochs} batches=${batches} lr=${a.learningRate} horizon=${horizon}`,
  );

  const epochs: EpochRecord[] = [];
  let lr = a.learningRate;
  let tokens = 0;
  for (let e = 0; e < a.numEpochs; e++) {
    const losses: number[] = [];
    for (let b = 0; b < batches; b++) {
      const step = session.counters.sftSteps;
      lr = learningRateAt(step, horizon, a.learningRate, warmup, a.scheduler);
      const res = await backend.trainSupervised(train.slice(b * a.batchSize, (b + 1) * a.batchSize), { learningRate: lr });
      losses.push(res.loss);
      tokens += res.tokens;
      session.counters.sftSteps++;
      session.unsavedSteps++;
      logs.write("training_debug.log", `[BATCH ${b + 1}/${batches}] loss=${res.loss.toFixed(4)} lr=${lr.toExponential(2)} tokens=${res.tokens}`);
      onProgress(`SFT epoch ${session.counters.sftEpochs + 1}: batch ${b + 1}/${batches} loss ${res.loss.toFixed(4)}`);
    }
    const trainLoss = losses.reduce((x, y) => x + y, 0) / losses.length;
    const valLoss = val.length ? (await backend.evalSupervised(val)).loss : null;
    session.counters.sftEpochs++;
    const rec = { epoch: session.counters.sftEpochs, trainLoss, valLoss };
    epochs.push(rec);
    session.sftHistory.push(rec);
    logs.write("training_debug.log", `[EPOCH ${rec.epoch}] train_loss=${trainLoss.toFixed(4)}${valLoss === null ? "" : ` val_loss=${valLoss.toFixed(4)}`}`);
  }
  return {
    train: train.length,
    validation: val.length,
    epochs,
    overfitting: isOverfitting(session.sftHistory),
    lastLearningRate: lr,
    horizon,
    effectiveWarmup: warmup,
    stepsThisCall,
    tokens,
    seconds: (Date.now() - started) / 1000,
    warnings,
  };
}

/**
 * Validation loss above its best so far (by more than 1%) while training loss kept
 * falling over the same epochs. History spans calls, since one epoch per call is
 * the recommended way to train.
 */
export function isOverfitting(history: EpochRecord[]): boolean {
  const withVal = history.filter((h) => h.valLoss !== null);
  if (withVal.length < 2) return false;
  let best = 0;
  withVal.forEach((h, i) => {
    if (h.valLoss! < withVal[best]!.valLoss!) best = i;
  });
  const last = withVal[withVal.length - 1]!;
  const bestRec = withVal[best]!;
  return best < withVal.length - 1 && last.valLoss! > bestRec.valLoss! * 1.01 && last.trainLoss < bestRec.trainLoss;
}

export function sftGuidance(o: SftOutcome, history: EpochRecord[]): { verdict: string; next: string } {
  if (o.overfitting)
    return {
      verdict: "OVERFITTING: validation loss is rising while training loss falls.",
      next: "Stop training; save (or load the best checkpoint) and check quality with sample().",
    };
  const recent = history.slice(-2);
  if (recent.length === 2 && recent[1]!.trainLoss > recent[0]!.trainLoss + 0.1)
    return { verdict: "UNSTABLE: training loss went up.", next: "Lower the learning rate 2-5x." };
  if (recent.length === 2 && Math.abs(recent[1]!.trainLoss - recent[0]!.trainLoss) < 0.001 && history.length > 3)
    return { verdict: "PLATEAU: loss has stopped moving.", next: "sample() to check quality; if good, save. Otherwise bring more or better data." };
  return { verdict: "HEALTHY: loss is going down.", next: "Continue with train_sft_step(num_epochs=1, warmup_ratio=0); watch the validation loss." };
}

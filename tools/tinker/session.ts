import os from "node:os";
import path from "node:path";
import { runLayout } from "../../lib/run-layout.ts";
import type { ModelCard, TrainingBackend } from "./backend.ts";
import { SessionLogs } from "./session-logs.ts";

export type Method = "sft" | "grpo";

/** Counters that survive save/load, so schedules continue instead of restarting. */
export type Counters = {
  sftEpochs: number;
  sftSteps: number;
  grpoIterations: number;
  sftHorizon: number;
  grpoHorizon: number;
};

export const ZERO_COUNTERS: Counters = { sftEpochs: 0, sftSteps: 0, grpoIterations: 0, sftHorizon: 0, grpoHorizon: 0 };

/** A recorded SFT epoch, kept across calls so overfitting shows even with one epoch per call. */
export type EpochRecord = { epoch: number; trainLoss: number; valLoss: number | null };

/**
 * The one training session of this server process: which backend and model are
 * open, the method, counters, checkpoints saved, and the log directory.
 */
export class TrainingSession {
  logs: SessionLogs;
  backend: TrainingBackend | undefined;
  card: ModelCard | undefined;
  method: Method | undefined;
  groupSize = 4;
  counters: Counters = { ...ZERO_COUNTERS };
  /** Training steps since the last save (any method). */
  unsavedSteps = 0;
  /** alias → backend path of every checkpoint saved or auto-saved in this session. */
  readonly checkpoints = new Map<string, string>();
  sftHistory: EpochRecord[] = [];
  /** Best reward mean that triggered an auto-checkpoint so far. */
  bestAutoReward = -Infinity;
  /** Mean reward per GRPO iteration, across calls (for trends). */
  rewardHistory: number[] = [];

  constructor(private readonly logRoot = os.tmpdir()) {
    this.logs = new SessionLogs(logRoot);
  }

  /**
   * Where checkpoints go: TINKERLOOP_CHECKPOINT_DIR, else `<run dir>/checkpoints` under the
   * harness, else a temp dir of this process.
   */
  static checkpointDir(): string {
    if (process.env.TINKERLOOP_CHECKPOINT_DIR) return process.env.TINKERLOOP_CHECKPOINT_DIR;
    const run = process.env.TINKERLOOP_RUN_DIR;
    return run ? runLayout(run).checkpoints : path.join(os.tmpdir(), `tinkerloop-checkpoints-${process.pid}`);
  }

  /** Forgets all training progress (counters, histories, unsaved steps); checkpoints and logs stay. */
  clearProgress(): void {
    this.counters = { ...ZERO_COUNTERS };
    this.unsavedSteps = 0;
    this.sftHistory = [];
    this.bestAutoReward = -Infinity;
    this.rewardHistory = [];
  }

  /** Closes the backend and starts over with a fresh log directory; returns the old one. */
  async reset(): Promise<string> {
    const old = this.logs.dir;
    await this.backend?.close();
    this.backend = undefined;
    this.card = undefined;
    this.method = undefined;
    this.clearProgress();
    this.checkpoints.clear();
    this.logs = new SessionLogs(this.logRoot);
    return old;
  }
}

/**
 * Serializes tool calls: one runs at a time; a call that cannot get its turn within
 * `timeoutMs` is told the server is busy.
 */
export class CallLock {
  private tail: Promise<void> = Promise.resolve();
  private busy = false;

  constructor(private readonly timeoutMs: number) {}

  async run<T>(work: () => Promise<T>, onBusy: () => T): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    this.tail = prev.then(() => mine);
    let timer: NodeJS.Timeout | undefined;
    const acquired = await Promise.race([
      prev.then(() => true),
      new Promise<boolean>((r) => {
        if (this.timeoutMs >= 0) timer = setTimeout(() => r(false), this.timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!acquired) {
      // Give up our place: the next caller waits only for the call ahead of us.
      prev.then(release, release);
      return onBusy();
    }
    this.busy = true;
    try {
      return await work();
    } finally {
      this.busy = false;
      release();
    }
  }

  get running(): boolean {
    return this.busy;
  }
}

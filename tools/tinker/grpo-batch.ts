/**
 * One GRPO iteration's batch as it comes back: groups arrive (all at once from a plain
 * sample call, one by one from a pipelined backend), are scored in the persistent reward
 * worker as soon as it is free (every group that arrived meanwhile in one job, so a slow
 * group never holds the first reward back), and each scored group's outcome (advantages,
 * or why it has no signal) is handed on at once, so a streamed step can train on it.
 */
import type { ArrivedGroup, Completion, Rollout } from "./backend.ts";
import type { GrpoRecord } from "./data-input.ts";
import type { RewardSandbox } from "./reward/sandbox.ts";
import type { SessionLogs } from "./session-logs.ts";

const UNIFORM_EPS = 1e-6;

export type GroupKind = "mixed" | "allZero" | "allOne" | "uniformOther" | "failed";

/** What one prompt's group gives the step: its rollouts with advantages, or why none. */
export type GroupOutcome = { kind: GroupKind; rollouts: Rollout[]; rewards: number[]; mean: number };

export function meanStd(xs: number[]): { mean: number; std: number } {
  if (xs.length === 0) return { mean: 0, std: 0 };
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  return { mean, std };
}

/** Group-relative advantages; a group needs two completions with tokens and rewards that differ. */
export function groupOutcome(g: Completion[], scores: number[], normalize: boolean): GroupOutcome {
  const rewards: number[] = [];
  const usable: Array<{ rolloutId: string; reward: number }> = [];
  g.forEach((c, j) => {
    if (c.tokenCount === 0) return;
    rewards.push(scores[j]!);
    usable.push({ rolloutId: c.rolloutId, reward: scores[j]! });
  });
  if (usable.length < 2) return { kind: "failed", rollouts: [], rewards, mean: 0 };
  const { mean, std } = meanStd(rewards);
  if (std < UNIFORM_EPS) return { kind: mean >= 0.9 ? "allOne" : mean <= 0.1 ? "allZero" : "uniformOther", rollouts: [], rewards, mean };
  const rollouts = usable.map((u) => {
    let adv = u.reward - mean;
    if (normalize) adv = Math.max(-5, Math.min(5, adv / (std + 1e-8)));
    return { rolloutId: u.rolloutId, advantage: adv };
  });
  return { kind: "mixed", rollouts, rewards, mean };
}

/** Collects and scores one iteration's groups; `onScored` sees each group's outcome as it is known. */
export class IterationBatch {
  readonly groups: Array<Completion[] | undefined>;
  readonly scores: number[][];
  readonly outcomes: Array<GroupOutcome | undefined>;
  /** Prompt indexes in the order their groups were scored. */
  readonly scoredOrder: number[] = [];
  rewardErrors = 0;
  rewardMs = 0;
  /** When the last group came back (ms since the epoch). */
  lastArrival = 0;
  private queue: number[] = [];
  private scoring = false;
  private failed: Error | undefined;
  private settle: { resolve: () => void; reject: (e: Error) => void } | undefined;
  readonly done: Promise<void>;

  constructor(
    private readonly prompts: GrpoRecord[],
    private readonly sandbox: RewardSandbox,
    private readonly rewardFunction: string,
    private readonly normalize: boolean,
    private readonly logs: SessionLogs,
    private readonly onScored: (index: number, o: GroupOutcome) => void = () => undefined,
  ) {
    this.groups = prompts.map(() => undefined);
    this.scores = prompts.map(() => []);
    this.outcomes = prompts.map(() => undefined);
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // Nobody may be waiting yet when it fails (the overlap starts a batch early); the waiter sees it.
    this.done.catch(() => undefined);
  }

  /** Groups that came back; scored as soon as the reward worker is free. */
  arrive(...gs: ArrivedGroup[]): void {
    for (const g of gs) {
      this.groups[g.index] = g.completions;
      this.queue.push(g.index);
    }
    this.lastArrival = Date.now();
    this.pump();
  }

  /** The sampler failed: the batch fails once scoring in flight has ended. */
  fail(err: Error): void {
    this.failed = err;
    if (!this.scoring) this.settle?.reject(err);
  }

  get scored(): number {
    return this.scoredOrder.length;
  }

  private pump(): void {
    if (this.scoring) return;
    if (this.failed) return this.settle?.reject(this.failed);
    if (this.queue.length === 0) {
      if (this.scored === this.prompts.length) this.settle?.resolve();
      return;
    }
    const taken = this.queue;
    this.queue = [];
    this.scoring = true;
    const items = taken.flatMap((i) => this.groups[i]!.map((c) => ({ completion: c.text, ground_truth: this.prompts[i]!.ground_truth })));
    this.sandbox
      .score(this.rewardFunction, items)
      .then((res) => {
        this.rewardMs += res.ms;
        let k = 0;
        for (const i of taken) {
          const g = this.groups[i]!;
          const G = g.length;
          this.scores[i] = res.scores.slice(k, k + G);
          res.errors.slice(k, k + G).forEach((e, j) => {
            if (!e) return;
            this.rewardErrors++;
            if (this.rewardErrors <= 20) this.logs.write("reward_debug.log", `[REWARD ERROR] item ${i * G + j}: ${e}`);
          });
          k += G;
        }
        if (res.output) this.logs.write("reward_debug.log", `[REWARD OUTPUT] ${res.output.slice(0, 2000)}`);
        const errors = res.errors.filter(Boolean).length;
        this.logs.write("reward_debug.log", `[REWARD] ${items.length} completions scored in ${res.ms} ms (${errors} errors, isolation ${res.isolation})`);
        this.scoring = false;
        for (const i of taken) {
          const o = groupOutcome(this.groups[i]!, this.scores[i]!, this.normalize);
          this.outcomes[i] = o;
          this.scoredOrder.push(i);
          this.onScored(i, o);
        }
        this.pump();
      })
      .catch((err: Error) => {
        this.scoring = false;
        this.failed = err;
        this.settle?.reject(err);
      });
  }
}

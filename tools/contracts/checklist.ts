/**
 * The playbook's checklist in numbers: the thresholds at which the tinker server's
 * verdicts, the harness's feedback alerts and the scripted researcher's reactions
 * fire (each at or beyond its value). One home; `--alert-thresholds` overrides the
 * harness's copy per run.
 */
export const CHECKLIST = {
  /** Share of groups all 0 (or all 1) in the last GRPO call. */
  uniformShare: 0.6,
  /** Drop of the mean reward of the last 2 calls below the 2 before. */
  rewardDrop: 0.1,
  /** KL (sampler vs learner) of the last call. */
  kl: 0.05,
  /** Validation loss above its best, as a ratio. */
  valRise: 1.02,
  /** Training calls without a sample() in between. */
  callsWithoutSample: 5,
  /** Share of rewards that raised or returned junk. */
  rewardErrorShare: 0.1,
  /** Share of completions cut at max_tokens in the last GRPO call. */
  truncationShare: 0.2,
};

export type ChecklistThresholds = typeof CHECKLIST;

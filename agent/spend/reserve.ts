/**
 * What a stopping run's wrap-up may still spend, held back from every budget: the harness's
 * own calls after the last planner turn (the emergency save, the closing finish) must always
 * fit. Neither bills tokens today, so the reserve is $0; a wrap-up that bills (a final exam
 * on a graded run) adds its estimate here, and both the planner's and the training calls'
 * headroom shrink by it.
 */
export const WRAP_UP_RESERVE_USD = 0;

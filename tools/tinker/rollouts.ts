/**
 * Rollouts kept beside the model that sampled them, addressed by id. Only ids, texts,
 * finish reasons and token counts go to the caller; a policy step names ids. A batch
 * lives until the next sample call, training step, open, load or close — never longer
 * than the weights that produced it. The Python worker keeps its rollouts the same way
 * (tools/tinker/backends/tinker/worker.py, RolloutStore), with ids of the same form.
 */
import crypto from "node:crypto";
import { BackendError } from "./backend.ts";

/** Why the kept batch was dropped, as the stale-id error tells it. */
export type DropReason =
  | "a later sample call replaced them"
  | "a training step changed the weights"
  | "the model was opened or loaded again"
  | "the session was closed";

export class RolloutStore<T> {
  /** Ids are `<store>-<batch>-<index>`; the store part tells ids of another process or backend apart. */
  private readonly store = crypto.randomBytes(3).toString("hex");
  private batch = 0;
  private batchSize = 0;
  private kept = new Map<string, T>();
  private dropped: DropReason | undefined;

  /** Keeps a new batch (dropping the previous one) and returns its ids, in order. */
  keep(items: T[]): string[] {
    this.drop("a later sample call replaced them");
    this.batch++;
    this.batchSize = items.length;
    this.dropped = undefined;
    return items.map((item, i) => {
      const id = `${this.store}-${this.batch}-${i}`;
      this.kept.set(id, item);
      return id;
    });
  }

  /** Drops the kept batch; later ids from it are refused as stale, with this reason. */
  drop(reason: DropReason): void {
    if (this.kept.size || this.batch) this.dropped = reason;
    this.kept.clear();
  }

  /** The kept rollouts for `ids`, in order; refuses unknown, stale and repeated ids. The batch is consumed either way. */
  take(ids: string[]): T[] {
    try {
      const seen = new Set<string>();
      return ids.map((id) => {
        if (seen.has(id)) throw new BackendError(`Rollout ${id} is listed twice in one policy step.`, "bad_rollout");
        seen.add(id);
        const item = this.kept.get(id);
        if (item !== undefined) return item;
        throw this.refusal(id);
      });
    } finally {
      this.drop("a training step changed the weights");
    }
  }

  /** A kept rollout (tests and diagnostics). */
  peek(id: string): T | undefined {
    return this.kept.get(id);
  }

  private refusal(id: string): BackendError {
    const m = /^([0-9a-f]{6})-(\d+)-(\d+)$/.exec(id);
    const [store, batch, index] = m ? [m[1], Number(m[2]), Number(m[3])] : [undefined, 0, 0];
    const issued = store === this.store && (batch < this.batch || (batch === this.batch && index < this.batchSize));
    if (issued) {
      const why = batch < this.batch ? "a later sample call replaced them" : (this.dropped ?? "a training step changed the weights");
      return new BackendError(
        `Rollout ${id} is stale: rollouts are kept only until the next sample call or training step, and its batch was dropped (${why}). Sample again and train on the new ids.`,
        "stale_rollout",
      );
    }
    if (store !== undefined && store !== this.store)
      return new BackendError(
        `Rollout ${id} is stale: it was sampled by another backend (another process, or a session since replaced). Sample again and train on the new ids.`,
        "stale_rollout",
      );
    return new BackendError(`Unknown rollout id ${JSON.stringify(id)}: policy steps take the rollout ids that sample returned.`, "unknown_rollout");
  }
}

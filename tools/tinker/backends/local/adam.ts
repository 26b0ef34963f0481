import { tf } from "./tf-runtime.ts";

export type AdamSettings = { learningRate: number; beta1: number; beta2: number; eps: number; weightDecay: number };

/**
 * Adam over a fixed set of variables, with the learning rate given per step (the
 * server owns the schedule) and state that can be read out and restored exactly.
 */
export class Adam {
  step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(private readonly vars: Map<string, tf.Variable>) {
    for (const [name, variable] of vars) {
      this.m.set(name, tf.variable(tf.zerosLike(variable), false));
      this.v.set(name, tf.variable(tf.zerosLike(variable), false));
    }
  }

  /** Applies one update. `grads` is keyed by the same names as the variables. */
  apply(grads: Map<string, tf.Tensor>, s: AdamSettings): void {
    this.step++;
    const bc1 = 1 - s.beta1 ** this.step;
    const bc2 = 1 - s.beta2 ** this.step;
    tf.tidy(() => {
      for (const [name, variable] of this.vars) {
        const g = grads.get(name);
        if (!g) continue;
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        const m2 = tf.add(tf.mul(m, s.beta1), tf.mul(g, 1 - s.beta1));
        const v2 = tf.add(tf.mul(v, s.beta2), tf.mul(tf.square(g), 1 - s.beta2));
        m.assign(m2);
        v.assign(v2);
        let update = tf.div(tf.div(m2, bc1), tf.add(tf.sqrt(tf.div(v2, bc2)), s.eps));
        if (s.weightDecay > 0) update = tf.add(update, tf.mul(variable, s.weightDecay));
        variable.assign(tf.sub(variable, tf.mul(update, s.learningRate)));
      }
    });
  }

  /** Moments as plain arrays, for checkpoints. */
  exportState(): { step: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> } {
    const read = (src: Map<string, tf.Variable>) => new Map([...src].map(([k, t]) => [k, t.dataSync() as Float32Array]));
    return { step: this.step, m: read(this.m), v: read(this.v) };
  }

  importState(state: { step: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> }): void {
    this.step = state.step;
    for (const [src, dst] of [
      [state.m, this.m],
      [state.v, this.v],
    ] as const) {
      for (const [k, variable] of dst) {
        const data = src.get(k);
        if (!data || data.length !== variable.size) throw new Error(`optimizer state for ${k} is missing or has the wrong size`);
        variable.assign(tf.tensor(data, variable.shape));
      }
    }
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}

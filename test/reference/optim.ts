// Plain float64 references of the optimiser steps (engine/ops/optim.ts), in place on w and the state.

/** SGD with momentum and weight decay: v = mu v - lr (g + wd w); w += v. */
export function refSgdStep(w: Float64Array, g: ArrayLike<number>, v: Float64Array, p: { lr: number; momentum: number; weightDecay: number }): void {
  for (let i = 0; i < w.length; i++) {
    v[i] = p.momentum * v[i] - p.lr * (g[i] + p.weightDecay * w[i]);
    w[i] += v[i];
  }
}

/** Adagrad with q = g + wd w: h += q^2; w -= lr q / (sqrt(h) + eps). */
export function refAdagradStep(w: Float64Array, g: ArrayLike<number>, h: Float64Array, p: { lr: number; eps: number; weightDecay: number }): void {
  for (let i = 0; i < w.length; i++) {
    const q = g[i] + p.weightDecay * w[i];
    h[i] += q * q;
    w[i] -= (p.lr * q) / (Math.sqrt(h[i]) + p.eps);
  }
}

// Plain float64 references of softmax and softmax cross-entropy (engine/ops/softmax.ts) on logits [N, C].

/** Row-wise softmax, max subtracted first. */
export function refSoftmax(z: ArrayLike<number>, N: number, C: number): Float64Array {
  const p = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, z[n * C + c]);
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(z[n * C + c] - m);
    for (let c = 0; c < C; c++) p[n * C + c] = Math.exp(z[n * C + c] - m) / s;
  }
  return p;
}

/** Per-sample loss lse - z[label], its mean, probs, and grad = (p - onehot) / N (d mean / d z). */
export function refSoftmaxCrossEntropy(
  z: ArrayLike<number>, labels: ArrayLike<number>, N: number, C: number,
): { probs: Float64Array; loss: Float64Array; mean: number; grad: Float64Array } {
  const probs = refSoftmax(z, N, C);
  const loss = new Float64Array(N);
  const grad = new Float64Array(N * C);
  let sum = 0;
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, z[n * C + c]);
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(z[n * C + c] - m);
    loss[n] = m + Math.log(s) - z[n * C + labels[n]];
    sum += loss[n];
    for (let c = 0; c < C; c++) grad[n * C + c] = (probs[n * C + c] - (c === labels[n] ? 1 : 0)) / N;
  }
  return { probs, loss, mean: sum / N, grad };
}

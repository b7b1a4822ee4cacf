// Plain float64 references of the row reductions (engine/ops/reduce.ts) on a row-major [R, L] matrix.

export function refReduceRows(x: ArrayLike<number>, R: number, L: number, op: 'sum' | 'max'): Float64Array {
  const out = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let acc = op === 'sum' ? 0 : -Infinity;
    for (let j = 0; j < L; j++) acc = op === 'sum' ? acc + x[r * L + j] : Math.max(acc, x[r * L + j]);
    out[r] = acc;
  }
  return out;
}

/** First index of the maximum of each row. */
export function refArgmaxRows(x: ArrayLike<number>, R: number, L: number): Uint32Array {
  const out = new Uint32Array(R);
  for (let r = 0; r < R; r++) {
    let best = 0;
    for (let j = 1; j < L; j++) if (x[r * L + j] > x[r * L + best]) best = j;
    out[r] = best;
  }
  return out;
}

/** out[j] = sum_r x[r, j]. */
export function refSumColumns(x: ArrayLike<number>, R: number, L: number): Float64Array {
  const out = new Float64Array(L);
  for (let r = 0; r < R; r++) for (let j = 0; j < L; j++) out[j] += x[r * L + j];
  return out;
}

export function refSumAll(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s;
}

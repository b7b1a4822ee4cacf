// Plain float64 references of matmul (engine/ops/matmul.ts) and of a fully connected layer.
// Layouts as on the GPU: row-major; A [M,K] (or [K,M] transposed), B [K,N] (or [N,K]); FC weights [Out,In].
export type RefActivation = 'none' | 'tanh' | 'relu';

export function refActivate(a: RefActivation, z: number): number {
  return a === 'tanh' ? Math.tanh(z) : a === 'relu' ? Math.max(0, z) : z;
}

/** f'(z) written from y = f(z), as the GPU does. */
export function refActivationGrad(a: RefActivation, y: number): number {
  return a === 'tanh' ? 1 - y * y : a === 'relu' ? (y > 0 ? 1 : 0) : 1;
}

export interface RefMatmulParams {
  transA?: boolean;
  transB?: boolean;
  bias?: ArrayLike<number>;
  /** bias has M values, bias[m] added along row m */
  biasRows?: boolean;
  activation?: RefActivation;
}

/** C[m,n] = act(sum_k op(A)[m,k] op(B)[k,n] + bias[n] (bias[m] with biasRows)), returned as [M,N]. */
export function refMatmul(a: ArrayLike<number>, b: ArrayLike<number>, M: number, N: number, K: number, p: RefMatmulParams = {}): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = p.bias ? p.bias[p.biasRows ? m : n] : 0;
      for (let k = 0; k < K; k++) {
        const av = p.transA ? a[k * M + m] : a[m * K + k];
        const bv = p.transB ? b[n * K + k] : b[k * N + n];
        s += av * bv;
      }
      c[m * N + n] = refActivate(p.activation ?? 'none', s);
    }
  return c;
}

/** y[n,o] = act(sum_i x[n,i] w[o,i] + b[o]): x [N,In], w [Out,In], b [Out] -> y [N,Out]. */
export function refLinearForward(
  x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, N: number, In: number, Out: number, act: RefActivation,
): Float64Array {
  return refMatmul(x, w, N, Out, In, { transB: true, bias: b, activation: act });
}

/** Gradients of the layer from y and dy = dLoss/dy: G = dy f'(y); dx = G W; dw = G^T X; db = sum_n G[n,:]. */
export function refLinearBackward(
  x: ArrayLike<number>, w: ArrayLike<number>, y: ArrayLike<number>, dy: ArrayLike<number>,
  N: number, In: number, Out: number, act: RefActivation,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const g = new Float64Array(N * Out);
  for (let i = 0; i < g.length; i++) g[i] = dy[i] * refActivationGrad(act, y[i]);
  const db = new Float64Array(Out);
  for (let n = 0; n < N; n++) for (let o = 0; o < Out; o++) db[o] += g[n * Out + o];
  return {
    dx: refMatmul(g, w, N, In, Out),
    dw: refMatmul(g, x, Out, In, N, { transA: true }),
    db,
  };
}

// float64 references for convolution and max-pooling (plain loops, NCHW, PyTorch layouts).
export type Act = 'none' | 'tanh' | 'relu';
export const actF = (a: Act, v: number) => (a === 'tanh' ? Math.tanh(v) : a === 'relu' ? Math.max(0, v) : v);

export interface ConvShape {
  N: number; CIN: number; H: number; W: number; COUT: number; K: number; D: number;
}

export function convOut(s: ConvShape) {
  return { HO: s.H - s.D * (s.K - 1), WO: s.W - s.D * (s.K - 1) };
}

/** Pre-activation z and output y = act(z). */
export function conv2dRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, s: ConvShape, act: Act) {
  const { HO, WO } = convOut(s);
  const z = new Float64Array(s.N * s.COUT * HO * WO);
  for (let n = 0; n < s.N; n++)
    for (let co = 0; co < s.COUT; co++)
      for (let oy = 0; oy < HO; oy++)
        for (let ox = 0; ox < WO; ox++) {
          let acc = b[co];
          for (let ci = 0; ci < s.CIN; ci++)
            for (let ky = 0; ky < s.K; ky++)
              for (let kx = 0; kx < s.K; kx++)
                acc += w[((co * s.CIN + ci) * s.K + ky) * s.K + kx] * x[((n * s.CIN + ci) * s.H + oy + s.D * ky) * s.W + ox + s.D * kx];
          z[((n * s.COUT + co) * HO + oy) * WO + ox] = acc;
        }
  return { z, y: z.map((v) => actF(act, v)) };
}

/** Gradients from g = dL/dz. */
export function conv2dBackwardRef(x: ArrayLike<number>, w: ArrayLike<number>, g: ArrayLike<number>, s: ConvShape) {
  const { HO, WO } = convOut(s);
  const dx = new Float64Array(s.N * s.CIN * s.H * s.W);
  const dw = new Float64Array(s.COUT * s.CIN * s.K * s.K);
  const db = new Float64Array(s.COUT);
  for (let n = 0; n < s.N; n++)
    for (let co = 0; co < s.COUT; co++)
      for (let oy = 0; oy < HO; oy++)
        for (let ox = 0; ox < WO; ox++) {
          const gv = g[((n * s.COUT + co) * HO + oy) * WO + ox];
          db[co] += gv;
          for (let ci = 0; ci < s.CIN; ci++)
            for (let ky = 0; ky < s.K; ky++)
              for (let kx = 0; kx < s.K; kx++) {
                const xi = ((n * s.CIN + ci) * s.H + oy + s.D * ky) * s.W + ox + s.D * kx;
                const wi = ((co * s.CIN + ci) * s.K + ky) * s.K + kx;
                dw[wi] += gv * x[xi];
                dx[xi] += gv * w[wi];
              }
        }
  return { dx, dw, db };
}

export interface PoolShape {
  N: number; C: number; H: number; W: number; K: number; S: number; D: number;
}

export function poolOut(s: PoolShape) {
  const span = s.D * (s.K - 1) + 1;
  return { HO: Math.floor((s.H - span) / s.S) + 1, WO: Math.floor((s.W - span) / s.S) + 1 };
}

export function maxPoolRef(x: ArrayLike<number>, s: PoolShape) {
  const { HO, WO } = poolOut(s);
  const y = new Float64Array(s.N * s.C * HO * WO);
  const arg = new Uint32Array(y.length);
  for (let nc = 0; nc < s.N * s.C; nc++)
    for (let oy = 0; oy < HO; oy++)
      for (let ox = 0; ox < WO; ox++) {
        let best = -Infinity, at = 0;
        for (let ky = 0; ky < s.K; ky++)
          for (let kx = 0; kx < s.K; kx++) {
            const i = (nc * s.H + s.S * oy + s.D * ky) * s.W + s.S * ox + s.D * kx;
            if (x[i] > best) { best = x[i]; at = i; }
          }
        const o = (nc * HO + oy) * WO + ox;
        y[o] = best;
        arg[o] = at;
      }
  return { y, arg };
}

export function maxPoolBackwardRef(dy: ArrayLike<number>, arg: ArrayLike<number>, inputSize: number) {
  const dx = new Float64Array(inputSize);
  for (let o = 0; o < dy.length; o++) dx[arg[o]] += dy[o];
  return dx;
}

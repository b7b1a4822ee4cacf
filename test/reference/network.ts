// Plain float64 reference of the mitosis nets (src/model/spec.ts) on a batch of patches:
// forward (keeping activations), softmax cross-entropy, backward (gradients of every parameter),
// and an SGD step with momentum and weight decay. Layouts as on the GPU: NCHW maps, conv weights
// [Cout,Cin,K,K], FC weights [Out,In], FC input = the maps flattened in NCHW order.
import type { LayerSpec, NetSpec } from '../../src/model/spec.js';

export type Act = 'tanh' | 'relu' | 'none';

export interface RefParams {
  weight: Float64Array;
  bias: Float64Array;
}

/** Output of one layer: [N, maps, size, size] (size 1 for FC). */
export interface RefLayerOut {
  y: Float64Array;
  maps: number;
  size: number;
  /** For max-pooling: flat index into the layer's input of each output's maximum. */
  argmax?: Int32Array;
}

export interface RefForward {
  N: number;
  input: Float64Array;
  inMaps: number;
  inSize: number;
  layers: RefLayerOut[];
  logits: Float64Array; // [N,2]
  probs: Float64Array; // [N,2]
}

export function act(a: Act, z: number): number {
  return a === 'tanh' ? Math.tanh(z) : a === 'relu' ? Math.max(0, z) : z;
}

/** f'(z) written from y = f(z), as the GPU does. */
export function actGrad(a: Act, y: number): number {
  return a === 'tanh' ? 1 - y * y : a === 'relu' ? (y > 0 ? 1 : 0) : 1;
}

/** Valid convolution (cross-correlation), stride 1, dilation d: y[n,o,i,j] = b[o] + sum w[o,c,p,q] x[n,c,i+d p,j+d q]. */
export function refConv2d(
  x: ArrayLike<number>, N: number, Cin: number, H: number, W: number,
  w: ArrayLike<number>, b: ArrayLike<number>, Cout: number, K: number, d = 1, a: Act = 'none',
): { y: Float64Array; Ho: number; Wo: number } {
  const Ho = H - d * (K - 1);
  const Wo = W - d * (K - 1);
  const y = new Float64Array(N * Cout * Ho * Wo);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < Cout; o++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          let s = b[o];
          for (let c = 0; c < Cin; c++)
            for (let p = 0; p < K; p++) {
              const xr = ((n * Cin + c) * H + i + d * p) * W + j;
              const wr = ((o * Cin + c) * K + p) * K;
              for (let q = 0; q < K; q++) s += w[wr + q] * x[xr + d * q];
            }
          y[((n * Cout + o) * Ho + i) * Wo + j] = act(a, s);
        }
  return { y, Ho, Wo };
}

/** Max-pooling k x k, stride s, dilation d; argmax = flat index into x of the first maximum (row-major window order). */
export function refMaxPool(
  x: ArrayLike<number>, N: number, C: number, H: number, W: number, k: number, s = k, d = 1,
): { y: Float64Array; argmax: Int32Array; Ho: number; Wo: number } {
  const Ho = Math.floor((H - d * (k - 1) - 1) / s) + 1;
  const Wo = Math.floor((W - d * (k - 1) - 1) / s) + 1;
  const y = new Float64Array(N * C * Ho * Wo);
  const argmax = new Int32Array(y.length);
  for (let nc = 0; nc < N * C; nc++)
    for (let i = 0; i < Ho; i++)
      for (let j = 0; j < Wo; j++) {
        let best = -Infinity;
        let at = -1;
        for (let p = 0; p < k; p++)
          for (let q = 0; q < k; q++) {
            const idx = (nc * H + i * s + d * p) * W + j * s + d * q;
            if (x[idx] > best) {
              best = x[idx];
              at = idx;
            }
          }
        const o = (nc * Ho + i) * Wo + j;
        y[o] = best;
        argmax[o] = at;
      }
  return { y, argmax, Ho, Wo };
}

/** Forward pass of `spec` on x [N, C, S, S]. */
export function refForward(spec: NetSpec, params: readonly { weight: ArrayLike<number>; bias: ArrayLike<number> }[], x: ArrayLike<number>, N: number): RefForward {
  let maps = spec.input.channels;
  let size = spec.input.size;
  let cur: Float64Array = Float64Array.from(x);
  const input = cur;
  const layers: RefLayerOut[] = [];
  let pi = 0;
  spec.layers.forEach((l: LayerSpec, li) => {
    const last = li === spec.layers.length - 1;
    if (l.type === 'conv') {
      const p = params[pi++];
      const r = refConv2d(cur, N, maps, size, size, p.weight, p.bias, l.maps, l.k, 1, spec.activation);
      cur = r.y;
      maps = l.maps;
      size = r.Ho;
      layers.push({ y: cur, maps, size });
    } else if (l.type === 'maxpool') {
      const r = refMaxPool(cur, N, maps, size, size, l.k);
      cur = r.y;
      size = r.Ho;
      layers.push({ y: cur, maps, size, argmax: r.argmax });
    } else {
      const p = params[pi++];
      const In = maps * size * size;
      const y = new Float64Array(N * l.units);
      for (let n = 0; n < N; n++)
        for (let o = 0; o < l.units; o++) {
          let s = p.bias[o];
          for (let i = 0; i < In; i++) s += p.weight[o * In + i] * cur[n * In + i];
          y[n * l.units + o] = last ? s : act(spec.activation, s);
        }
      cur = y;
      maps = l.units;
      size = 1;
      layers.push({ y: cur, maps, size });
    }
  });
  const logits = cur;
  const probs = new Float64Array(N * 2);
  for (let n = 0; n < N; n++) {
    const m = Math.max(logits[2 * n], logits[2 * n + 1]);
    const e0 = Math.exp(logits[2 * n] - m);
    const e1 = Math.exp(logits[2 * n + 1] - m);
    probs[2 * n] = e0 / (e0 + e1);
    probs[2 * n + 1] = e1 / (e0 + e1);
  }
  return { N, input, inMaps: spec.input.channels, inSize: spec.input.size, layers, logits, probs };
}

/** Per-sample cross-entropy -log p[label] and its mean. */
export function refLoss(fwd: RefForward, labels: ArrayLike<number>): { perSample: Float64Array; mean: number } {
  const perSample = new Float64Array(fwd.N);
  let sum = 0;
  for (let n = 0; n < fwd.N; n++) {
    const z0 = fwd.logits[2 * n];
    const z1 = fwd.logits[2 * n + 1];
    const m = Math.max(z0, z1);
    const lse = m + Math.log(Math.exp(z0 - m) + Math.exp(z1 - m));
    perSample[n] = lse - (labels[n] === 1 ? z1 : z0);
    sum += perSample[n];
  }
  return { perSample, mean: sum / fwd.N };
}

/** Gradients of the mean cross-entropy with respect to every parameter (and the input). */
export function refBackward(
  spec: NetSpec, params: readonly { weight: ArrayLike<number>; bias: ArrayLike<number> }[], fwd: RefForward, labels: ArrayLike<number>,
): { grads: RefParams[]; dx: Float64Array } {
  const N = fwd.N;
  // d loss / d logits = (p - onehot) / N
  let dy = new Float64Array(N * 2);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < 2; c++) dy[2 * n + c] = (fwd.probs[2 * n + c] - (labels[n] === c ? 1 : 0)) / N;
  const grads: RefParams[] = new Array(params.length);
  let pi = params.length;
  for (let li = spec.layers.length - 1; li >= 0; li--) {
    const l = spec.layers[li];
    const out = fwd.layers[li];
    const inp = li === 0 ? { y: fwd.input, maps: fwd.inMaps, size: fwd.inSize } : fwd.layers[li - 1];
    const last = li === spec.layers.length - 1;
    const x = inp.y;
    if (l.type === 'maxpool') {
      const dx = new Float64Array(x.length);
      for (let i = 0; i < dy.length; i++) dx[out.argmax![i]] += dy[i];
      dy = dx;
      continue;
    }
    const p = params[--pi];
    // dz = dy * f'(z), from the output y
    const dz = new Float64Array(dy.length);
    for (let i = 0; i < dy.length; i++) dz[i] = last ? dy[i] : dy[i] * actGrad(spec.activation, out.y[i]);
    if (l.type === 'fc') {
      const In = inp.maps * inp.size * inp.size;
      const Out = l.units;
      const dw = new Float64Array(Out * In);
      const db = new Float64Array(Out);
      const dx = new Float64Array(N * In);
      for (let n = 0; n < N; n++)
        for (let o = 0; o < Out; o++) {
          const g = dz[n * Out + o];
          db[o] += g;
          for (let i = 0; i < In; i++) {
            dw[o * In + i] += g * x[n * In + i];
            dx[n * In + i] += g * p.weight[o * In + i];
          }
        }
      grads[pi] = { weight: dw, bias: db };
      dy = dx;
    } else {
      const Cin = inp.maps;
      const H = inp.size;
      const Cout = l.maps;
      const K = l.k;
      const Ho = out.size;
      const dw = new Float64Array(Cout * Cin * K * K);
      const db = new Float64Array(Cout);
      const dx = new Float64Array(x.length);
      for (let n = 0; n < N; n++)
        for (let o = 0; o < Cout; o++)
          for (let i = 0; i < Ho; i++)
            for (let j = 0; j < Ho; j++) {
              const g = dz[((n * Cout + o) * Ho + i) * Ho + j];
              db[o] += g;
              for (let c = 0; c < Cin; c++)
                for (let a = 0; a < K; a++)
                  for (let b = 0; b < K; b++) {
                    const xi = ((n * Cin + c) * H + i + a) * H + j + b;
                    const wi = ((o * Cin + c) * K + a) * K + b;
                    dw[wi] += g * x[xi];
                    dx[xi] += g * p.weight[wi];
                  }
            }
      grads[pi] = { weight: dw, bias: db };
      dy = dx;
    }
  }
  return { grads, dx: dy };
}

/** SGD with momentum and weight decay, in place: v = mu v - lr (g + wd w); w += v. */
export function refSgdStep(w: Float64Array, g: ArrayLike<number>, v: Float64Array, p: { lr: number; momentum: number; weightDecay: number }): void {
  for (let i = 0; i < w.length; i++) {
    v[i] = p.momentum * v[i] - p.lr * (g[i] + p.weightDecay * w[i]);
    w[i] += v[i];
  }
}

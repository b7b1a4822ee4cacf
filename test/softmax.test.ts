import { describe, expect, it } from 'vitest';
import { softmax, softmaxCrossEntropy } from '../engine/ops/softmax.js';
import { useEngine } from './helpers/gpu.js';
import { expectClose, randomArray } from './helpers/reference.js';
import { refSoftmax, refSoftmaxCrossEntropy } from './reference/softmax.js';

const ctx = useEngine();

function rand32(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  return Float64Array.from(Float32Array.from(randomArray(n, seed, lo, hi)));
}

function randomLabels(N: number, C: number, seed: number): Uint32Array {
  return Uint32Array.from(randomArray(N, seed, 0, C), Math.floor);
}

// Tolerances, float32 GPU vs float64 reference on logits in [-5, 5): probabilities rtol 1e-5,
// atol 1e-7; per-sample loss rtol 1e-5, atol 1e-6; gradients (~p/N) rtol 1e-5, atol 1e-7 / N.
describe('softmax', () => {
  it('matches float64 on random logits (37 rows of 11 classes, and 130 rows of 2)', async () => {
    const e = ctx.e;
    for (const [N, C, seed] of [[37, 11, 1], [130, 2, 2]]) {
      const z = rand32(N * C, seed, -5, 5);
      const got = await softmax(e, e.tensor([N, C], z)).read();
      expectClose(got, refSoftmax(z, N, C), 1e-5, 1e-7, `softmax ${N}x${C}`);
    }
  });

  it('stays finite for logits of +-1e4', async () => {
    const e = ctx.e;
    const z = [1e4, -1e4, 0, 1e4, -1e4, -1e4, -1e4, -1e4 + 1, 3e38, -3e38, 0, 1];
    const got = await softmax(e, e.tensor([3, 4], z)).read();
    expect(got.every(Number.isFinite)).toBe(true);
    expectClose(got, refSoftmax(z, 3, 4), 1e-6, 1e-7, 'softmax of huge logits');
    expect(Array.from(got.slice(0, 4))).toEqual([0.5, 0, 0, 0.5]);
  });
});

describe('softmaxCrossEntropy', () => {
  it('matches float64 probs, per-sample loss and gradient (37x7 and, as in the nets, 257x2)', async () => {
    const e = ctx.e;
    for (const [N, C, seed] of [[37, 7, 10], [257, 2, 11]]) {
      const z = rand32(N * C, seed, -5, 5);
      const labels = randomLabels(N, C, seed + 1);
      const want = refSoftmaxCrossEntropy(z, labels, N, C);
      const { probs, loss, grad } = softmaxCrossEntropy(e, e.tensor([N, C], z), e.tensor([N], labels));
      expect(probs.shape).toEqual([N, C]);
      expect(loss.shape).toEqual([N]);
      expect(grad.shape).toEqual([N, C]);
      expectClose(await probs.read(), want.probs, 1e-5, 1e-7, `probs ${N}x${C}`);
      expectClose(await loss.read(), want.loss, 1e-5, 1e-6, `loss ${N}x${C}`);
      expectClose(await grad.read(), want.grad, 1e-5, 1e-7 / N, `grad ${N}x${C}`);
    }
  });

  it('stays finite and exact for logits of +-1e4 (loss = logsumexp - z[label], never log 0)', async () => {
    const e = ctx.e;
    const z = [1e4, -1e4, -1e4, 1e4, 0, 0, 20, -20];
    const labels = Uint32Array.from([1, 1, 0, 1]);
    const want = refSoftmaxCrossEntropy(z, labels, 4, 2);
    const { probs, loss, grad } = softmaxCrossEntropy(e, e.tensor([4, 2], z), e.tensor([4], labels));
    const l = await loss.read();
    expect(l.every(Number.isFinite)).toBe(true);
    expect(l[0]).toBe(2e4);
    expect(l[1]).toBe(0);
    expectClose(l, want.loss, 1e-6, 1e-6, 'loss');
    expectClose(await probs.read(), want.probs, 1e-6, 1e-7, 'probs');
    expectClose(await grad.read(), want.grad, 1e-6, 1e-8, 'grad');
  });

  it('gradient agrees with central finite differences of the float64 mean loss', async () => {
    // d mean / d z[i] ~ (mean(z + h e_i) - mean(z - h e_i)) / 2h, h = 1e-6 (error ~1e-10).
    // Reference vs FD: rtol 1e-6, atol 1e-9. GPU float32 vs FD: rtol 1e-4, atol 1e-7.
    const e = ctx.e;
    const N = 5, C = 4, h = 1e-6;
    const z = rand32(N * C, 30, -3, 3);
    const labels = randomLabels(N, C, 31);
    const fd = z.map((v, i) => {
      z[i] = v + h;
      const up = refSoftmaxCrossEntropy(z, labels, N, C).mean;
      z[i] = v - h;
      const down = refSoftmaxCrossEntropy(z, labels, N, C).mean;
      z[i] = v;
      return (up - down) / (2 * h);
    });
    expectClose(refSoftmaxCrossEntropy(z, labels, N, C).grad, fd, 1e-6, 1e-9, 'reference grad vs FD');
    const { grad } = softmaxCrossEntropy(e, e.tensor([N, C], z), e.tensor([N], labels));
    expectClose(await grad.read(), fd, 1e-4, 1e-7, 'GPU grad vs FD');
  });

  it('marks a label outside [0, C) with NaN loss and gradient', async () => {
    const e = ctx.e;
    const { loss, grad } = softmaxCrossEntropy(e, e.tensor([2, 2], [1, 2, 3, 4]), e.tensor([2], Uint32Array.from([1, 2])));
    const l = await loss.read();
    const g = await grad.read();
    expect(Number.isFinite(l[0])).toBe(true);
    expect(Number.isNaN(l[1])).toBe(true);
    expect(Number.isNaN(g[2]) && Number.isNaN(g[3])).toBe(true);
  });

  it('rejects a label count that differs from the rows', () => {
    const e = ctx.e;
    expect(() => softmaxCrossEntropy(e, e.zeros([3, 2]), e.zeros([2]))).toThrow(/2 labels for 3 rows/);
  });
});

import { describe, expect, it } from 'vitest';
import { adagradStep, sgdStep } from '../engine/ops/optim.js';
import { useEngine } from './helpers/gpu.js';
import { expectClose, randomArray } from './helpers/reference.js';
import { refAdagradStep, refSgdStep } from './reference/optim.js';

const ctx = useEngine();

function rand32(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  return Float64Array.from(Float32Array.from(randomArray(n, seed, lo, hi)));
}

// Five steps on 1037 weights (odd, several workgroups), a new gradient and a new learning rate each
// step, all recorded before one readback (so each step must see its own uniform). Tolerance for
// float32 state vs float64 after 5 steps: rtol 1e-5, atol 1e-6.
const n = 1037;
const lrs = [0.1, 0.05, 0.02, 0.01, 0.3];

describe('optimisers', () => {
  it('sgdStep: several momentum + weight-decay steps match float64', async () => {
    const e = ctx.e;
    const w = rand32(n, 1);
    const v = new Float64Array(n);
    const tw = e.tensor([n], w);
    const tv = e.zeros([n]);
    lrs.forEach((lr, s) => {
      const g = rand32(n, 10 + s);
      const p = { lr, momentum: 0.9, weightDecay: 5e-3 };
      refSgdStep(w, g, v, p);
      sgdStep(e, tw, e.tensor([n], g), tv, p);
    });
    expectClose(await tv.read(), v, 1e-5, 1e-6, 'velocity');
    expectClose(await tw.read(), w, 1e-5, 1e-6, 'weights');
  });

  it('adagradStep: several steps with weight decay match float64', async () => {
    const e = ctx.e;
    const w = rand32(n, 2);
    const h = new Float64Array(n);
    const tw = e.tensor([n], w);
    const th = e.zeros([n]);
    lrs.forEach((lr, s) => {
      const g = rand32(n, 20 + s);
      const p = { lr, eps: 1e-6, weightDecay: 5e-3 };
      refAdagradStep(w, g, h, p);
      adagradStep(e, tw, e.tensor([n], g), th, p);
    });
    expectClose(await th.read(), h, 1e-5, 1e-6, 'accumulator');
    expectClose(await tw.read(), w, 1e-5, 1e-6, 'weights');
  });

  it('weight decay is part of the gradient Adagrad accumulates (Caffe, PyTorch)', async () => {
    // g = 0, w = 1, wd = 0.5, h = 4: q = 0.5, h = 4.25; w = 1 - 0.2 * 0.5 / sqrt(4.25).
    const e = ctx.e;
    const tw = e.tensor([3], [1, 1, 1]);
    const th = e.tensor([3], [4, 4, 4]);
    adagradStep(e, tw, e.zeros([3]), th, { lr: 0.2, eps: 0, weightDecay: 0.5 });
    expectClose(await th.read(), [4.25, 4.25, 4.25], 1e-7, 0, 'accumulator');
    const w1 = 1 - (0.2 * 0.5) / Math.sqrt(4.25);
    expectClose(await tw.read(), [w1, w1, w1], 1e-7, 0, 'weights');
  });

  it('rejects tensors of different sizes', () => {
    const e = ctx.e;
    expect(() => sgdStep(e, e.zeros([4]), e.zeros([4]), e.zeros([3]), { lr: 1, momentum: 0, weightDecay: 0 })).toThrow(/same number/);
    expect(() => adagradStep(e, e.zeros([4]), e.zeros([5]), e.zeros([4]), { lr: 1, eps: 0, weightDecay: 0 })).toThrow(/same number/);
  });
});

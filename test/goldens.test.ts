// Our kernels against goldens computed by an independent framework: PyTorch (CPU, float64), by
// goldens/make_goldens.py on the same float32 inputs. Tolerances: 1e-5 relative + 1e-5 absolute for
// forward values, 1e-4 for gradients that sum many terms; exact for argmax.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Activation } from '../engine/activation.js';
import { conv2dBackward, conv2dForward } from '../engine/ops/conv2d.js';
import { linearBackward, linearForward } from '../engine/ops/matmul.js';
import { adagradStep, sgdStep } from '../engine/ops/optim.js';
import { maxPoolBackward, maxPoolForward } from '../engine/ops/pool.js';
import { argmaxRows, reduceRows } from '../engine/ops/reduce.js';
import { softmaxCrossEntropy } from '../engine/ops/softmax.js';
import { useEngine } from './helpers/gpu.js';
import { expectClose } from './helpers/reference.js';

interface Golden {
  params: Record<string, number | string>;
  tensors: Record<string, { shape: number[]; data: number[] }>;
}
const file = JSON.parse(readFileSync(resolve(import.meta.dirname, '../goldens/kernels.json'), 'utf8')) as {
  meta: { framework: string };
  cases: Record<string, Golden>;
};
const cases = (prefix: string) => Object.entries(file.cases).filter(([k]) => k.startsWith(prefix));
const ctx = useEngine();

describe(`goldens from ${file.meta.framework}`, () => {
  it('has every kernel family', () => {
    for (const p of ['conv2d.', 'maxpool.', 'linear.', 'softmax_xent.', 'optim.sgd', 'optim.adagrad', 'reduce.', 'train.']) {
      expect(cases(p).length, p).toBeGreaterThan(0);
    }
  });

  for (const [name, g] of cases('conv2d.')) {
    it(name, async () => {
      const e = ctx.e, t = g.tensors, act = g.params.activation as Activation, dilation = g.params.dilation as number;
      const x = e.tensor(t.x.shape, t.x.data), w = e.tensor(t.w.shape, t.w.data), b = e.tensor(t.b.shape, t.b.data);
      const y = conv2dForward(e, x, w, b, { dilation, activation: act });
      expect(y.shape).toEqual(t.y.shape);
      expectClose(await y.read(), t.y.data, 1e-5, 1e-5, 'y');
      const { dx, dw, db } = conv2dBackward(e, x, w, y, e.tensor(t.dy.shape, t.dy.data), { dilation, activation: act });
      expectClose(await dx.read(), t.dx.data, 1e-4, 1e-5, 'dx');
      expectClose(await dw.read(), t.dw.data, 1e-4, 1e-4, 'dw');
      expectClose(await db.read(), t.db.data, 1e-4, 1e-4, 'db');
    });
  }

  for (const [name, g] of cases('maxpool.')) {
    it(name, async () => {
      const e = ctx.e, t = g.tensors;
      const p = { k: g.params.k as number, stride: g.params.stride as number, dilation: g.params.dilation as number };
      const x = e.tensor(t.x.shape, t.x.data);
      const { y, argmax } = maxPoolForward(e, x, p);
      expect(y.shape).toEqual(t.y.shape);
      expectClose(await y.read(), t.y.data, 0, 1e-7, 'y');
      const dx = maxPoolBackward(e, e.tensor(t.dy.shape, t.dy.data), argmax, x.shape, p);
      expectClose(await dx.read(), t.dx.data, 1e-6, 1e-6, 'dx');
    });
  }

  for (const [name, g] of cases('linear.')) {
    it(name, async () => {
      const e = ctx.e, t = g.tensors, act = g.params.activation as Activation;
      const x = e.tensor(t.x.shape, t.x.data), w = e.tensor(t.w.shape, t.w.data), b = e.tensor(t.b.shape, t.b.data);
      const y = linearForward(e, x, w, b, act);
      expectClose(await y.read(), t.y.data, 1e-5, 1e-5, 'y');
      const { dx, dw, db } = linearBackward(e, x, w, y, e.tensor(t.dy.shape, t.dy.data), act);
      expectClose(await dx.read(), t.dx.data, 1e-4, 1e-5, 'dx');
      expectClose(await dw.read(), t.dw.data, 1e-4, 1e-5, 'dw');
      expectClose(await db.read(), t.db.data, 1e-4, 1e-5, 'db');
    });
  }

  for (const [name, g] of cases('softmax_xent.')) {
    it(name, async () => {
      const e = ctx.e, t = g.tensors;
      const z = e.tensor(t.logits.shape, t.logits.data);
      const labels = e.tensor([t.labels.data.length], Uint32Array.from(t.labels.data));
      const { probs, loss, grad } = softmaxCrossEntropy(e, z, labels);
      expectClose(await probs.read(), t.probs.data, 1e-5, 1e-6, 'probs');
      expectClose(await loss.read(), t.loss.data, 1e-5, 1e-5, 'loss');
      expectClose(await grad.read(), t.grad.data, 1e-5, 1e-6, 'grad');
    });
  }

  for (const [name, g] of cases('optim.')) {
    it(`${name}: three steps`, async () => {
      const e = ctx.e, t = g.tensors, p = g.params as Record<string, number>;
      const w = e.tensor(t.w0.shape, t.w0.data);
      const state = e.zeros(t.w0.shape);
      for (const k of ['g0', 'g1', 'g2']) {
        const gt = e.tensor(t[k].shape, t[k].data);
        if (name === 'optim.sgd') sgdStep(e, w, gt, state, { lr: p.lr, momentum: p.momentum, weightDecay: p.weightDecay });
        else adagradStep(e, w, gt, state, { lr: p.lr, eps: p.eps, weightDecay: p.weightDecay });
      }
      expectClose(await w.read(), t.w3.data, 1e-5, 1e-6, 'w after 3 steps');
    });
  }

  it('reduce.rows: sum, max, argmax', async () => {
    const e = ctx.e, t = file.cases['reduce.rows'].tensors;
    const x = e.tensor(t.x.shape, t.x.data);
    expectClose(await reduceRows(e, x, 'sum').read(), t.sum.data, 1e-5, 1e-5, 'sum');
    expectClose(await reduceRows(e, x, 'max').read(), t.max.data, 0, 1e-7, 'max');
    expect(Array.from(await e.readU32(argmaxRows(e, x)))).toEqual(t.argmax.data);
  });

  it('train.tiny_net: conv -> pool -> fc -> softmax, 8 SGD steps give PyTorch\'s loss sequence', async () => {
    const e = ctx.e, t = file.cases['train.tiny_net'].tensors, p = file.cases['train.tiny_net'].params as Record<string, number>;
    const x = e.tensor(t.x.shape, t.x.data);
    const labels = e.tensor([4], Uint32Array.from(t.labels.data));
    const params = [t.conv_w, t.conv_b, t.fc_w, t.fc_b].map((a) => e.tensor(a.shape, a.data));
    const velocity = params.map((q) => e.zeros(q.shape));
    const losses: number[] = [];
    for (let step = 0; step < p.steps; step++) {
      const [cw, cb, fw, fb] = params;
      const h1 = conv2dForward(e, x, cw, cb, { activation: 'tanh' });
      const { y: h2, argmax } = maxPoolForward(e, h1, { k: 2 });
      const flat = h2.view([4, h2.size / 4]);
      const z = linearForward(e, flat, fw, fb, 'none');
      const { loss, grad } = softmaxCrossEntropy(e, z, labels);
      const l = await loss.read();
      losses.push(l.reduce((a, v) => a + v, 0) / l.length);
      const gfc = linearBackward(e, flat, fw, z, grad, 'none');
      const dh1 = maxPoolBackward(e, gfc.dx.view(h2.shape), argmax, h1.shape, { k: 2 });
      const gconv = conv2dBackward(e, x, cw, h1, dh1, { activation: 'tanh' });
      [gconv.dw, gconv.db, gfc.dw, gfc.db].forEach((gr, i) => sgdStep(e, params[i], gr, velocity[i], { lr: p.lr, momentum: p.momentum, weightDecay: 0 }));
    }
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    expectClose(losses, t.losses.data, 1e-5, 1e-6, 'loss sequence');
  });
});

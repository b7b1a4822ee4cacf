import { describe, expect, it } from 'vitest';
import { initModel, type LayerParams } from '../src/model/model-file.js';
import { Network, readParams, releaseParams } from '../src/model/network.js';
import { DNN1, type NetSpec } from '../src/model/spec.js';
import { useEngine } from './helpers/gpu.js';
import { expectClose, randomArray, rng } from './helpers/reference.js';
import { refBackward, refForward, refLoss, refSgdStep, type RefForward } from './reference/network.js';

const ctx = useEngine();

const small = (activation: NetSpec['activation']): NetSpec => ({
  name: `small-${activation}`,
  input: { channels: 3, size: 12 },
  // 12 -C3-> 10 -MP-> 5 -C2-> 4 -MP-> 2 -> FC 7 -> FC 2 (odd map counts and sizes)
  layers: [{ type: 'conv', maps: 5, k: 3 }, { type: 'maxpool', k: 2 }, { type: 'conv', maps: 3, k: 2 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 7 }, { type: 'fc', units: 2 }],
  activation,
});

/** Random weights (larger than the init so that relu units and tanh saturation both occur) and random biases. */
function randomParams(spec: NetSpec, seed: number, scale = 1): LayerParams[] {
  return initModel(spec, seed).params.map((p, i) => ({
    weight: p.weight.map((v) => v * scale),
    bias: Float32Array.from(randomArray(p.bias.length, seed * 100 + i, -0.2, 0.2)),
  }));
}

function labelsFor(N: number, seed: number): Uint32Array {
  const r = rng(seed);
  const l = Uint32Array.from({ length: N }, () => (r() < 0.5 ? 1 : 0));
  l[0] = 1;
  l[N - 1] = 0;
  return l;
}

/** Smallest gap between the largest and second largest value of any pool window (argmax ties would make gradients ill-posed). */
function minPoolGap(spec: NetSpec, fwd: RefForward): number {
  let gap = Infinity;
  spec.layers.forEach((l, li) => {
    if (l.type !== 'maxpool') return;
    const x = li === 0 ? fwd.input : fwd.layers[li - 1].y;
    const out = fwd.layers[li];
    const H = li === 0 ? fwd.inSize : fwd.layers[li - 1].size;
    for (let o = 0; o < out.y.length; o++) {
      const nc = Math.floor(o / (out.size * out.size));
      const i = Math.floor(o / out.size) % out.size;
      const j = o % out.size;
      for (let p = 0; p < l.k; p++)
        for (let q = 0; q < l.k; q++) {
          const idx = (nc * H + i * l.k + p) * H + j * l.k + q;
          // exact ties at a relu's 0 are harmless: the gradient through a 0 output is 0 wherever it goes
          if (idx !== out.argmax![o] && !(spec.activation === 'relu' && out.y[o] === 0)) gap = Math.min(gap, out.y[o] - x[idx]);
        }
    }
  });
  return gap;
}

async function compareWithReference(spec: NetSpec, params: LayerParams[], N: number, seed: number, tol: { prob: number; grad: number }) {
  const e = ctx.e;
  const S = spec.input.size;
  const x = randomArray(N * spec.input.channels * S * S, seed);
  const labels = labelsFor(N, seed + 1);
  const fwd = refForward(spec, params, x, N);
  // float32 rounding moves values by ~1e-7 (seeds chosen so that every gap is > 1e-6): a window whose top two values are closer than that could route the gradient elsewhere
  expect(minPoolGap(spec, fwd), 'no near-ties in max-pool windows').toBeGreaterThan(1e-6);
  const loss = refLoss(fwd, labels);
  const { grads } = refBackward(spec, params, fwd, labels);

  const net = new Network(e, spec, params);
  const xt = e.tensor([N, spec.input.channels, S, S], x);
  const lt = e.tensor([N], labels);
  const probs = net.probabilities(xt);
  const r = net.lossAndGradients(xt, lt);
  expectClose(await probs.read(), fwd.probs, 0, tol.prob, 'probabilities');
  expectClose(await r.probs.read(), fwd.probs, 0, tol.prob, 'probabilities (loss pass)');
  expectClose(await r.loss.read(), loss.perSample, 1e-4, 1e-5, 'per-sample loss');
  const got = await readParams(r.grads);
  got.forEach((g, i) => {
    // tolerance relative to the largest gradient of the tensor: float32 sums of up to ~10^4 terms
    const scaleW = Math.max(...grads[i].weight.map(Math.abs));
    const scaleB = Math.max(...grads[i].bias.map(Math.abs));
    expectClose(g.weight, grads[i].weight, tol.grad, tol.grad * scaleW, `dW of parameter layer ${i}`);
    expectClose(g.bias, grads[i].bias, tol.grad, tol.grad * scaleB, `db of parameter layer ${i}`);
  });
  // the weights on the GPU are the ones we wrote
  const back = await net.readWeights();
  expect(Array.from(back[0].weight)).toEqual(Array.from(params[0].weight));
  releaseParams(r.grads);
  [probs, r.loss, r.probs, xt, lt].forEach((t) => t.release());
  net.destroy();
}

describe('float64 reference network', () => {
  it('its gradients match finite differences', () => {
    const spec = small('tanh');
    const N = 2;
    const params = randomParams(spec, 5, 2).map((p) => ({ weight: Float64Array.from(p.weight), bias: Float64Array.from(p.bias) }));
    const x = randomArray(N * 3 * 12 * 12, 6);
    const labels = [1, 0];
    const { grads, dx } = refBackward(spec, params, refForward(spec, params, x, N), labels);
    const lossAt = () => refLoss(refForward(spec, params, x, N), labels).mean;
    const h = 1e-6;
    const r = rng(9);
    for (let i = 0; i < params.length; i++)
      for (const which of ['weight', 'bias'] as const)
        for (let t = 0; t < 4; t++) {
          const arr = params[i][which];
          const j = Math.floor(r() * arr.length);
          const v = arr[j];
          arr[j] = v + h;
          const up = lossAt();
          arr[j] = v - h;
          const down = lossAt();
          arr[j] = v;
          expect(Math.abs((up - down) / (2 * h) - grads[i][which][j]), `d${which}[${i}][${j}]`).toBeLessThan(1e-7 + 1e-5 * Math.abs(grads[i][which][j]));
        }
    const j = 77;
    const v = x[j];
    x[j] = v + h;
    const up = lossAt();
    x[j] = v - h;
    const down = lossAt();
    x[j] = v;
    expect(Math.abs((up - down) / (2 * h) - dx[j])).toBeLessThan(1e-7);
  });
});

describe('Network on the GPU', () => {
  // Tolerances: probabilities 2e-6 absolute; gradients 1e-3 relative plus 1e-3 of the tensor's largest gradient.
  for (const act of ['tanh', 'relu'] as const) {
    it(`small ${act} net, batch 3: probabilities, losses and every gradient match float64`, async () => {
      await compareWithReference(small(act), randomParams(small(act), 1, 2), 3, 2, { prob: 2e-6, grad: 1e-3 });
    });
  }

  it('DNN1-shaped net, batch 2: probabilities and every gradient match float64', async () => {
    // Tolerances: probabilities 1e-5 absolute; gradients 2e-3 relative plus 2e-3 of the tensor's largest gradient.
    await compareWithReference(DNN1, randomParams(DNN1, 3, 1), 2, 5, { prob: 1e-5, grad: 2e-3 });
  });

  it('SGD steps lower the loss exactly as the float64 reference does', async () => {
    const e = ctx.e;
    const spec: NetSpec = {
      name: 'sgd',
      input: { channels: 3, size: 9 },
      layers: [{ type: 'conv', maps: 4, k: 2 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 2 }],
      activation: 'tanh',
    };
    const N = 6;
    const S = 9;
    const x = randomArray(N * 3 * S * S, 21);
    const labels = labelsFor(N, 22);
    const init = randomParams(spec, 23);
    const opt = { lr: 0.2, momentum: 0.9, weightDecay: 1e-3 };
    const steps = 6;
    // float64
    const w = init.map((p) => ({ weight: Float64Array.from(p.weight), bias: Float64Array.from(p.bias) }));
    const v = w.map((p) => ({ weight: new Float64Array(p.weight.length), bias: new Float64Array(p.bias.length) }));
    const want: number[] = [];
    for (let s = 0; s <= steps; s++) {
      const fwd = refForward(spec, w, x, N);
      want.push(refLoss(fwd, labels).mean);
      if (s === steps) break;
      const { grads } = refBackward(spec, w, fwd, labels);
      w.forEach((p, i) => {
        refSgdStep(p.weight, grads[i].weight, v[i].weight, opt);
        refSgdStep(p.bias, grads[i].bias, v[i].bias, opt);
      });
    }
    // GPU
    const net = new Network(e, spec, init);
    const xt = e.tensor([N, 3, S, S], x);
    const lt = e.tensor([N], labels);
    const got: number[] = [];
    for (let s = 0; s <= steps; s++) {
      const r = net.lossAndGradients(xt, lt);
      got.push((await r.loss.read()).reduce((a, b) => a + b, 0) / N);
      if (s < steps) net.sgdStep(r.grads, opt);
      releaseParams(r.grads);
      r.loss.release();
      r.probs.release();
    }
    expect(want[steps]).toBeLessThan(want[0] * 0.8); // the data are learnable: the loss does go down
    expectClose(got, want, 1e-4, 0, 'loss sequence');
    // and the weights end where the reference's do
    const final = await net.readWeights();
    final.forEach((p, i) => expectClose(p.weight, w[i].weight, 1e-4, 1e-5, `final weights ${i}`));
    net.destroy();
  });

  it('rejects an input of the wrong shape', () => {
    const e = ctx.e;
    const net = new Network(e, small('tanh'));
    const x = e.zeros([2, 3, 11, 11]);
    expect(() => net.forward(x)).toThrow('small-tanh: input must be [N, 3, 12, 12], got [2,3,11,11]');
    expect(() => net.writeWeights([])).toThrow(/0 parameter layers given, small-tanh has 4/);
    x.release();
    net.destroy();
  });
});

// max-pool kernels against the float64 reference, with strides, dilation, overlap and ties.
import { describe, expect, it } from 'vitest';
import { maxPool, maxPoolBackward, maxPoolForward, POOL_BACKWARD, POOL_FORWARD } from '../engine/ops/pool.js';
import { useEngine } from './helpers/gpu.js';
import { expectClose, randomArray, rng } from './helpers/reference.js';
import { maxPoolBackwardRef, maxPoolRef, poolOut, type PoolShape } from './reference/conv.js';

const ctx = useEngine();

const CASES: [string, PoolShape][] = [
  ['2x2 stride 2 (the paper)', { N: 2, C: 3, H: 10, W: 8, K: 2, S: 2, D: 1 }],
  ['odd map, 2x2 stride 2 drops the last row/column', { N: 1, C: 2, H: 11, W: 9, K: 2, S: 2, D: 1 }],
  ['3x3 stride 2 (overlapping windows)', { N: 3, C: 2, H: 11, W: 12, K: 3, S: 2, D: 1 }],
  ['a trous: 2x2 stride 1 dilation 2', { N: 2, C: 4, H: 9, W: 10, K: 2, S: 1, D: 2 }],
  ['a trous: 2x2 stride 1 dilation 8', { N: 1, C: 2, H: 20, W: 19, K: 2, S: 1, D: 8 }],
];

describe('max-pool', () => {
  for (const [name, s] of CASES) {
    it(`forward, argmax and backward match float64: ${name}`, async () => {
      const e = ctx.e;
      const { HO, WO } = poolOut(s);
      const x = randomArray(s.N * s.C * s.H * s.W, 21);
      const dy = randomArray(s.N * s.C * HO * WO, 22);
      const ref = maxPoolRef(x, s);
      const X = e.tensor([s.N, s.C, s.H, s.W], x);
      const { y, argmax } = maxPoolForward(e, X, { k: s.K, stride: s.S, dilation: s.D });
      expect(y.shape).toEqual([s.N, s.C, HO, WO]);
      expectClose(await y.read(), ref.y, 0, 1e-7, 'y'); // exact up to float32 rounding of the inputs
      expect(Array.from(await e.readU32(argmax))).toEqual(Array.from(ref.arg));
      // the inference form (no argmax) gives the same maxima
      expectClose(await maxPool(e, X, { k: s.K, stride: s.S, dilation: s.D }).read(), ref.y, 0, 1e-7, 'y (maxPool)');
      const dx = maxPoolBackward(e, e.tensor(y.shape, dy), argmax, X.shape, { k: s.K, stride: s.S, dilation: s.D });
      expectClose(await dx.read(), maxPoolBackwardRef(dy, ref.arg, x.length), 1e-6, 1e-6, 'dx');
    });
  }

  it('on ties keeps the first maximum in window order, and routes the gradient there only', async () => {
    const e = ctx.e;
    const r = rng(5);
    const s: PoolShape = { N: 1, C: 2, H: 6, W: 6, K: 3, S: 1, D: 1 };
    const x = Float64Array.from({ length: 72 }, () => Math.floor(r() * 3)); // many ties
    const ref = maxPoolRef(x, s);
    const { y, argmax } = maxPoolForward(e, e.tensor([1, 2, 6, 6], x), { k: 3, stride: 1 });
    expect(Array.from(await e.readU32(argmax))).toEqual(Array.from(ref.arg));
    const dy = new Float64Array(y.size).fill(1);
    const dx = maxPoolBackward(e, e.tensor(y.shape, dy), argmax, [1, 2, 6, 6], { k: 3, stride: 1 });
    expectClose(await dx.read(), maxPoolBackwardRef(dy, ref.arg, 72), 0, 0, 'dx');
  });

  // The fused form: x is a tanh (or relu) output, dx = (pool backward) * f'(x) in the same pass,
  // against float64 (pool backward, then 1 - x^2 / x > 0 elementwise), for the fast non-overlapping
  // path (2x2 stride 2, odd map) and the general one (3x3 stride 2). The relu inputs are shifted so
  // that some window maxima are negative (their gradient must vanish).
  for (const [name, s] of [CASES[1], CASES[2]])
    for (const act of ['tanh', 'relu'] as const)
      it(`backward with the activation's derivative fused matches float64: ${name}, ${act}`, async () => {
        const e = ctx.e;
        const { HO, WO } = poolOut(s);
        const z = randomArray(s.N * s.C * s.H * s.W, 41);
        const x = Float64Array.from(Float32Array.from(z.map((v) => (act === 'tanh' ? Math.tanh(2 * v) : v - 0.7))));
        const dy = randomArray(s.N * s.C * HO * WO, 42);
        const ref = maxPoolRef(x, s);
        const X = e.tensor([s.N, s.C, s.H, s.W], x);
        const { y, argmax } = maxPoolForward(e, X, { k: s.K, stride: s.S, dilation: s.D });
        const dx = maxPoolBackward(e, e.tensor(y.shape, dy), argmax, X.shape, { k: s.K, stride: s.S, dilation: s.D }, { x: X, activation: act });
        const plain = maxPoolBackwardRef(dy, ref.arg, x.length);
        const want = plain.map((g, i) => (act === 'tanh' ? g * (1 - x[i] * x[i]) : x[i] > 0 ? g : 0));
        expect(want.some((v, i) => v !== plain[i])).toBe(true);
        expectClose(await dx.read(), want, 1e-6, 1e-6, `dx (${act})`);
      });

  // The inference pool with 2x2 windows at stride 1 (the dense path) runs as 2x2 output blocks D
  // apart: residue classes of unequal length, fewer outputs than D (empty classes), odd sizes;
  // against float64 and against the per-output form.
  const BLOCK_CASES: [string, PoolShape][] = [
    ['2x2 stride 1 dilation 1, 7x6 map', { N: 2, C: 3, H: 7, W: 6, K: 2, S: 1, D: 1 }],
    ['2x2 stride 1 dilation 2', CASES[3][1]],
    ['2x2 stride 1 dilation 8 (output 12x11)', CASES[4][1]],
    ['2x2 stride 1 dilation 5, output 3x4 < D', { N: 1, C: 2, H: 8, W: 9, K: 2, S: 1, D: 5 }],
    ['2x2 stride 1 dilation 3, output 10x7', { N: 1, C: 1, H: 13, W: 10, K: 2, S: 1, D: 3 }],
  ];
  it('inference max-pool in 2x2 output blocks matches float64 and the per-output form', async () => {
    const e = ctx.e;
    for (const [name, s] of BLOCK_CASES) {
      const x = randomArray(s.N * s.C * s.H * s.W, 81);
      const X = e.tensor([s.N, s.C, s.H, s.W], x);
      const p = { k: s.K, stride: s.S, dilation: s.D };
      const blocked = await maxPool(e, X, p).read();
      POOL_FORWARD.perOutput = true;
      let single: Float32Array;
      try {
        single = await maxPool(e, X, p).read();
      } finally {
        POOL_FORWARD.perOutput = false;
      }
      expectClose(blocked, maxPoolRef(x, s).y, 0, 1e-7, `y (${name})`);
      expect(Array.from(blocked), name).toEqual(Array.from(single));
      X.release();
    }
  });

  // Non-overlapping windows run one invocation per K x K cell (writing the whole cell); the per-element
  // form is forced for comparison. Both against float64, plain and with tanh / relu fused, with maps
  // that K does not divide (cells past the last window hold only zeros) and K = 3.
  const CELL_CASES: [string, PoolShape][] = [
    CASES[0],
    CASES[1],
    ['3x3 stride 3, 10x13 map (one leftover row, one leftover column)', { N: 2, C: 3, H: 10, W: 13, K: 3, S: 3, D: 1 }],
  ];
  for (const perElement of [false, true])
    it(`non-overlapping backward (${perElement ? 'per element' : 'per cell'}) matches float64, plain and fused`, async () => {
      const e = ctx.e;
      POOL_BACKWARD.perElement = perElement;
      try {
        for (const [name, s] of CELL_CASES) {
          const { HO, WO } = poolOut(s);
          const z = randomArray(s.N * s.C * s.H * s.W, 71);
          const dy = randomArray(s.N * s.C * HO * WO, 72);
          for (const act of ['none', 'tanh', 'relu'] as const) {
            const x = Float64Array.from(Float32Array.from(z.map((v) => (act === 'tanh' ? Math.tanh(2 * v) : act === 'relu' ? v - 0.7 : v))));
            const ref = maxPoolRef(x, s);
            const X = e.tensor([s.N, s.C, s.H, s.W], x);
            const { y, argmax } = maxPoolForward(e, X, { k: s.K });
            const fused = act === 'none' ? undefined : { x: X, activation: act };
            const dx = maxPoolBackward(e, e.tensor(y.shape, dy), argmax, X.shape, { k: s.K }, fused);
            const plain = maxPoolBackwardRef(dy, ref.arg, x.length);
            const want = plain.map((g, i) => (act === 'tanh' ? g * (1 - x[i] * x[i]) : act === 'relu' ? (x[i] > 0 ? g : 0) : g));
            expectClose(await dx.read(), want, 1e-6, 1e-6, `dx (${name}, ${act})`);
          }
        }
      } finally {
        POOL_BACKWARD.perElement = false;
      }
    });

  it('gradient agrees with finite differences of the float64 forward', async () => {
    const e = ctx.e;
    const s: PoolShape = { N: 2, C: 2, H: 7, W: 8, K: 2, S: 2, D: 1 };
    const x = randomArray(s.N * s.C * s.H * s.W, 31);
    const { HO, WO } = poolOut(s);
    const r = randomArray(s.N * s.C * HO * WO, 32);
    const L = (v: Float64Array) => maxPoolRef(v, s).y.reduce((a, yv, i) => a + yv * r[i], 0);
    const { y, argmax } = maxPoolForward(e, e.tensor([2, 2, 7, 8], x), { k: 2 });
    const got = await maxPoolBackward(e, e.tensor(y.shape, r), argmax, [2, 2, 7, 8], { k: 2 }).read();
    const h = 1e-7;
    const fd = x.map((_, i) => {
      const p = Float64Array.from(x), m = Float64Array.from(x);
      p[i] += h;
      m[i] -= h;
      return (L(p) - L(m)) / (2 * h);
    });
    expectClose(got, fd, 1e-5, 1e-6, 'dx vs finite differences');
  });

  it('rejects windows that do not fit', () => {
    const e = ctx.e;
    expect(() => maxPoolForward(e, e.zeros([1, 1, 3, 3]), { k: 2, stride: 1, dilation: 4 })).toThrow(/does not fit a 3x3 input/);
    expect(() => maxPoolForward(e, e.zeros([1, 1, 4, 4]), { k: 0 })).toThrow(/k must be an integer >= 1/);
  });
});

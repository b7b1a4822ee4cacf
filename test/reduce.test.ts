import { describe, expect, it } from 'vitest';
import { argmaxRows, reduceRows, sumAll, sumColumns } from '../engine/ops/reduce.js';
import { useEngine } from './helpers/gpu.js';
import { expectClose, randomArray } from './helpers/reference.js';
import { refArgmaxRows, refReduceRows, refSumAll, refSumColumns } from './reference/reduce.js';

const ctx = useEngine();

function rand32(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  return Float64Array.from(Float32Array.from(randomArray(n, seed, lo, hi)));
}

// Tolerances: max and argmax are exact. Sums of L float32 values in [-1, 1) (a 256-way strided
// split then a tree): rtol 1e-5, atol 1e-6 * sqrt(L).
describe('reduceRows', () => {
  it('sums and maxima over the last axis match float64 (rows shorter and longer than a workgroup)', async () => {
    const e = ctx.e;
    for (const [R, L, seed] of [[37, 1037, 1], [5, 3, 2], [70, 1, 3]]) {
      const x = rand32(R * L, seed);
      const t = e.tensor([R, L], x);
      const sum = reduceRows(e, t, 'sum');
      const max = reduceRows(e, t, 'max');
      expect(sum.shape).toEqual([R]);
      expectClose(await sum.read(), refReduceRows(x, R, L, 'sum'), 1e-5, 1e-6 * Math.sqrt(L), `sum ${R}x${L}`);
      expect(Array.from(await max.read())).toEqual(Array.from(refReduceRows(x, R, L, 'max')));
    }
  });

  it('reduces the last axis of a 3-D tensor, and rows of negative values and -inf', async () => {
    const e = ctx.e;
    const x = rand32(3 * 5 * 29, 4, -3, -1);
    const got = reduceRows(e, e.tensor([3, 5, 29], x), 'max');
    expect(got.shape).toEqual([3, 5]);
    expect(Array.from(await got.read())).toEqual(Array.from(refReduceRows(x, 15, 29, 'max')));
    const inf = await reduceRows(e, e.tensor([2, 300], new Float32Array(600).fill(-Infinity).fill(-7, 300 + 299)), 'max').read();
    expect(Array.from(inf)).toEqual([-Infinity, -7]);
  });
});

describe('sumColumns', () => {
  it('matches float64 column sums of [37, 53]', async () => {
    const e = ctx.e;
    const x = rand32(37 * 53, 5);
    const got = sumColumns(e, e.tensor([37, 53], x));
    expect(got.shape).toEqual([53]);
    expectClose(await got.read(), refSumColumns(x, 37, 53), 1e-5, 1e-6 * Math.sqrt(37), 'column sums');
  });
});

describe('argmaxRows', () => {
  it('matches float64 on random rows', async () => {
    const e = ctx.e;
    for (const [R, L, seed] of [[37, 1037, 6], [9, 2, 7], [4, 1, 8]]) {
      const x = rand32(R * L, seed);
      const got = await e.readU32(argmaxRows(e, e.tensor([R, L], x)));
      expect(Array.from(got)).toEqual(Array.from(refArgmaxRows(x, R, L)));
    }
  });

  it('returns the first index of a tied maximum, also across invocations of the workgroup', async () => {
    const e = ctx.e;
    const L = 600;
    // Row r has the value 5 at the positions ties[r] (and smaller values elsewhere).
    const ties = [[3, 259], [44, 300], [256, 0], [599, 598], [1, 257, 513], [255, 256], [0, 1, 2, 599]];
    const x = rand32(ties.length * L, 9);
    ties.forEach((pos, r) => pos.forEach((j) => (x[r * L + j] = 5)));
    const got = await e.readU32(argmaxRows(e, e.tensor([ties.length, L], x)));
    expect(Array.from(got)).toEqual(ties.map((p) => Math.min(...p)));
    expect(Array.from(got)).toEqual(Array.from(refArgmaxRows(x, ties.length, L)));
    const flat = await e.readU32(argmaxRows(e, e.tensor([2, 3], [-Infinity, -Infinity, -Infinity, 1, 1, 1])));
    expect(Array.from(flat)).toEqual([0, 0]);
  });
});

describe('sumAll', () => {
  it('matches float64 in one pass (1, 4096 elements) and two passes (10007 elements of a 3-D tensor)', async () => {
    const e = ctx.e;
    const cases: [number[], number][] = [[[1], 10], [[4096], 11], [[7, 11, 131], 12]];
    for (const [shape, seed] of cases) {
      const n = shape.reduce((a, b) => a * b, 1);
      const x = rand32(n, seed);
      const got = sumAll(e, e.tensor(shape, x));
      expect(got.shape).toEqual([1]);
      expectClose(await got.read(), [refSumAll(x)], 1e-5, 1e-6 * Math.sqrt(n), `sum of ${n}`);
    }
  });
});

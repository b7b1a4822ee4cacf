// engine/ops/image.ts (all but NMS, see nms.test.ts) against the references of test/reference/image.ts.
// Tolerances: pad, dihedral, dilateDisk exact (pure data movement / max); diskFilter 1e-6 relative
// (+1e-7 absolute for values near 0); blueRatio 2e-6 relative (a few float32 roundings), and its
// mask exactly equal to (the GPU's float32 BR > threshold).
import { describe, expect, it } from 'vitest';
import { blueRatio, dihedral, dihedralInverse, diskFilter, diskSpans, dilateDisk, f32AtMost, padMirror } from '../engine/ops/image.js';
import { useEngine } from './helpers/gpu.js';
import { expectClose, randomArray, rng } from './helpers/reference.js';
import {
  blueRatioRef,
  diskOffsets,
  dihedralInverseRef,
  dihedralRef,
  dilateDiskRef,
  diskFilterRef,
  padMirrorRef,
  reflectIndex,
} from './reference/image.js';

const ctx = useEngine();

function expectExact(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) expect.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

/** Random float32 values as float64 (so float64 references see exactly what the GPU sees). */
function f32Random(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  return Float64Array.from(Float32Array.from(randomArray(n, seed, lo, hi)));
}

describe('reference helpers', () => {
  it('reflectIndex mirrors without repeating the edge, for any offset', () => {
    const got = [];
    for (let i = -6; i <= 8; i++) got.push(reflectIndex(i, 3));
    //          -6 -5 -4 -3 -2 -1  0  1  2  3  4  5  6  7  8
    expect(got).toEqual([2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0]);
    expect([-3, -1, 0, 4].map((i) => reflectIndex(i, 1))).toEqual([0, 0, 0, 0]);
  });
  it('diskSpans lists exactly the integer offsets of the disk', () => {
    for (const r of [0, 0.5, 1, Math.SQRT2, 2.5, 3, 4.6, 7, 10]) {
      for (const strict of [false, true]) {
        const { RM, spans, count } = diskSpans(r, strict);
        const fromSpans = new Set<string>();
        for (let dy = -RM; dy <= RM; dy++) for (let dx = -spans[dy + RM]; dx <= spans[dy + RM]; dx++) fromSpans.add(`${dx},${dy}`);
        const want = diskOffsets(r, strict).map(([dx, dy]) => `${dx},${dy}`);
        expect(count, `count r=${r} strict=${strict}`).toBe(want.length);
        expect([...fromSpans].sort(), `offsets r=${r} strict=${strict}`).toEqual(want.sort());
      }
    }
  });
  it('f32AtMost gives the float32 threshold that compares like the float64 one', () => {
    for (const t of [0.35, 0.1, 1 / 3, 0.5, 0, 1e-40, -1e-50, -0.35, 3e38, 1e39]) {
      const t32 = f32AtMost(t);
      expect(Math.fround(t32)).toBe(t32);
      expect(t32 <= t).toBe(true);
      const above = Math.fround(t32 + Math.max(Math.abs(t32), 1e-45) * 2 ** -23);
      for (const v of [t32, above, Math.fround(t)]) expect(v > t32, `t=${t} v=${v}`).toBe(v > t);
    }
  });
});

describe('padMirror', () => {
  const cases: [number[], { top: number; bottom: number; left: number; right: number }][] = [
    [[2, 3, 7, 5], { top: 3, bottom: 2, left: 4, right: 1 }],
    [[1, 2, 5, 9], { top: 50, bottom: 0, left: 0, right: 13 }], // pads much larger than the image
    [[1, 1, 1, 4], { top: 2, bottom: 3, left: 6, right: 6 }], // H = 1
    [[1, 1, 3, 1], { top: 4, bottom: 4, left: 2, right: 0 }], // W = 1
    [[3, 1, 6, 6], { top: 0, bottom: 0, left: 0, right: 0 }],
  ];
  for (const [shape, pad] of cases) {
    it(`matches the reference for [${shape}] pad ${JSON.stringify(pad)}`, async () => {
      const e = ctx.e;
      const [N, C, H, W] = shape;
      const x = f32Random(N * C * H * W, 11 + H * W);
      const y = padMirror(e, e.tensor(shape, x), pad);
      expect(y.shape).toEqual([N, C, H + pad.top + pad.bottom, W + pad.left + pad.right]);
      expectExact(await y.read(), padMirrorRef(x, N * C, H, W, pad), 'padMirror');
    });
  }
  it('uses numpy "reflect" mirroring (-1 -> 1) on a small example', async () => {
    const e = ctx.e;
    const y = padMirror(e, e.tensor([1, 1, 1, 3], [10, 20, 30]), { top: 0, bottom: 0, left: 4, right: 3 });
    expect(Array.from(await y.read())).toEqual([10, 20, 30, 20, 10, 20, 30, 20, 10, 20]); // np.pad(x, (4, 3), "reflect")
  });
});

describe('dihedral', () => {
  it('matches np.rot90(np.fliplr(x) if k>=4 else x, k%4) on a 2x3 example', async () => {
    const e = ctx.e;
    // x = [[1,2,3],[4,5,6]]
    const want: Record<number, number[][]> = {
      0: [[1, 2, 3], [4, 5, 6]],
      1: [[3, 6], [2, 5], [1, 4]],
      2: [[6, 5, 4], [3, 2, 1]],
      3: [[4, 1], [5, 2], [6, 3]],
      4: [[3, 2, 1], [6, 5, 4]],
      5: [[1, 4], [2, 5], [3, 6]],
      6: [[4, 5, 6], [1, 2, 3]],
      7: [[6, 3], [5, 2], [4, 1]],
    };
    for (let k = 0; k < 8; k++) {
      const y = dihedral(e, e.tensor([1, 1, 2, 3], [1, 2, 3, 4, 5, 6]), k);
      expect(y.shape, `k=${k}`).toEqual([1, 1, want[k].length, want[k][0].length]);
      expect(Array.from(await y.read()), `k=${k}`).toEqual(want[k].flat());
    }
  });

  for (const shape of [[2, 3, 5, 8], [1, 2, 9, 4], [1, 1, 1, 6]]) {
    it(`matches the reference, inverts exactly, and gives 8 distinct variants for [${shape}]`, async () => {
      const e = ctx.e;
      const [N, C, H, W] = shape;
      const P = N * C;
      const x = f32Random(P * H * W, 5 + H);
      const xt = e.tensor(shape, x);
      const seen = new Set<string>();
      for (let k = 0; k < 8; k++) {
        const y = dihedral(e, xt, k);
        const ref = dihedralRef({ data: x, P, H, W }, k);
        expect(y.shape, `shape k=${k}`).toEqual([N, C, ref.H, ref.W]);
        const yv = await y.read();
        expectExact(yv, ref.data, `dihedral k=${k}`);
        seen.add(`${y.shape}:${Array.from(yv).join(',')}`);
        const back = dihedralInverse(e, y, k);
        expect(back.shape, `inverse shape k=${k}`).toEqual(shape);
        expectExact(await back.read(), x, `inverse(dihedral(x, ${k}))`);
        // the inverse also matches the reference inverse applied to an arbitrary variant-shaped input
        const z = f32Random(P * H * W, 100 + k);
        const zt = e.tensor([N, C, ref.H, ref.W], z);
        expectExact(await dihedralInverse(e, zt, k).read(), dihedralInverseRef({ data: z, P, H: ref.H, W: ref.W }, k).data, `inverse k=${k}`);
        expectExact(await dihedral(e, dihedralInverse(e, zt, k), k).read(), z, `dihedral(inverse(z, ${k}))`);
        for (const t of [y, back, zt]) t.release();
      }
      // a 1 x W image has fewer distinct variants (4); the asymmetric 2-D inputs have all 8
      expect(seen.size).toBe(H === 1 ? 4 : 8);
    });
  }

  it('rejects bad variants', () => {
    const e = ctx.e;
    const x = e.tensor([1, 1, 2, 2], [1, 2, 3, 4]);
    expect(() => dihedral(e, x, 8)).toThrow(/0\.\.7/);
    expect(() => dihedralInverse(e, x, -1)).toThrow(/0\.\.7/);
    expect(() => dihedral(e, x, 1.5)).toThrow(/0\.\.7/);
  });
});

describe('diskFilter', () => {
  const cases: { shape: number[]; r: number; border: 'zero' | 'mirror' }[] = [
    { shape: [37, 53], r: 4, border: 'zero' },
    { shape: [37, 53], r: 4, border: 'mirror' },
    { shape: [1, 1, 61, 45], r: 10, border: 'zero' },
    { shape: [1, 1, 61, 45], r: 10, border: 'mirror' },
    { shape: [2, 3, 13, 11], r: 2.5, border: 'zero' },
    { shape: [1, 2, 9, 7], r: 12.3, border: 'mirror' }, // disk larger than the image
    { shape: [1, 1, 9, 7], r: 12.3, border: 'zero' },
    { shape: [5, 4], r: 0, border: 'zero' }, // identity
    { shape: [1, 1, 1, 17], r: 3, border: 'mirror' },
  ];
  for (const { shape, r, border } of cases) {
    it(`matches the float64 disk mean for [${shape}], r = ${r}, border ${border}`, async () => {
      const e = ctx.e;
      const H = shape[shape.length - 2];
      const W = shape[shape.length - 1];
      const n = shape.reduce((a, b) => a * b, 1);
      const m = f32Random(n, 7 + n, 0, 1);
      const y = diskFilter(e, e.tensor(shape, m), r, { border });
      expect(y.shape).toEqual(shape);
      expectClose(await y.read(), diskFilterRef(m, n / (H * W), H, W, r, border), 1e-6, 1e-7, 'diskFilter');
    });
  }
  it('normalises by |D| including the boundary circle (constant map, zero border)', async () => {
    const e = ctx.e;
    // radius 2: |D| = 13 (dx^2 + dy^2 <= 4). At the corner (0,0) of a 5x5 map of ones, 6 offsets are inside.
    const y = await diskFilter(e, e.tensor([5, 5], new Float32Array(25).fill(1)), 2).read();
    expect(y[12]).toBeCloseTo(1, 6);
    expect(y[0]).toBeCloseTo(6 / 13, 6);
    const ym = await diskFilter(e, e.tensor([5, 5], new Float32Array(25).fill(1)), 2, { border: 'mirror' }).read();
    expect(ym[0]).toBeCloseTo(1, 6);
  });
});

describe('dilateDisk', () => {
  for (const [H, W, r] of [[41, 29, 3], [23, 37, 5.5], [7, 9, 20], [15, 15, 0]] as const) {
    it(`matches the reference binary dilation for ${H}x${W}, r = ${r}`, async () => {
      const e = ctx.e;
      const rand = rng(H * W + 3);
      const mask = Float64Array.from({ length: H * W }, () => (rand() < 0.03 ? 1 : 0));
      const got = await dilateDisk(e, e.tensor([H, W], mask), r).read();
      const want = dilateDiskRef(mask, 1, H, W, r);
      expectExact(got, want, 'dilateDisk');
      if (r > 0) expect(want.reduce((a, b) => a + b, 0)).toBeGreaterThan(mask.reduce((a, b) => a + b, 0));
    });
  }
  it('is a grey max on real values too ([N,C,H,W])', async () => {
    const e = ctx.e;
    const x = f32Random(2 * 2 * 11 * 13, 99);
    expectExact(await dilateDisk(e, e.tensor([2, 2, 11, 13], x), 2.2).read(), dilateDiskRef(x, 4, 11, 13, 2.2), 'dilateDisk grey');
  });
});

describe('blueRatio', () => {
  it('matches the float64 blue ratio and thresholds it exactly', async () => {
    const e = ctx.e;
    const H = 19;
    const W = 23;
    const rand = rng(2024);
    const rgb = Float64Array.from({ length: 3 * H * W }, () => Math.floor(rand() * 256));
    rgb[0] = rgb[H * W] = rgb[2 * H * W] = 0; // black
    rgb[1] = rgb[H * W + 1] = rgb[2 * H * W + 1] = 255; // white
    rgb[2] = 0;
    rgb[H * W + 2] = 0;
    rgb[2 * H * W + 2] = 255; // pure blue
    const t = e.tensor([1, 3, H, W], rgb);
    const br = blueRatio(e, t);
    expect(br.shape).toEqual([H, W]);
    const got = await br.read();
    const want = blueRatioRef(rgb, 1, H, W);
    expect(want[2]).toBeCloseTo(((100 * 255) / 1) * (256 / 256), 6);
    expectClose(got, want, 2e-6, 0, 'blueRatio');
    // threshold: a value present in the map (ties must go to 0: strictly greater) and a generic one
    for (const thr of [got[5], 100.3, 0]) {
      const mask = await blueRatio(e, t, { threshold: thr }).read();
      expectExact(mask, Array.from(got, (v) => (v > thr ? 1 : 0)), `mask t=${thr}`);
    }
  });
  it('handles a batch ([N,3,H,W] -> [N,H,W])', async () => {
    const e = ctx.e;
    const rgb = f32Random(2 * 3 * 5 * 7, 8, 0, 255);
    const br = blueRatio(e, e.tensor([2, 3, 5, 7], rgb));
    expect(br.shape).toEqual([2, 5, 7]);
    expectClose(await br.read(), blueRatioRef(rgb, 2, 5, 7), 2e-6, 0, 'blueRatio batch');
  });
});

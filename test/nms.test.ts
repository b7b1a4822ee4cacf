// nonMaxSuppression (GPU rounds) against the paper's sequential loop (test/reference/image.ts nmsRef).
// Detections (positions, scores and order) must be exactly equal: the GPU only selects and copies
// float32 values, no arithmetic on them. Every case also checks the CPU form used for maps too big
// for the GPU buffers (src/detect/detector.ts greedySuppression) against the same loop.
import { describe, expect, it } from 'vitest';
import { diskFilter, nonMaxSuppression } from '../engine/ops/image.js';
import { greedySuppression } from '../src/detect/detector.js';
import { useEngine } from './helpers/gpu.js';
import { randomArray, rng } from './helpers/reference.js';
import { diskFilterRef, nmsRef, type RefDetection } from './reference/image.js';

const ctx = useEngine();

function f32(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(Float32Array.from(a as ArrayLike<number>));
}

async function check(m: ArrayLike<number>, H: number, W: number, radius: number, threshold: number, maxDetections?: number): Promise<RefDetection[]> {
  const e = ctx.e;
  const mf = f32(m);
  const want = nmsRef(mf, H, W, radius, threshold, maxDetections);
  const t = e.tensor([H, W], mf);
  const got = await nonMaxSuppression(e, t, { radius, threshold, maxDetections });
  t.release();
  expect(got.length, `number of detections (${H}x${W}, r=${radius}, t=${threshold})`).toBe(want.length);
  for (let k = 0; k < want.length; k++) {
    if (got[k].x !== want[k].x || got[k].y !== want[k].y || got[k].score !== want[k].score) {
      expect.fail(`detection ${k}: got ${JSON.stringify(got[k])}, expected ${JSON.stringify(want[k])}`);
    }
  }
  const cpu = greedySuppression(Float32Array.from(mf), H, W, { radius, threshold, maxDetections });
  expect(cpu, `CPU greedy suppression (${H}x${W}, r=${radius}, t=${threshold})`).toEqual(want.map(({ x, y, score }) => ({ x, y, score })));
  return want;
}

describe('nonMaxSuppression equals the sequential loop', () => {
  for (const [H, W, r, t, seed] of [
    [37, 53, 5, 0.5, 1],
    [53, 37, 4.6, 0.9, 2], // 2d not an integer
    [61, 61, 2 * Math.SQRT2, 0.2, 3],
    [25, 31, 0.7, 0.95, 4], // r < 1: every pixel above t is a detection
    [19, 23, 30, 0.1, 5], // r larger than the map: one detection
  ] as const) {
    it(`random map ${H}x${W}, r = ${r.toFixed(3)}, t = ${t}`, async () => {
      const want = await check(randomArray(H * W, seed, 0, 1), H, W, r, t);
      expect(want.length).toBeGreaterThan(0);
    });
  }

  for (const [H, W, d, t] of [
    [67, 59, 3, 0.5],
    [101, 83, 5, 0.5],
    [45, 45, 2.3, 0.45],
  ] as const) {
    it(`smoothed map ${H}x${W} (disk mean radius d = ${d} on the GPU, then r = 2d, t = ${t})`, async () => {
      const e = ctx.e;
      // sparse blobs, as a probability map: most pixels low, a few bright spots of various sizes
      const rand = rng(H + W);
      const m = new Float64Array(H * W).map(() => 0.3 * rand());
      for (let k = 0; k < 25; k++) {
        const cx = Math.floor(rand() * W);
        const cy = Math.floor(rand() * H);
        const rr = 1 + rand() * 4;
        for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= rr * rr) m[y * W + x] = 0.6 + 0.4 * rand();
      }
      const mt = e.tensor([H, W], m);
      const smooth = diskFilter(e, mt, d);
      const mf = await smooth.read();
      mt.release();
      smooth.release();
      const want = await check(mf, H, W, 2 * d, t);
      expect(want.length).toBeGreaterThan(2);
      // sanity: the GPU disk mean is what the float64 reference gives (so the input is realistic)
      const ref = diskFilterRef(f32(m), 1, H, W, d);
      expect(Math.abs(ref[want[0].y * W + want[0].x] - want[0].score)).toBeLessThan(1e-6);
    });
  }

  for (const [H, W, levels, r, t] of [
    [41, 39, 3, 4, 0.4],
    [63, 47, 5, 6.5, 0.1],
    [33, 35, 2, 3, 0],
  ] as const) {
    it(`quantised map with many exact ties (${levels} levels, ${H}x${W}, r = ${r}, t = ${t})`, async () => {
      const q = randomArray(H * W, 40 + levels, 0, 1).map((v) => Math.floor(v * levels) / levels);
      await check(q, H, W, r, t);
    });
  }

  it('plateaus: flat squares of equal values', async () => {
    const H = 49;
    const W = 57;
    const m = new Float64Array(H * W);
    const rand = rng(77);
    for (let k = 0; k < 12; k++) {
      const x0 = Math.floor(rand() * (W - 8));
      const y0 = Math.floor(rand() * (H - 8));
      const s = 2 + Math.floor(rand() * 7);
      const v = [0.5, 0.75, 1][k % 3];
      for (let y = y0; y < y0 + s; y++) for (let x = x0; x < x0 + s; x++) m[y * W + x] = v;
    }
    await check(m, H, W, 3.5, 0.3);
    await check(m, H, W, 10, 0.3);
  });

  it('constant map (all ties: row-major order decides)', async () => {
    const want = await check(new Float64Array(31 * 29).fill(0.7), 31, 29, 4, 0.5);
    expect(want[0]).toEqual({ x: 0, y: 0, score: Math.fround(0.7) });
    expect(want.length).toBeGreaterThan(20);
  });

  it('all pixels below (or at) the threshold: no detection', async () => {
    expect(await check(randomArray(27 * 33, 9, 0, 0.35), 27, 33, 5, 0.35)).toEqual([]);
    expect(await check(new Float64Array(15 * 15).fill(0.35), 15, 15, 5, 0.35)).toEqual([]); // Mf <= t stops
    expect(await check(new Float64Array(11 * 13), 11, 13, 5, 0)).toEqual([]);
  });

  it('threshold not representable in float32 (0.35) against values on both sides of it', async () => {
    const H = 9;
    const W = 40;
    const m = new Float64Array(H * W);
    const f = Math.fround(0.35); // < 0.35
    const up = new Float32Array([f]);
    new Uint32Array(up.buffer)[0] += 1; // next float32, > 0.35
    for (let x = 0; x < W; x += 4) m[4 * W + x] = x % 8 === 0 ? f : up[0];
    const want = await check(m, H, W, 3, 0.35);
    expect(want.length).toBe(5);
    expect(want.every((d) => d.score === up[0])).toBe(true);
  });

  it('suppression chains: a > b > c spaced just under 2d apart gives a and c', async () => {
    const H = 21;
    const W = 40;
    const m = new Float64Array(H * W);
    // along a row, spacing 5 < r = 6: b is suppressed by a, c survives (10 >= 6 from a)
    m[10 * W + 5] = 0.9;
    m[10 * W + 10] = 0.8;
    m[10 * W + 15] = 0.7;
    m[10 * W + 20] = 0.65; // within 6 of c only: suppressed by c
    m[10 * W + 25] = 0.6; // survives
    // a diagonal chain at distance 5 (3-4-5) with r = 5.5
    m[2 * W + 30] = 0.95;
    m[5 * W + 34] = 0.85;
    m[8 * W + 38] = 0.75;
    const want = await check(m, H, W, 6, 0.1);
    expect(want.map((d) => [d.x, d.y])).toEqual([[30, 2], [5, 10], [38, 8], [15, 10], [25, 10]]);
    const want2 = await check(m, H, W, 5.5, 0.1);
    expect(want2.map((d) => [d.x, d.y])).toEqual([[30, 2], [5, 10], [38, 8], [15, 10], [25, 10]]);
    // with r = 5 exactly, distance 5 is not < r: nothing is suppressed
    expect((await check(m, H, W, 5, 0.1)).length).toBe(8);
  });

  it('a long decreasing chain needs many rounds (one selection per round)', async () => {
    const W = 121;
    const m = new Float64Array(3 * W);
    for (let x = 0; x < W; x++) m[W + x] = 1 - x / 200; // monotone ramp along the middle row
    const want = await check(m, 3, W, 2, 0.1); // picks every other pixel: 61 detections
    expect(want.length).toBe(61);
  });

  it('a single pixel map, and a single bright pixel', async () => {
    expect(await check([0.8], 1, 1, 4, 0.5)).toEqual([{ x: 0, y: 0, score: Math.fround(0.8) }]);
    expect(await check([0.3], 1, 1, 4, 0.5)).toEqual([]);
    const m = new Float64Array(17 * 19);
    m[7 * 19 + 11] = 0.6;
    expect(await check(m, 17, 19, 3, 0.5)).toEqual([{ x: 11, y: 7, score: Math.fround(0.6) }]);
  });

  it('maxDetections keeps the first ones of the loop', async () => {
    const m = randomArray(29 * 31, 123, 0, 1);
    const all = await check(m, 29, 31, 3, 0.2);
    const first = await check(m, 29, 31, 3, 0.2, 7);
    expect(first).toEqual(all.slice(0, 7));
  });

  it('accepts [1,1,H,W] maps and rejects bad arguments', async () => {
    const e = ctx.e;
    const m = f32(randomArray(9 * 11, 5, 0, 1));
    const t = e.tensor([1, 1, 9, 11], m);
    const got = await nonMaxSuppression(e, t, { radius: 3, threshold: 0.5 });
    expect(got).toEqual(nmsRef(m, 9, 11, 3, 0.5));
    await expect(nonMaxSuppression(e, t, { radius: 3, threshold: -0.1 })).rejects.toThrow(/threshold/);
    await expect(nonMaxSuppression(e, t, { radius: 0, threshold: 0.5 })).rejects.toThrow(/radius/);
    await expect(nonMaxSuppression(e, e.tensor([2, 1, 3, 3], new Float32Array(18)), { radius: 1, threshold: 0 })).rejects.toThrow(/map/);
  });
});

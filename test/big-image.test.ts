// Images larger than the adapter's per-buffer limit (issue 11, item 3): every stage of the detector
// (stain normalisation, dense map per variant, smoothing, suppression) runs tile by tile and gives
// results EQUAL (bit for bit, same detections in the same order) to the untiled run. A small
// artificial limit (opts.maxBytes) makes a modest 297x261 image "big"; a spy on engine.empty (which
// engine.tensor and engine.zeros call) checks that no tensor over the limit is ever allocated.
// (The engine compiles pipelines per tensor shape, which is what costs on lavapipe; the tiled
// stages use one tile shape per image.)
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Tensor } from '../engine/engine.js';
import { dihedral } from '../engine/ops/image.js';
import { detectMitoses, fitsGpuSuppression, SmoothedMap } from '../src/detect/detector.js';
import { denseMap, denseTileBytes, largestTile, variantIndexMap, type ProbabilityMap, type RgbaImage } from '../src/model/dense.js';
import { initModel, type Model } from '../src/model/model-file.js';
import { normaliseStain } from '../src/model/stain.js';
import type { NetSpec } from '../src/model/spec.js';
import { useEngine } from './helpers/gpu.js';
import { randomArray, rng } from './helpers/reference.js';

const ctx = useEngine();

const W = 297;
const H = 261;
/** The artificial limit: the map (310 kB), the padded image (~1 MB) and the GPU suppression's
 * buffers (12 bytes a pixel) are all over it; tiles of 31 and 96 fit. */
const LIMIT = 200_000;
const TILES = [31, 96];

// even window 10 (the window of (x, y) starts at x - 5): 10 -C3-> 8 -MP2-> 4 -> FC 2
const tiny: NetSpec = {
  name: 'tiny-even',
  input: { channels: 3, size: 10 },
  layers: [{ type: 'conv', maps: 4, k: 3 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 2 }],
  activation: 'tanh',
};

/** Random weights, larger than the init, and random biases: a map far from constant. 0.5 µm/px: d = 4.9 px. */
function tinyModel(seed: number, stain?: Model['stain']): Model {
  const m = initModel(tiny, seed, { umPerPixel: 0.5, ...(stain ? { stain } : {}) });
  m.params.forEach((p, i) => p.bias.set(randomArray(p.bias.length, seed + i, -0.3, 0.3)));
  m.params.forEach((p) => p.weight.forEach((v, i) => (p.weight[i] = 2 * v)));
  return m;
}

/** Smooth colours plus noise, with a few pale (background) patches for the stain statistics. */
function randomImage(width: number, height: number, seed: number): RgbaImage {
  const r = rng(seed);
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const pale = Math.sin(x / 37) * Math.cos(y / 29) > 0.7;
      for (let c = 0; c < 4; c++) {
        data[4 * (y * width + x) + c] = c === 3 ? 255 : pale ? 235 + 15 * r() : 128 + 80 * Math.sin((x + 2 * c) / 7 + y / 11) + 40 * (r() - 0.5);
      }
    }
  return { width, height, data };
}

/** Records the largest tensor allocated while active. */
let largest = 0;
beforeEach(() => {
  largest = 0;
  const e = ctx.e;
  const orig = e.empty.bind(e);
  vi.spyOn(e, 'empty').mockImplementation((shape: readonly number[], opts?: { uniform?: boolean }): Tensor => {
    const t = orig(shape, opts);
    largest = Math.max(largest, t.bytes);
    return t;
  });
});
afterEach(() => vi.restoreAllMocks());

function expectSameMap(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  let bad = 0;
  let first = -1;
  for (let i = 0; i < want.length; i++)
    if (!Object.is(got[i], want[i])) {
      if (first < 0) first = i;
      bad++;
    }
  if (bad) expect.fail(`${what}: ${bad} values differ, first at ${first}: ${got[first]} vs ${want[first]}`);
}

function expectSameDetections(got: { x: number; y: number; score: number }[], want: { x: number; y: number; score: number }[], what: string): void {
  expect(got.length, `${what}: number of detections`).toBe(want.length);
  for (let k = 0; k < want.length; k++) {
    const [g, w] = [got[k], want[k]];
    if (g.x !== w.x || g.y !== w.y || g.score !== w.score) expect.fail(`${what}: detection ${k} is ${JSON.stringify(g)}, expected ${JSON.stringify(w)}`);
  }
}

/** A threshold with a few dozen detections on this map: its 97th percentile. */
function thresholdFor(mf: Float32Array): number {
  const s = Float32Array.from(mf).sort();
  return s[Math.floor(0.97 * s.length)];
}

describe('big images: tiled stages equal the untiled ones, no tensor over the limit', () => {
  it('the limit is meaningful: the untiled run allocates more, the tiles fit', () => {
    expect(3 * (W + 9) * (H + 9) * 4).toBeGreaterThan(LIMIT);
    expect(W * H * 4).toBeGreaterThan(LIMIT);
    expect(fitsGpuSuppression(W * H, LIMIT)).toBe(false);
    for (const t of TILES) expect(denseTileBytes(tiny, t, t)).toBeLessThanOrEqual(LIMIT);
    expect(largestTile(tiny, LIMIT, Math.max(W, H))).toBeLessThan(Math.min(W, H));
  });

  it('variantIndexMap is the dihedral kernel as an index map (all 8 variants, odd sizes)', async () => {
    const e = ctx.e;
    const [h, w] = [5, 7];
    const x = Float32Array.from({ length: h * w }, (_, i) => i);
    const t = e.tensor([1, 1, h, w], x);
    for (let k = 0; k < 8; k++) {
      const v = dihedral(e, t, k);
      const got = await v.read();
      v.release();
      const m = variantIndexMap(k, h, w);
      expect([m.HV, m.WV]).toEqual([v.shape[2], v.shape[3]]);
      for (let i = 0; i < m.HV; i++) for (let j = 0; j < m.WV; j++) expect(got[i * m.WV + j], `variant ${k} at (${i}, ${j})`).toBe(m.base + i * m.di + j * m.dj);
    }
    t.release();
  });

  for (const variant of [0, 5]) {
    it(`variant ${variant}: dense map and detections of the tiled run (tiles 31 and 96) equal the untiled run`, async () => {
      const e = ctx.e;
      const model = tinyModel(21 + variant);
      const image = randomImage(W, H, 3 + variant);
      const radius = 2.456 / model.umPerPixel;
      // reference: one tile, whole-map GPU smoothing and suppression, at the adapter's limit
      const ref = await denseMap(e, model, image, { variant });
      expect(largest, 'the untiled run uses tensors over the artificial limit').toBeGreaterThan(LIMIT);
      const refSm = SmoothedMap.create(e, ref, radius);
      expect(refSm.onGpu).toBe(true);
      const refMf = await refSm.read();
      const t = thresholdFor(refMf);
      const refDets = await refSm.detections(t);
      refSm.release();
      expect(refDets.length, 'enough detections to compare').toBeGreaterThan(5);
      const spread = Math.max(...ref.data) - Math.min(...ref.data);
      expect(spread, 'the map is not constant').toBeGreaterThan(0.05);
      for (const tileSize of TILES) {
        largest = 0;
        const what = `variant ${variant}, tile ${tileSize}`;
        const got: ProbabilityMap = await denseMap(e, model, image, { variant, tileSize, maxBytes: LIMIT });
        expectSameMap(got.data, ref.data, `${what}: dense map`);
        const sm = SmoothedMap.create(e, got, radius, { maxBytes: LIMIT });
        expect(sm.onGpu, 'the map is smoothed in tiles and suppressed on the CPU').toBe(false);
        expectSameMap(await sm.read(), refMf, `${what}: smoothed map`);
        expectSameDetections(await sm.detections(t), refDets, `${what}: detections`);
        expectSameDetections(await sm.detections(t, 4), refDets.slice(0, 4), `${what}: first 4 detections`);
        sm.release();
        expect(largest, `${what}: largest tensor`).toBeLessThanOrEqual(LIMIT);
      }
    });
  }

  it('a stain-normalised model: the whole detector (normalisation, map, smoothing, suppression) tiled == untiled', async () => {
    const e = ctx.e;
    const stain = { method: 'reinhard' as const, target: { mean: [-0.25, 0.02, 0.01] as [number, number, number], std: [0.2, 0.03, 0.02] as [number, number, number] } };
    const model = tinyModel(40, stain);
    const image = randomImage(W, H, 41);
    // the normalisation alone, in runs of LIMIT / 4 pixels
    const whole = await normaliseStain(e, image, stain);
    largest = 0;
    const runs = await normaliseStain(e, image, stain, { maxBytes: LIMIT });
    expect(largest).toBeLessThanOrEqual(LIMIT);
    expect(Buffer.from(runs.data).equals(Buffer.from(whole.data)), 'stain-normalised pixels').toBe(true);
    let moved = 0;
    for (let i = 0; i < whole.data.length; i++) if (whole.data[i] !== image.data[i]) moved++;
    expect(moved, 'the normalisation changes the image').toBeGreaterThan(whole.data.length / 4);
    // the detector
    const ref = await detectMitoses(e, [model], image, { keepMap: true, threshold: 0 });
    const sm = SmoothedMap.create(e, ref.map!, ref.radius);
    const threshold = thresholdFor(await sm.read());
    sm.release();
    const want = await detectMitoses(e, [model], image, { keepMap: true, threshold });
    expect(want.detections.length).toBeGreaterThan(5);
    largest = 0;
    const got = await detectMitoses(e, [model], image, { keepMap: true, threshold, maxBytes: LIMIT, tileSize: TILES[0] });
    expect(largest, 'largest tensor of the tiled detector').toBeLessThanOrEqual(LIMIT);
    expectSameMap(got.map!.data, want.map!.data, 'stain model: probability map');
    expectSameDetections(got.detections, want.detections, 'stain model: detections');
  });

  it('rejects a limit too small for the dense tiles and a forced GPU mode that does not fit', async () => {
    const e = ctx.e;
    const model = tinyModel(1);
    const image = randomImage(20, 20, 1);
    await expect(denseMap(e, model, image, { maxBytes: 1000 })).rejects.toThrow('even a 1x1 dense tile');
    await expect(denseMap(e, model, image, { maxBytes: 10_000, tileSize: 20 })).rejects.toThrow('use a smaller tileSize');
    const map = { width: 150, height: 150, data: new Float32Array(22_500) };
    expect(() => SmoothedMap.create(e, map, 3, { maxBytes: LIMIT, mode: 'gpu' })).toThrow('does not fit');
  });
});

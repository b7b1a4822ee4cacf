// The library surface (src/node/index.ts, also bundled as dist/node.mjs): RGBA pixels + size +
// model in, detections (and on request the map) out, in the input image's pixel coordinates.
import { describe, expect, it } from 'vitest';
import { compact20x, detectMitoses, generateField, initModel, probabilityMap, rescaleToMpp, SmoothedMap, smoothingRadiusPx } from '../src/node/index.js';
import { useEngine } from './helpers/gpu.js';

const ctx = useEngine();

describe('library', () => {
  // an untrained net: its map is smooth noise with many local maxima, good for checking the plumbing
  const model = initModel({ ...compact20x, name: 'lib-test', layers: [{ type: 'conv', maps: 4, k: 4 }, { type: 'maxpool', k: 2 }, { type: 'conv', maps: 4, k: 3 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 8 }, { type: 'fc', units: 2 }], input: { channels: 3, size: 23 } }, 4, { umPerPixel: 0.5 });
  const field = generateField({ width: 72, height: 56, seed: 2, mpp: 0.5 });

  it('detectMitoses returns the map on request and detections equal to the map read out on the GPU', async () => {
    const e = ctx.e;
    const r = await detectMitoses(e, [model], field.image, { keepMap: true, threshold: 0 });
    expect(r.map!.width).toBe(72);
    expect(r.scale).toBe(1);
    expect(r.radius).toBeCloseTo(smoothingRadiusPx(0.5), 12);
    const again = await probabilityMap(e, [model], field.image);
    expect(again.data).toEqual(r.map!.data);
    const sm = SmoothedMap.create(e, again, r.radius);
    const dets = await sm.detections(0);
    sm.release();
    expect(r.detections.map((d) => [d.x, d.y])).toEqual(dets.map((d) => [d.x, d.y]));
    expect(r.detections.length).toBeGreaterThan(0);
  });

  it('an image at another resolution is resampled to the model and detections come back in its own pixels', async () => {
    const e = ctx.e;
    const fine = rescaleToMpp(field.image, 0.5, 0.25); // 144 x 112 at 0.25 µm/px
    const r = await detectMitoses(e, [model], fine, { umPerPixel: 0.25, rescale: rescaleToMpp, threshold: 0 });
    expect(r.scale).toBe(2);
    const direct = await detectMitoses(e, [model], rescaleToMpp(fine, 0.25, 0.5), { threshold: 0 });
    expect(r.detections.map((d) => [d.x, d.y])).toEqual(direct.detections.map((d) => [Math.round((d.x + 0.5) * 2 - 0.5), Math.round((d.y + 0.5) * 2 - 0.5)]));
    await expect(detectMitoses(e, [model], fine, { umPerPixel: 0.25 })).rejects.toThrow(/needs resampling/);
  });
});

// Stain normalisation in the model file (round trip, validation, old files) and in the detector:
// a model with `stain` sees the image moved to its target before its dense maps.
import { describe, expect, it } from 'vitest';
import { probabilityMap } from '../src/detect/detector.js';
import { denseMap, type RgbaImage } from '../src/model/dense.js';
import { crc32, decodeModel, encodeModel, initModel, ModelFileError, type Model } from '../src/model/model-file.js';
import type { NetSpec } from '../src/model/spec.js';
import { normaliseStain, stainTarget } from '../src/model/stain.js';
import { labStats } from '../engine/ops/color.js';
import { useEngine } from './helpers/gpu.js';
import { expectClose, rng } from './helpers/reference.js';

const ctx = useEngine();

const spec: NetSpec = {
  name: 'tiny9',
  input: { channels: 3, size: 9 },
  layers: [{ type: 'conv', maps: 4, k: 2 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 8 }, { type: 'fc', units: 2 }],
  activation: 'tanh',
};

function image(w: number, h: number, seed: number, tint: number[]): RgbaImage {
  const r = rng(seed);
  const data = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    for (let c = 0; c < 3; c++) data[4 * i + c] = tint[c] + (r() - 0.5) * 80;
    data[4 * i + 3] = 255;
  }
  return { width: w, height: h, data };
}

const TARGET = { mean: [-0.75, 0.02, 0.01] as [number, number, number], std: [0.12, 0.03, 0.02] as [number, number, number] };

function withStain(m: Model, stain: unknown): Model {
  return { ...m, stain } as Model;
}

describe('model file stain field', () => {
  it('round-trips, is absent when not set, and is validated', () => {
    const m = initModel(spec, 3);
    const plain = encodeModel(m);
    expect(decodeModel(plain).stain).toBeUndefined();
    expect(new TextDecoder().decode(plain)).not.toContain('stain');
    const s = withStain(m, { method: 'reinhard', target: TARGET });
    const back = decodeModel(encodeModel(s));
    expect(back.stain).toEqual({ method: 'reinhard', target: TARGET });
    expect([...back.params[0].weight]).toEqual([...m.params[0].weight]);
    for (const bad of [
      { method: 'macenko', target: TARGET },
      { method: 'reinhard', target: { mean: [0, 0], std: [1, 1, 1] } },
      { method: 'reinhard', target: { mean: [0, 0, 0], std: [1, 0, 1] } },
      { method: 'reinhard', target: { mean: [0, NaN, 0], std: [1, 1, 1] } },
    ]) {
      expect(() => encodeModel(withStain(m, bad), 'm.bin')).toThrow(ModelFileError);
    }
    // a file whose header holds a bad stain (written by hand: encodeModel refuses it)
    const bytes = encodeModel(withStain(m, { method: 'reinhard', target: { mean: [0, 0, 0], std: [1, 2, 3] } }));
    const text = new TextDecoder('latin1').decode(bytes); // one char per byte
    const at = text.indexOf('"std":[1,2,3]');
    expect(at).toBeGreaterThan(0);
    const evil = bytes.slice();
    evil.set(new TextEncoder().encode('"std":[1,0,3]'), at);
    // fix the checksum so that only the stain check can fail
    new DataView(evil.buffer).setUint32(evil.length - 4, crc32(evil.subarray(0, evil.length - 4)), true);
    expect(() => decodeModel(evil, 'evil.bin')).toThrow(/evil\.bin: bad stain normalisation.*std > 0/);
  });
});

describe('stain normalisation', () => {
  it('stainTarget pools per-image stats; normaliseStain moves an image to the target', async () => {
    const imgs = [image(12, 10, 1, [180, 110, 170]), image(9, 14, 2, [150, 90, 190])];
    const t = stainTarget(imgs);
    const s0 = labStats(imgs[0].data, 12, 10), s1 = labStats(imgs[1].data, 9, 14);
    expectClose(t.mean, s0.mean.map((v, c) => (v + s1.mean[c]) / 2), 1e-12, 1e-12, 'pooled mean');
    expectClose(t.std, s0.std.map((v, c) => (v + s1.std[c]) / 2), 1e-12, 1e-12, 'pooled std');
    const out = await normaliseStain(ctx.e, imgs[0], { method: 'reinhard', target: t });
    const s = labStats(out.data, out.width, out.height);
    // rounding to grey levels: within 0.01 (means) and 8% (stds) in lαβ units
    expectClose(s.mean, t.mean, 0, 0.01, 'normalised mean');
    expectClose(s.std, t.std, 0.08, 0, 'normalised std');
    expect(out.data.length).toBe(imgs[0].data.length);
  });

  it('probabilityMap normalises the image for a model with stain (and equals denseMap of the normalised image)', async () => {
    const e = ctx.e;
    const img = image(21, 17, 5, [190, 120, 175]);
    const plain = initModel(spec, 3);
    const stained: Model = { ...plain, stain: { method: 'reinhard', target: TARGET } };
    const without = await probabilityMap(e, [plain], img);
    const withS = await probabilityMap(e, [stained], img);
    const pre = await normaliseStain(e, img, stained.stain!);
    const direct = await denseMap(e, plain, pre);
    expect([...withS.data]).toEqual([...direct.data]);
    const diff = Math.max(...withS.data.map((v, i) => Math.abs(v - without.data[i])));
    expect(diff).toBeGreaterThan(1e-3);
  });
});

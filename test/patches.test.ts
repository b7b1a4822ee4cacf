import { describe, expect, it } from 'vitest';
import { gatherPatches, packRgba, type PatchRequest } from '../engine/ops/patches.js';
import { useEngine } from './helpers/gpu.js';
import { expectClose, rng } from './helpers/reference.js';
import { reflectIndex as reflect } from './reference/image.js';

const ctx = useEngine();

/** float64 reference of one patch: nearest pixel for angle 0 and scale 1, bilinear otherwise
 * (sample point cx + k (cos a u' - sin a v), cy + k (sin a u' + cos a v), k = scale). */
function refPatch(img: Uint8Array, w: number, h: number, r: PatchRequest, S: number, scale: number, mean: number[], std: number[]): number[] {
  const out = new Array(3 * S * S).fill(0);
  const half = Math.floor(S / 2);
  const px = (x: number, y: number, c: number) => img[4 * (reflect(y, h) * w + reflect(x, w)) + c];
  for (let i = 0; i < S; i++)
    for (let j = 0; j < S; j++) {
      let u = j - half;
      const v = i - half;
      if (r.mirror) u = -u;
      for (let c = 0; c < 3; c++) {
        let val: number;
        const k = r.scale ?? 1;
        if (r.angle === 0 && k === 1) val = px(r.cx + u, r.cy + v, c);
        else {
          const x = r.cx + k * (Math.cos(r.angle) * u - Math.sin(r.angle) * v);
          const y = r.cy + k * (Math.sin(r.angle) * u + Math.cos(r.angle) * v);
          const x0 = Math.floor(x), y0 = Math.floor(y), fx = x - x0, fy = y - y0;
          val =
            (1 - fy) * ((1 - fx) * px(x0, y0, c) + fx * px(x0 + 1, y0, c)) +
            fy * ((1 - fx) * px(x0, y0 + 1, c) + fx * px(x0 + 1, y0 + 1, c));
        }
        out[c * S * S + i * S + j] = (val * scale - mean[c]) / std[c];
      }
    }
  return out;
}

describe('gather_patches', () => {
  it('cuts mirrored, rotated, flipped, normalised windows from two packed images', async () => {
    const r = rng(7);
    const dims = [
      [13, 9],
      [7, 11],
    ];
    const imgs = dims.map(([w, h]) => Uint8Array.from({ length: w * h * 4 }, () => Math.floor(r() * 256)));
    const all = new Uint8Array(imgs.reduce((a, b) => a + b.length, 0));
    all.set(imgs[0]);
    all.set(imgs[1], imgs[0].length);
    const S = 9;
    const norm = { scale: 1 / 255, mean: [0.5, 0.4, 0.3] as const, std: [0.2, 0.25, 0.3] as const };
    const reqs: PatchRequest[] = [
      { offset: 0, width: 13, height: 9, cx: 6, cy: 4, angle: 0, mirror: false },
      { offset: 0, width: 13, height: 9, cx: 0, cy: 0, angle: 0, mirror: false }, // corner: mirrored borders
      { offset: 0, width: 13, height: 9, cx: 12, cy: 8, angle: 0, mirror: true },
      { offset: 117, width: 7, height: 11, cx: 3, cy: 10, angle: 0.7, mirror: false },
      { offset: 117, width: 7, height: 11, cx: 1, cy: 5, angle: -2.1, mirror: true },
    ];
    const e = ctx.e;
    const images = e.tensor([all.length / 4], packRgba(all));
    const got = await gatherPatches(e, images, reqs, S, norm).read();
    reqs.forEach((q, n) => {
      const img = imgs[q.offset === 0 ? 0 : 1];
      const want = refPatch(img, q.width, q.height, q, S, norm.scale, [...norm.mean], [...norm.std]);
      // angle 0 is exact; bilinear weights in float32 vs float64: 1e-4 absolute on values ~ +-3
      expectClose(got.subarray(n * 3 * S * S, (n + 1) * 3 * S * S), want, 0, q.angle === 0 ? 1e-6 : 1e-4, `patch ${n}`);
    });
  });

  it('scales the sampling grid about the centre (with and without rotation, mirror)', async () => {
    const r = rng(11);
    const w = 15, h = 11;
    const img = Uint8Array.from({ length: w * h * 4 }, () => Math.floor(r() * 256));
    const S = 7;
    const norm = { scale: 1, mean: [0, 0, 0] as const, std: [1, 1, 1] as const };
    const base = { offset: 0, width: w, height: h };
    const reqs: PatchRequest[] = [
      { ...base, cx: 7, cy: 5, angle: 0, mirror: false, scale: 1.1 },
      { ...base, cx: 7, cy: 5, angle: 0, mirror: false, scale: 0.9 },
      { ...base, cx: 1, cy: 9, angle: 0.4, mirror: true, scale: 1.23 },
      { ...base, cx: 14, cy: 0, angle: -1.3, mirror: false, scale: 0.85 },
      { ...base, cx: 6, cy: 6, angle: 0, mirror: true, scale: 1 }, // exact path
    ];
    const e = ctx.e;
    const images = e.tensor([w * h], packRgba(img));
    const got = await gatherPatches(e, images, reqs, S, norm).read();
    reqs.forEach((q, n) => {
      const want = refPatch(img, w, h, q, S, 1, [0, 0, 0], [1, 1, 1]);
      // 0..255 units: exact path 0; bilinear in float32 vs float64 (sample points ~1e-6 px off, slopes <= 255/px): 2e-3
      expectClose(got.subarray(n * 3 * S * S, (n + 1) * 3 * S * S), want, 0, q.scale === 1 ? 0 : 2e-3, `scaled patch ${n}`);
    });
    // scale 1.1 is not the plain window
    const plain = await gatherPatches(e, images, [{ ...reqs[0], scale: 1 }], S, norm).read();
    expect([...plain].some((v, i) => Math.abs(v - got[i]) > 1)).toBe(true);
    expect(() => gatherPatches(e, images, [{ ...reqs[0], scale: 0 }], S, norm)).toThrow(/scale/);
  });

  it('rejects a centre outside its image', () => {
    const e = ctx.e;
    const images = e.tensor([4], new Uint32Array(4));
    expect(() =>
      gatherPatches(e, images, [{ offset: 0, width: 2, height: 2, cx: 2, cy: 0, angle: 0, mirror: false }], 3, {
        scale: 1,
        mean: [0, 0, 0],
        std: [1, 1, 1],
      }),
    ).toThrow(/centre/);
  });
});

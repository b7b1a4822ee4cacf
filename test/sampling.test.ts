import { describe, expect, it } from 'vitest';
import { cropRegion, eligibleNegatives, labelMasks, makeRng, mitosisMask, positives, regionArea, sampleNegatives } from '../src/train/sampling.js';

describe('training pixel sampling', () => {
  it('labels pixels strictly closer than d to a centroid', () => {
    const m = mitosisMask(30, 20, [{ x: 10, y: 10 }], 3);
    expect(m[10 * 30 + 10]).toBe(1);
    expect(m[10 * 30 + 12]).toBe(1); // distance 2
    expect(m[10 * 30 + 13]).toBe(0); // distance 3: not closer than d
    expect(positives(0, 30, m).length).toBe(25); // lattice points with x^2 + y^2 < 9
  });

  it('never draws a positive, honours the allowed mask, and follows the weights', () => {
    const w = 10, h = 10;
    const mask = mitosisMask(w, h, [{ x: 5, y: 5 }], 2);
    const weight = new Float32Array(w * h);
    weight[0] = 1; // pixel (0,0)
    weight[99] = 3; // pixel (9,9): three times as likely
    const s = sampleNegatives([{ width: w, mask, weight }], 4000, makeRng(1));
    expect(s.every((p) => mask[p.y * w + p.x] === 0)).toBe(true);
    const n99 = s.filter((p) => p.x === 9 && p.y === 9).length;
    expect(n99 / s.length).toBeGreaterThan(0.72);
    expect(n99 / s.length).toBeLessThan(0.78);
    expect(s.filter((p) => p.x === 0 && p.y === 0).length + n99).toBe(4000);
    const allowed = new Uint8Array(w * h);
    allowed[3] = 1;
    expect(sampleNegatives([{ width: w, mask, allowed }], 50, makeRng(2)).every((p) => p.x === 3 && p.y === 0)).toBe(true);
  });

  it('is repeatable from a seed and fails clearly when nothing is eligible', () => {
    const mask = new Uint8Array(16);
    const a = sampleNegatives([{ width: 4, mask }], 10, makeRng(5));
    const b = sampleNegatives([{ width: 4, mask }], 10, makeRng(5));
    expect(a).toEqual(b);
    expect(() => sampleNegatives([{ width: 4, mask: new Uint8Array(16).fill(1) }], 1, makeRng(1))).toThrow(/no pixel is eligible/);
  });

  it('label masks: positives inside the region, negatives outside the exclusion radius and inside the region', () => {
    const w = 21, h = 17, c = [{ x: 10, y: 8 }];
    const plain = labelMasks(w, h, c, { radius: 3 });
    expect(plain.positive).toBe(plain.excluded); // the paper's case: one mask
    expect(plain.positive).toEqual(mitosisMask(w, h, c, 3));
    const region = cropRegion(w, h, 9); // x 4..16, y 4..12
    expect(region).toEqual({ x0: 4, y0: 4, x1: 17, y1: 13 });
    expect(regionArea(region)).toBe(13 * 9);
    const m = labelMasks(w, h, [...c, { x: 2, y: 2 }], { radius: 3, exclusion: 5, region });
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const inside = x >= 4 && x < 17 && y >= 4 && y < 13;
        const r2 = Math.min((x - 10) ** 2 + (y - 8) ** 2, (x - 2) ** 2 + (y - 2) ** 2);
        expect(m.positive[y * w + x]).toBe(inside && r2 < 9 ? 1 : 0);
        expect(m.excluded[y * w + x]).toBe(!inside || r2 < 25 ? 1 : 0);
      }
    // the region less the exclusion disk of (10, 8) (69 lattice points closer than 5) and the 6 pixels
    // of (2, 2)'s that reach into it: (4..6, 4), (4..5, 5), (4, 6)
    expect(eligibleNegatives(m.excluded)).toBe(13 * 9 - 69 - 6);
    expect(() => labelMasks(w, h, c, { radius: 3, exclusion: 2 })).toThrow(/at least the mitosis radius/);
  });
});

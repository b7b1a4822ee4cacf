// The hotspot search, the Nottingham mitotic score table, the density heatmap and the exports.
import { describe, expect, it } from 'vitest';
import { decodeImage, encodePng } from '../src/io/image.js';
import { mulberry32 } from '../src/synth/random.js';
import { areaWindow, densityGrid, findHotspot, hpfWindow, mitoticScore, renderDensity, scoreTableRow, slideGeoJson, type TissueMask } from '../src/slide/hotspot.js';
import type { Slide } from '../src/slide/slide.js';
import { slideOverview, slideTissueMask, tissueMaskOf } from '../src/slide/tissue.js';

describe('Nottingham mitotic score', () => {
  // NHSBSP / RCPath G148 (2016) table, rows by field diameter (mm): [score 1 max, score 2 range, score 3 min]
  const rows: [number, number, [number, number], number][] = [
    [0.4, 4, [5, 9], 10],
    [0.42, 5, [6, 10], 11],
    [0.44, 5, [6, 11], 12],
    [0.46, 6, [7, 12], 13],
    [0.48, 6, [7, 13], 14],
    [0.5, 7, [8, 14], 15],
    [0.52, 7, [8, 15], 16],
    [0.55, 8, [9, 17], 18],
    [0.57, 9, [10, 18], 19],
    [0.59, 9, [10, 19], 20],
    [0.6, 10, [11, 20], 21],
    [0.62, 11, [12, 22], 23],
    [0.65, 12, [13, 24], 25],
    [0.69, 13, [14, 27], 28],
  ];
  it.each(rows)('field diameter %f mm: <= %i, %j, >= %i', (d, s1, s2, s3) => {
    expect(scoreTableRow(d)).toEqual({ score1Max: s1, score2: s2, score3Min: s3 });
    const a = hpfWindow(d).areaMm2;
    expect(mitoticScore(s1, a).score).toBe(1);
    expect(mitoticScore(s2[0], a).score).toBe(2);
    expect(mitoticScore(s2[1], a).score).toBe(2);
    expect(mitoticScore(s3, a).score).toBe(3);
  });
  it('Elston-Ellis: 10 fields of 0.274 mm² score 0-9 / 10-19 / >= 20; 2 mm² scores <= 7 / 8-14 / >= 15', () => {
    expect([9, 10, 19, 20].map((c) => mitoticScore(c, 2.74).score)).toEqual([1, 2, 2, 3]);
    expect([7, 8, 14, 15].map((c) => mitoticScore(c, 2).score)).toEqual([1, 2, 2, 3]);
  });
});

/** Reference: the best of every candidate centre (each point, and both circles of radius R through each pair). */
function bruteForce(pts: { x: number; y: number }[], R: number): number {
  const count = (cx: number, cy: number) => pts.filter((p) => Math.hypot(p.x - cx, p.y - cy) <= R * (1 + 1e-9)).length;
  let best = pts.length ? 1 : 0;
  for (let i = 0; i < pts.length; i++)
    for (let j = i + 1; j < pts.length; j++) {
      const dx = pts[j].x - pts[i].x, dy = pts[j].y - pts[i].y, d = Math.hypot(dx, dy);
      if (d > 2 * R || d === 0) continue;
      const mx = (pts[i].x + pts[j].x) / 2, my = (pts[i].y + pts[j].y) / 2, hh = Math.sqrt(R * R - (d / 2) ** 2);
      for (const s of [1, -1]) best = Math.max(best, count(mx - (s * dy * hh) / d, my + (s * dx * hh) / d));
    }
  return best;
}

describe('hotspot', () => {
  const mpp = 0.25;
  it('finds the exact maximum (random clustered points, 3 seeds) and the members are inside', () => {
    for (const seed of [1, 2, 3]) {
      const rng = mulberry32(seed);
      const pts = Array.from({ length: 70 }, () => {
        const c = rng() < 0.5 ? [3000, 3000] : [rng() * 20000, rng() * 20000];
        return { x: c[0] + (rng() - 0.5) * 6000, y: c[1] + (rng() - 0.5) * 6000, score: 1 };
      });
      const h = findHotspot(pts, mpp, areaWindow(2));
      expect(h.radiusPx).toBeCloseTo((Math.sqrt(2 / Math.PI) * 1000) / mpp, 9);
      expect(h.count).toBe(bruteForce(pts, h.radiusPx));
      for (const i of h.members) expect(Math.hypot(pts[i].x - h.x, pts[i].y - h.y)).toBeLessThanOrEqual(h.radiusPx * (1 + 1e-6));
      expect(h.perMm2).toBeCloseTo(h.count / 2, 12);
      expect(h.score.score).toBe(mitoticScore(h.count, 2).score);
    }
  });

  it('counts a tight cluster, drops detections off the tissue and reports the tissue fraction', () => {
    const R = (Math.sqrt(2.37 / Math.PI) * 1000) / mpp; // 10 HPF of 0.55 mm = 2.376 mm²
    const dets = [...Array.from({ length: 18 }, (_, k) => ({ x: 5000 + 0.9 * R * Math.cos(k), y: 5000 + 0.9 * R * Math.sin(k), score: 0.9 })), { x: 100, y: 100, score: 0.9 }, { x: 30000, y: 30000, score: 0.9 }];
    const w = hpfWindow(0.55);
    const h = findHotspot(dets, mpp, w);
    expect(h.count).toBe(18);
    expect(h.score.score).toBe(3); // >= 18 in 10 HPF of 0.55 mm
    expect(h.label).toBe('10 HPF of 0.55 mm');
    // a mask (downsample 100) with tissue only in the left half: the point at 30000 is dropped
    const mask: TissueMask = { width: 400, height: 400, downsample: 100, data: new Uint8Array(400 * 400) };
    for (let y = 0; y < 400; y++) for (let x = 0; x < 200; x++) mask.data[y * 400 + x] = 1;
    const hm = findHotspot(dets, mpp, w, mask);
    expect(hm.offTissue).toBe(1);
    expect(hm.count).toBe(18);
    expect(hm.tissueFraction).toBeCloseTo(1, 6);
    expect(findHotspot([], mpp).count).toBe(0);
    expect(() => findHotspot(dets, NaN)).toThrow(/resolution/);
  });

  it('renders a density grid with the hotspot outlined, and exports GeoJSON with the hotspot polygon', () => {
    const dets = [{ x: 10, y: 10, score: 1 }, { x: 15, y: 12, score: 1 }, { x: 900, y: 500, score: 1 }];
    const g = densityGrid(dets, 1000, 600, 100);
    expect([g.width, g.height]).toEqual([10, 6]);
    expect(g.counts[0]).toBe(2);
    expect(g.counts[5 * 10 + 9]).toBe(1);
    const h = findHotspot(dets, 10, areaWindow(0.01)); // R = 56 px
    const img = renderDensity(g, 1000, 600, 4, { hotspot: h });
    expect([img.width, img.height]).toEqual([250, 150]);
    const back = decodeImage(encodePng(img), 'density.png');
    expect(Array.from(back.data.subarray(0, 3))).toEqual([252, 255, 164]); // the densest cell: the top of the map
    const gj = JSON.parse(slideGeoJson(dets, h));
    expect(gj.features).toHaveLength(4);
    expect(gj.features[0].geometry).toEqual({ type: 'Point', coordinates: [10, 10] });
    expect(gj.features[3].geometry.type).toBe('Polygon');
    expect(gj.features[3].properties.measurements.count).toBe(2);
  });

  it('tissue mask: Otsu on saturation separates pink tissue from grey glass and transparent outside', () => {
    const w = 40, h = 10, data = new Uint8ClampedArray(w * h * 4);
    for (let i = 0; i < w * h; i++) {
      const x = i % w;
      const c = x < 15 ? [230, 120, 190, 255] : x < 35 ? [235, 235, 238, 255] : [255, 255, 255, 0];
      data.set(c, 4 * i);
    }
    const m = tissueMaskOf({ width: w, height: h, data }, 32);
    expect(Array.from(m.data.subarray(0, w))).toEqual(Array.from({ length: w }, (_, x) => (x < 15 ? 1 : 0)));
  });
});

// A slide without a pyramid (one level of W x H) as the overview reads it: pixel (x, y) of the level
// is a procedural colour, and every region read is recorded.
function flatSlide(W: number, H: number): { slide: Slide; reads: number[] } {
  const reads: number[] = [];
  const px = (x: number, y: number) => [(x * 7 + y * 3) % 256, (x * y) % 251, (x + 5 * y) % 253, 255];
  const slide = {
    name: 'flat', format: 'generic', bigTiff: false, resolution: {}, associated: [], stats: {},
    levels: [{ width: W, height: H, downsample: 1, tileWidth: 256, tileHeight: 256, tiled: true, compression: 'none' }],
    async readRegion(_l: number, x: number, y: number, w: number, h: number) {
      reads.push(w * h);
      const data = new Uint8ClampedArray(w * h * 4);
      for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) data.set(px(x + i, y + j), 4 * (j * w + i));
      return { width: w, height: h, data };
    },
    bestLevelForDownsample: () => 0,
    async close() {},
  } as unknown as Slide;
  return { slide, reads };
}

describe('slide overview', () => {
  it('reads a small level whole, and averages a big one in bands without reading it as one region', async () => {
    const small = flatSlide(1500, 900);
    const o1 = await slideOverview(small.slide);
    expect([o1.image.width, o1.image.height, o1.downsample, small.reads]).toEqual([1500, 900, 1, [1500 * 900]]);

    const W = 5000, H = 4100, f = 3; // 20.5 MP: more than the 4096² read whole; f = ceil(5000 / 2048)
    const big = flatSlide(W, H);
    const o = await slideOverview(big.slide);
    expect([o.image.width, o.image.height, o.downsample]).toEqual([Math.ceil(W / f), Math.ceil(H / f), f]);
    expect(Math.max(...big.reads), 'largest region read').toBeLessThanOrEqual(16 * 2 ** 20);
    expect(big.reads.reduce((a, b) => a + b, 0), 'every pixel read once').toBe(W * H);
    // block means against float64, the last (partial) column and row included
    const px = (x: number, y: number) => [(x * 7 + y * 3) % 256, (x * y) % 251, (x + 5 * y) % 253, 255];
    for (const [ox, oy] of [[0, 0], [100, 57], [Math.ceil(W / f) - 1, Math.ceil(H / f) - 1], [811, 1366]]) {
      const sum = [0, 0, 0, 0];
      let n = 0;
      for (let y = oy * f; y < Math.min(H, oy * f + f); y++) for (let x = ox * f; x < Math.min(W, ox * f + f); x++) {
        px(x, y).forEach((v, c) => (sum[c] += v));
        n++;
      }
      const got = Array.from(o.image.data.subarray(4 * (oy * o.image.width + ox), 4 * (oy * o.image.width + ox) + 4));
      expect(got, `overview pixel (${ox}, ${oy})`).toEqual(sum.map((v) => Math.round(v / n)));
    }
    // the mask is made from it, and a second call reads nothing again
    const reads = big.reads.length;
    const mask = await slideTissueMask(big.slide);
    expect([mask.width, mask.height, mask.downsample, mask.level]).toEqual([o.image.width, o.image.height, f, 0]);
    expect(big.reads.length).toBe(reads);
  });
});

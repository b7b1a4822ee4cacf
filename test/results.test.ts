import { describe, expect, it } from 'vitest';
import { colourOf, detectionsCsv, detectionsGeoJson, heatmap, overlay, scoreText } from '../src/detect/results.js';

const dets = [
  { x: 10, y: 12, score: 0.9 },
  { x: 40, y: 5, score: 0.51234567 },
];

describe('detection results', () => {
  it('writes CSV with a header and one row per detection', () => {
    expect(detectionsCsv(dets)).toBe('x,y,score\n10,12,0.9\n40,5,0.5123457\n');
    expect(detectionsCsv([])).toBe('x,y,score\n');
  });

  it('writes each score as the shortest decimal that reads back as the same float32, in the same order', () => {
    // near-equal scores (an untrained net's) and the float32 neighbours of round ones
    const scores = [0.5, 0.1, 1, 0, 0.999999, 1e-7];
    for (let i = 0; i < 2000; i++) scores.push(0.5 + (i - 1000) * 2 ** -24, Math.sin(i) * 0.5 + 0.5);
    const f = scores.map(Math.fround).sort((a, b) => a - b);
    const back = f.map((v) => Number(scoreText(v)));
    for (let i = 0; i < f.length; i++) {
      expect(Math.fround(back[i])).toBe(f[i]);
      expect(scoreText(f[i]).replace(/^0\.0*|\./g, '').length).toBeLessThanOrEqual(9);
      if (i > 0 && f[i] > f[i - 1]) expect(back[i]).toBeGreaterThan(back[i - 1]);
    }
    expect(scoreText(0.9)).toBe('0.9');
    expect(scoreText(0.51234567)).toBe('0.5123457');
  });

  it('writes GeoJSON points that QuPath imports (x, y in pixels)', () => {
    const g = JSON.parse(detectionsGeoJson(dets));
    expect(g.type).toBe('FeatureCollection');
    expect(g.features).toHaveLength(2);
    expect(g.features[1].geometry).toEqual({ type: 'Point', coordinates: [40, 5] });
    expect(g.features[0].properties.classification.name).toBe('Mitosis');
  });

  it('draws rings in the Fig. 1 colours without touching the original image', () => {
    const img = { width: 50, height: 50, data: new Uint8ClampedArray(50 * 50 * 4).fill(255) };
    const out = overlay(img, { truePositives: [{ x: 25, y: 25 }], misses: [{ x: 8, y: 8 }] }, 6);
    expect(img.data.every((v) => v === 255)).toBe(true);
    const at = (x: number, y: number) => Array.from(out.data.slice(4 * (y * 50 + x), 4 * (y * 50 + x) + 3));
    expect(at(31, 25)).toEqual([0, 200, 60]); // on the TP ring
    expect(at(25, 25)).toEqual([255, 255, 255]); // centre untouched
    expect(at(8, 2)).toEqual([40, 120, 255]); // on the miss ring
  });

  it('maps probabilities to an ordered colour scale', () => {
    expect(colourOf(0)).toEqual([0, 0, 4]);
    expect(colourOf(1)).toEqual([252, 255, 164]);
    const h = heatmap(new Float32Array([0, 0.5, 1, NaN]), 2, 2);
    expect(Array.from(h.data.slice(4, 8))).toEqual([188, 55, 84, 255]);
    expect(() => heatmap(new Float32Array(3), 2, 2)).toThrow(/expected 2x2/);
  });
});

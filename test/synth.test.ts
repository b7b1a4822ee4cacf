// The procedural H&E generator is the ground truth of the embedded default model and of the demo:
// it must be deterministic, keep its truth inside the image, and look like H&E (pink stroma, dark
// blue-purple chromatin where the truth says a mitosis is).
import { describe, expect, it } from 'vitest';
import { DEFAULT_MPP, generateField, mitosisBorderMargin, mitosisMinSpacing, type SynthField } from '../src/synth/tissue.js';

/** Optical density of the blue channel relative to the red one: high for haematoxylin-dark chromatin. */
function darkness(f: SynthField, x: number, y: number, r: number): number {
  const { width: W, data } = f.image;
  let sum = 0, n = 0;
  for (let j = Math.round(y) - r; j <= Math.round(y) + r; j++)
    for (let i = Math.round(x) - r; i <= Math.round(x) + r; i++) {
      const o = (j * W + i) * 4;
      sum += 255 - (data[o] + data[o + 1] + data[o + 2]) / 3;
      n++;
    }
  return sum / n;
}

describe('procedural H&E fields', () => {
  it('are deterministic in the seed and differ between seeds', () => {
    const a = generateField({ width: 160, height: 120, seed: 11 });
    const b = generateField({ width: 160, height: 120, seed: 11 });
    const c = generateField({ width: 160, height: 120, seed: 12 });
    expect(Buffer.from(a.image.data).equals(Buffer.from(b.image.data))).toBe(true);
    expect(a.mitoses).toEqual(b.mitoses);
    expect(Buffer.from(a.image.data).equals(Buffer.from(c.image.data))).toBe(false);
  });

  it('place the asked number of mitoses, spaced and away from the border, in several phases', () => {
    const f = generateField({ width: 384, height: 384, seed: 3, mitoses: 6 });
    expect(f.image.data.length).toBe(384 * 384 * 4);
    expect(f.mitoses).toHaveLength(6);
    const margin = mitosisBorderMargin(DEFAULT_MPP), spacing = mitosisMinSpacing(DEFAULT_MPP);
    for (const m of f.mitoses) {
      expect(m.x).toBeGreaterThanOrEqual(margin);
      expect(m.y).toBeGreaterThanOrEqual(margin);
      expect(m.x).toBeLessThanOrEqual(384 - margin);
      expect(m.y).toBeLessThanOrEqual(384 - margin);
    }
    for (let i = 0; i < f.mitoses.length; i++)
      for (let j = i + 1; j < f.mitoses.length; j++) {
        expect(Math.hypot(f.mitoses[i].x - f.mitoses[j].x, f.mitoses[i].y - f.mitoses[j].y)).toBeGreaterThanOrEqual(spacing);
      }
    // the first four figures cover the four phases
    expect(new Set(f.mitoses.map((m) => m.phase)).size).toBe(4);
  });

  it('look like H&E: eosin-pink overall, dark chromatin at metaphase centroids', () => {
    const f = generateField({ width: 320, height: 320, seed: 5, mitoses: 4 });
    const d = f.image.data;
    let r = 0, g = 0, b = 0;
    for (let i = 0; i < d.length; i += 4) {
      r += d[i];
      g += d[i + 1];
      b += d[i + 2];
      expect(d[i + 3]).toBe(255);
    }
    // pink/purple: green is the most absorbed channel in H&E
    expect(r).toBeGreaterThan(g * 1.1);
    expect(b).toBeGreaterThan(g * 1.1);
    const background = darkness(f, 160, 160, 150);
    for (const m of f.mitoses.filter((m) => m.phase === 'metaphase' || m.phase === 'prophase')) {
      expect(darkness(f, m.x, m.y, 2)).toBeGreaterThan(background + 40);
    }
  });

  it('scale with the resolution: mitoses stay 40 px apart at coarse resolutions and 9.8 µm apart at fine ones', () => {
    expect(mitosisMinSpacing(DEFAULT_MPP / 2)).toBe(80);
    expect(mitosisMinSpacing(DEFAULT_MPP * 2)).toBe(40);
    const f = generateField({ width: 200, height: 200, seed: 9, mpp: DEFAULT_MPP * 2, mitoses: 3 });
    expect(f.mitoses).toHaveLength(3);
    // a figure at half the resolution is about half as wide: its dark core spans fewer pixels
    const fine = generateField({ width: 200, height: 200, seed: 9, mitoses: 1 });
    const dark = (g: SynthField) => {
      let n = 0;
      for (let i = 0; i < g.image.data.length; i += 4) if (g.image.data[i] + g.image.data[i + 1] + g.image.data[i + 2] < 3 * 90) n++;
      return n / (g.mitoses.length + 1);
    };
    expect(dark(f)).toBeLessThan(dark(fine));
  });

  it('refuse impossible requests clearly', () => {
    expect(() => generateField({ width: 0, height: 10, seed: 1 })).toThrow(/bad size/);
    expect(() => generateField({ width: 64, height: 64, seed: 1, mitoses: 40 })).toThrow(/cannot place 40 mitoses/);
    expect(() => generateField({ width: 64, height: 64, seed: 1, mpp: -1 })).toThrow(/mpp/);
  });
});

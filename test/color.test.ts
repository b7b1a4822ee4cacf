// Colour kernels vs float64 references (test/reference/color.ts): stain augmentation (blur, HED
// jitter, brightness/contrast/saturation, normalisation) and Reinhard l-alpha-beta transfer.
import { describe, expect, it } from 'vitest';
import { IDENTITY_STAIN_PARAMS, labStats, labTransfer, stainAugment } from '../engine/ops/color.js';
import { gatherPatches, packRgba, type PatchRequest } from '../engine/ops/patches.js';
import { useEngine } from './helpers/gpu.js';
import { expectClose, rng } from './helpers/reference.js';
import { labStatsRef, labTransferRef, stainAugmentRef } from './reference/color.js';

const ctx = useEngine();

const NORM = { scale: 1 / 255, mean: [0.6, 0.45, 0.7] as const, std: [0.2, 0.25, 0.15] as const };
const IDENT = { scale: 1, mean: [0, 0, 0] as const, std: [1, 1, 1] as const };

/** Normalised values back to 0..255 units (float64). */
function toRgb(v: ArrayLike<number>, N: number, S: number, norm = NORM): Float64Array {
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const c = Math.floor(i / (S * S)) % 3;
    out[i] = (v[i] * norm.std[c] + norm.mean[c]) / norm.scale;
  }
  return out;
}

function randomParams(N: number, seed: number, wide = false): Float32Array {
  const r = rng(seed);
  const u = (lo: number, hi: number) => lo + (hi - lo) * r();
  const p = new Float32Array(N * 12);
  const h = wide ? 0.3 : 0.08;
  for (let n = 0; n < N; n++) {
    p.set([u(1 - h, 1 + h), u(1 - h, 1 + h), u(1 - h, 1 + h), u(-h, h), u(-h, h), u(-h, h), u(-30, 30), u(0.75, 1.25), u(0.7, 1.3), u(0, 1), 0, 0], n * 12);
  }
  return p;
}

describe('stain_augment', () => {
  it('identity params reproduce plain normalisation (gathered patches, two sizes)', async () => {
    const e = ctx.e;
    const r = rng(3);
    const w = 17, h = 12;
    const img = Uint8Array.from({ length: w * h * 4 }, () => Math.floor(r() * 256));
    const images = e.tensor([w * h], packRgba(img));
    for (const S of [7, 13]) {
      const reqs: PatchRequest[] = [
        { offset: 0, width: w, height: h, cx: 8, cy: 6, angle: 0, mirror: false },
        { offset: 0, width: w, height: h, cx: 0, cy: 11, angle: 0.9, mirror: true, scale: 1.1 },
        { offset: 0, width: w, height: h, cx: 16, cy: 2, angle: -0.3, mirror: false },
      ];
      const raw = gatherPatches(e, images, reqs, S, IDENT);
      const params = new Float32Array(3 * 12);
      for (let n = 0; n < 3; n++) params.set(IDENTITY_STAIN_PARAMS, n * 12);
      const got = toRgb(await stainAugment(e, raw, params, NORM).read(), 3, S);
      const want = toRgb(await gatherPatches(e, images, reqs, S, NORM).read(), 3, S);
      // 0..255 units; the only error is float32 rounding in the saturation step and the back-conversion
      expectClose(got, want, 0, 1e-4, `identity S=${S}`);
      raw.release();
    }
    images.release();
  });

  for (const S of [7, 13])
    it(`matches the float64 reference on random patches and params (N = 3, S = ${S})`, async () => {
      const e = ctx.e;
      const N = 3;
      const r = rng(20 + S);
      const x = Float32Array.from({ length: N * 3 * S * S }, () => r() * 255);
      for (const wide of [false, true]) {
        const params = randomParams(N, 40 + S + (wide ? 1 : 0), wide);
        const xt = e.tensor([N, 3, S, S], x);
        const got = toRgb(await stainAugment(e, xt, params, NORM).read(), N, S);
        const want = stainAugmentRef(x, N, S, params, NORM);
        const wantRgb = toRgb(want, N, S);
        // 0..255 units: float32 log/exp (relative ~1e-6 of values up to 256) through the 3x3 unmixing,
        // and the back-conversion of the normalised output (measured <= 1e-4): 5e-4 grey levels
        expectClose(got, wantRgb, 0, 5e-4, `augmented S=${S} wide=${wide}`);
        xt.release();
      }
    });

  it('each parameter changes the output', async () => {
    const e = ctx.e;
    const S = 7;
    const r = rng(9);
    const x = Float32Array.from({ length: 3 * S * S }, () => 40 + r() * 170);
    const xt = e.tensor([1, 3, S, S], x);
    const base = await stainAugment(e, xt, Float32Array.from(IDENTITY_STAIN_PARAMS), IDENT).read();
    for (let k = 0; k < 10; k++) {
      const p = Float32Array.from(IDENTITY_STAIN_PARAMS);
      p[k] += k < 6 ? 0.1 : k === 6 ? 10 : k === 9 ? 0.5 : 0.2;
      const got = await stainAugment(e, xt, p, IDENT).read();
      expect(Math.max(...got.map((v, i) => Math.abs(v - base[i]))), `param ${k}`).toBeGreaterThan(0.5);
    }
    xt.release();
  });
});

/** A tissue-like RGBA image: pinkish/purple pixels around `tint`, optionally with a white background region. */
function tissue(w: number, h: number, seed: number, tint: number[], spread: number, background = 0): Uint8Array {
  const r = rng(seed);
  const d = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    const bg = i % w < background * w;
    for (let c = 0; c < 3; c++) d[4 * i + c] = bg ? 230 + Math.floor(r() * 25) : Math.round(Math.min(255, Math.max(0, tint[c] + (r() - 0.5) * 2 * spread * (1 + c * 0.3))));
    d[4 * i + 3] = Math.floor(r() * 256);
  }
  return d;
}

describe('Reinhard colour transfer', () => {
  it('labStats matches the float64 reference and leaves out the background', () => {
    const w = 23, h = 17;
    const img = tissue(w, h, 1, [180, 110, 170], 50, 0.4);
    const s = labStats(img, w, h);
    const want = labStatsRef(img, w * h);
    expectClose(s.mean, want.mean, 1e-10, 1e-12, 'mean');
    expectClose(s.std, want.std, 1e-10, 1e-12, 'std');
    // the background changes nothing: the same stats as the tissue pixels alone
    const cols = Math.ceil(0.4 * w);
    const only = new Uint8Array((w - cols) * h * 4);
    for (let y = 0; y < h; y++) only.set(img.subarray(4 * (y * w + cols), 4 * (y * w + w)), 4 * y * (w - cols));
    const t = labStats(only, w - cols, h);
    expectClose(s.mean, t.mean, 1e-12, 1e-12, 'mean without background');
    // an all-background image uses all its pixels
    const white = tissue(10, 10, 2, [0, 0, 0], 0, 1);
    expect(labStats(white, 10, 10).std[0]).toBeGreaterThan(0);
    expectClose(labStats(white, 10, 10).mean, labStatsRef(white, 100).mean, 1e-10, 1e-12, 'all white');
  });

  it('GPU transfer matches the float64 reference within 1 grey level, alpha kept', async () => {
    const e = ctx.e;
    const w = 29, h = 13;
    const img = tissue(w, h, 4, [190, 100, 160], 60, 0.2);
    const src = labStats(img, w, h);
    const dst = labStats(tissue(31, 9, 5, [150, 80, 190], 40), 31, 9);
    const t = e.tensor([w * h], packRgba(img));
    const out = labTransfer(e, t, w, h, src, dst);
    const got = new Uint8Array((await e.readU32(out)).buffer);
    const want = labTransferRef(img, w * h, src, dst);
    let worst = 0;
    let exact = 0;
    for (let i = 0; i < w * h; i++) {
      for (let c = 0; c < 3; c++) {
        const d = Math.abs(got[4 * i + c] - want.bytes[4 * i + c]);
        worst = Math.max(worst, d);
        if (d === 0) exact++;
      }
      expect(got[4 * i + 3]).toBe(img[4 * i + 3]);
    }
    expect(worst).toBeLessThanOrEqual(1);
    expect(exact).toBeGreaterThan(0.97 * 3 * w * h);
    t.release();
    out.release();
  });

  it('transfer to its own stats is the identity; the transferred image has the target stats', async () => {
    const e = ctx.e;
    const w = 37, h = 21;
    const img = tissue(w, h, 6, [170, 120, 160], 40);
    const src = labStats(img, w, h);
    const t = e.tensor([w * h], packRgba(img));
    const same = new Uint8Array((await e.readU32(labTransfer(e, t, w, h, src, src))).buffer);
    let worst = 0;
    for (let i = 0; i < img.length; i++) worst = Math.max(worst, Math.abs(same[i] - img[i]));
    expect(worst).toBeLessThanOrEqual(1);
    const dst = labStats(tissue(25, 25, 7, [140, 95, 185], 30), 25, 25);
    const moved = new Uint8Array((await e.readU32(labTransfer(e, t, w, h, src, dst))).buffer);
    const s = labStats(moved, w, h);
    // rounding to grey levels and a little clamping: means within 0.01, stds within 6% (lαβ, log10 units)
    expectClose(s.mean, dst.mean, 0, 0.01, 'transferred mean');
    expectClose(s.std, dst.std, 0.06, 0, 'transferred std');
    expect(Math.abs(s.mean[1] - src.mean[1]) + Math.abs(s.mean[2] - src.mean[2])).toBeGreaterThan(0.02);
    t.release();
  });
});

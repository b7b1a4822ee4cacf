// Colour operations: stain/colour augmentation of gathered patches (shaders/stain_augment.wgsl) and
// Reinhard colour transfer in l-alpha-beta space (shaders/lab_transfer.wgsl, with labStats on the CPU).
import augmentSource from '../../shaders/stain_augment.wgsl';
import labSource from '../../shaders/lab_transfer.wgsl';
import { grid1d } from '../dispatch.js';
import type { Engine, Tensor } from '../engine.js';
import type { Normalisation } from './patches.js';

/** Floats per patch in stainAugment's params. */
export const STAIN_PARAMS = 12;

/** stainAugment params of one patch that change nothing (the output is the plain normalisation). */
export const IDENTITY_STAIN_PARAMS: readonly number[] = Object.freeze([1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0]);

/**
 * Blur, HED jitter, brightness/contrast/saturation and normalisation of x [N,3,S,S] (RGB 0..255).
 * params: N * 12 floats per patch, [alphaH, alphaE, alphaD, betaH, betaE, betaD, brightness,
 * contrast, saturation, blur, 0, 0] (see shaders/stain_augment.wgsl). Returns a new [N,3,S,S].
 */
export function stainAugment(e: Engine, x: Tensor, params: Float32Array, norm: Normalisation): Tensor {
  const [N, C, S, S2] = x.shape;
  if (x.shape.length !== 4 || C !== 3 || S !== S2) throw new Error(`stainAugment: x must be [N, 3, S, S], got [${x.shape}]`);
  if (params.length !== N * STAIN_PARAMS) throw new Error(`stainAugment: ${params.length} params for ${N} patches (needs ${N * STAIN_PARAMS})`);
  const p = e.tensor([params.length], params);
  const out = e.empty(x.shape);
  const u = new Float32Array([norm.mean[0], norm.mean[1], norm.mean[2], norm.scale, norm.std[0], norm.std[1], norm.std[2], 1]);
  e.run({ name: 'stain_augment', source: augmentSource, constants: { S, N }, workgroups: grid1d(N * S * S, 64) }, [x, p, out, { uniform: u }]);
  p.release();
  return out;
}

// ---- Reinhard colour transfer --------------------------------------------------------------------

/** Per-channel mean and standard deviation of an image in l-alpha-beta space. */
export interface LabStats {
  mean: [number, number, number];
  std: [number, number, number];
}

/** Reinhard et al. 2001: RGB -> LMS (rows). */
export const RGB2LMS: readonly (readonly number[])[] = [
  [0.3811, 0.5783, 0.0402],
  [0.1967, 0.7244, 0.0782],
  [0.0241, 0.1288, 0.8444],
];

/** Background pixels: all of R, G, B above this are left out of labStats (when enough tissue remains). */
export const BACKGROUND_LEVEL = 220;

/** The smallest source standard deviation labTransfer divides by (lαβ units, log10 scale). */
export const MIN_LAB_STD = 1e-3;

/** l-alpha-beta of one RGB pixel (0..255), float64, as shaders/lab_transfer.wgsl steps 1-4. */
export function rgbToLab(r: number, g: number, b: number, out: number[] = [0, 0, 0]): number[] {
  const q0 = (r + 1) / 256, q1 = (g + 1) / 256, q2 = (b + 1) / 256;
  const L = Math.log10(RGB2LMS[0][0] * q0 + RGB2LMS[0][1] * q1 + RGB2LMS[0][2] * q2);
  const M = Math.log10(RGB2LMS[1][0] * q0 + RGB2LMS[1][1] * q1 + RGB2LMS[1][2] * q2);
  const S = Math.log10(RGB2LMS[2][0] * q0 + RGB2LMS[2][1] * q1 + RGB2LMS[2][2] * q2);
  out[0] = (L + M + S) / Math.sqrt(3);
  out[1] = (L + M - 2 * S) / Math.sqrt(6);
  out[2] = (L - M) / Math.sqrt(2);
  return out;
}

/**
 * Mean and standard deviation (population) of each l-alpha-beta channel, in float64, over the
 * tissue pixels of an RGBA image: pixels with all of R, G, B > 220 (background) are left out,
 * unless fewer than 1% of the pixels would remain, then all pixels count. Runs on the CPU.
 */
export function labStats(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): LabStats {
  const n = width * height;
  if (!(n > 0) || rgba.length !== 4 * n) throw new Error(`labStats: ${rgba.length} bytes for a ${width}x${height} RGBA image`);
  const bg = (i: number) => rgba[i] > BACKGROUND_LEVEL && rgba[i + 1] > BACKGROUND_LEVEL && rgba[i + 2] > BACKGROUND_LEVEL;
  let tissue = 0;
  for (let i = 0; i < 4 * n; i += 4) if (!bg(i)) tissue++;
  const all = tissue < 0.01 * n;
  const sum = [0, 0, 0];
  const sq = [0, 0, 0];
  const lab = [0, 0, 0];
  let count = 0;
  // two passes (mean, then squared deviations) for accuracy
  for (let i = 0; i < 4 * n; i += 4) {
    if (!all && bg(i)) continue;
    rgbToLab(rgba[i], rgba[i + 1], rgba[i + 2], lab);
    for (let c = 0; c < 3; c++) sum[c] += lab[c];
    count++;
  }
  const mean = sum.map((s) => s / count) as [number, number, number];
  for (let i = 0; i < 4 * n; i += 4) {
    if (!all && bg(i)) continue;
    rgbToLab(rgba[i], rgba[i + 1], rgba[i + 2], lab);
    for (let c = 0; c < 3; c++) sq[c] += (lab[c] - mean[c]) ** 2;
  }
  const std = sq.map((s) => Math.sqrt(s / count)) as [number, number, number];
  return { mean, std };
}

/**
 * Reinhard colour transfer of a packed RGBA image (one u32 per pixel, as packRgba) from the
 * statistics `src` to `dst`: per l-alpha-beta channel l' = (l - src.mean) / src.std * dst.std +
 * dst.mean (src.std floored at MIN_LAB_STD), back to RGB rounded and clamped to 0..255, alpha kept.
 * Returns a new packed tensor (read it with engine.readU32).
 */
export function labTransfer(e: Engine, rgba: Tensor, width: number, height: number, src: LabStats, dst: LabStats): Tensor {
  const n = width * height;
  if (rgba.size !== n) throw new Error(`labTransfer: the tensor holds ${rgba.size} pixels, ${width}x${height} needs ${n}`);
  for (const [what, s] of [['src', src], ['dst', dst]] as const) {
    if (s.mean.length !== 3 || s.std.length !== 3 || [...s.mean, ...s.std].some((v) => !Number.isFinite(v)) || s.std.some((v) => v < 0)) {
      throw new Error(`labTransfer: bad ${what} statistics ${JSON.stringify(s)}`);
    }
  }
  const gain = [0, 1, 2].map((c) => dst.std[c] / Math.max(src.std[c], MIN_LAB_STD));
  const offset = [0, 1, 2].map((c) => dst.mean[c] - src.mean[c] * gain[c]);
  const u = new Float32Array([gain[0], gain[1], gain[2], 0, offset[0], offset[1], offset[2], 0]);
  const out = e.empty([n]);
  e.run({ name: 'lab_transfer', source: labSource, constants: { NPIX: n }, workgroups: grid1d(n, 64) }, [rgba, out, { uniform: u }]);
  return out;
}

// Beer-Lambert rendering of hematoxylin and eosin optical densities to RGB.
//
// Each pixel carries two optical densities (OD_H, OD_E). Transmitted light in channel c is
//   I_c = 255 * exp(-(OD_H * h_c + OD_E * e_c + bg_c))
// with unit stain vectors h, e (optical density per unit stain in R, G, B) and a faint
// background absorbance bg (glass, mountant). The reference vectors are those of Ruifrok &
// Johnston (2001). Real slides scatter around them (stain batch, thickness, scanner); each field
// mixes them with the vectors typically estimated from scanned slides (Macenko et al. 2009) by a
// random amount and rescales both stains, which gives the per-field stain variation.
import { clamp01, type Rng, uniform } from './random.js';

export type Vec3 = [number, number, number];

/** Ruifrok & Johnston (2001) hematoxylin OD vector (R, G, B). */
export const RUIFROK_H: Vec3 = [0.65, 0.704, 0.286];
/** Ruifrok & Johnston (2001) eosin OD vector (R, G, B). */
export const RUIFROK_E: Vec3 = [0.072, 0.99, 0.105];
/** Hematoxylin vector as typically estimated from scanned slides (Macenko et al. 2009 defaults). */
export const SLIDE_H: Vec3 = [0.5626, 0.7201, 0.4062];
/** Eosin vector as typically estimated from scanned slides (Macenko et al. 2009 defaults). */
export const SLIDE_E: Vec3 = [0.2159, 0.8012, 0.5581];

export interface Stain {
  /** Unit hematoxylin OD vector, already multiplied by the field's hematoxylin strength. */
  h: Vec3;
  /** Unit eosin OD vector, already multiplied by the field's eosin strength. */
  e: Vec3;
  /** Background absorbance per channel. */
  bg: Vec3;
}

function normalize(v: Vec3): Vec3 {
  const n = Math.hypot(v[0], v[1], v[2]);
  return [v[0] / n, v[1] / n, v[2] / n];
}

function mix(a: Vec3, b: Vec3, t: number, rng: Rng, jitter: number): Vec3 {
  return normalize([
    Math.max(0.01, a[0] + (b[0] - a[0]) * t + uniform(rng, -jitter, jitter)),
    Math.max(0.01, a[1] + (b[1] - a[1]) * t + uniform(rng, -jitter, jitter)),
    Math.max(0.01, a[2] + (b[2] - a[2]) * t + uniform(rng, -jitter, jitter)),
  ]);
}

/** A random per-field stain: hue/saturation shifts of H and E and their strengths. */
export function fieldStain(rng: Rng): Stain {
  const h = mix(RUIFROK_H, SLIDE_H, uniform(rng, 0.55, 1.0), rng, 0.04);
  const e = mix(RUIFROK_E, SLIDE_E, uniform(rng, 0.4, 0.8), rng, 0.05);
  const kh = uniform(rng, 0.85, 1.15);
  const ke = uniform(rng, 0.8, 1.2);
  const g = uniform(rng, 0.02, 0.05);
  return {
    h: [h[0] * kh, h[1] * kh, h[2] * kh],
    e: [e[0] * ke, e[1] * ke, e[2] * ke],
    bg: [g + uniform(rng, -0.01, 0.01), g + uniform(rng, -0.005, 0.015), g + uniform(rng, -0.01, 0.005)],
  };
}

/** In-place separable [1 2 1]/4 blur (sigma about 0.7 px), edges clamped. */
export function blur121(f: Float32Array, width: number, height: number): void {
  const row = new Float32Array(width);
  for (let y = 0; y < height; y++) {
    const o = y * width;
    row.set(f.subarray(o, o + width));
    for (let x = 0; x < width; x++) {
      const l = row[x > 0 ? x - 1 : 0];
      const r = row[x < width - 1 ? x + 1 : width - 1];
      f[o + x] = 0.25 * l + 0.5 * row[x] + 0.25 * r;
    }
  }
  // vertical pass row by row, keeping a copy of the previous (unblurred) row
  const prev = new Float32Array(width);
  const cur = new Float32Array(width);
  prev.set(f.subarray(0, width));
  for (let y = 0; y < height; y++) {
    const o = y * width;
    cur.set(f.subarray(o, o + width));
    const n = y < height - 1 ? o + width : o;
    for (let x = 0; x < width; x++) f[o + x] = 0.25 * prev[x] + 0.5 * cur[x] + 0.25 * f[n + x];
    prev.set(cur);
  }
}

/**
 * Renders OD maps to RGBA with Beer-Lambert absorbance, then adds scanner grain: a luminance
 * component and a weaker per-channel component (both zero-mean, `grain` = std of the luminance part
 * in 8-bit levels). Alpha is 255. exp() comes from a table (OD step 1/1024: under 0.25 levels of error),
 * which also keeps the output identical across JavaScript engines.
 */
export function renderRGBA(
  odH: Float32Array,
  odE: Float32Array,
  width: number,
  height: number,
  stain: Stain,
  noiseSeed: number,
  grain = 2.5,
): Uint8ClampedArray {
  const out = new Uint8ClampedArray(width * height * 4);
  const [h0, h1, h2] = stain.h;
  const [e0, e1, e2] = stain.e;
  const [b0, b1, b2] = stain.bg;
  const STEPS = 1024;
  const MAXOD = 12;
  const lut = new Float32Array(MAXOD * STEPS + 1);
  for (let k = 0; k < lut.length; k++) lut[k] = 255 * Math.exp(-k / STEPS);
  const top = MAXOD * STEPS;
  const tab = (od: number) => {
    const k = Math.round(od * STEPS);
    return lut[k < 0 ? 0 : k > top ? top : k];
  };
  // Sum of two uniforms on [-1, 1) has std sqrt(2/3); scale to the requested std.
  const kl = grain / Math.sqrt(2 / 3);
  const kc = 0.5 * kl;
  let st = (noiseSeed >>> 0) || 0x9e3779b9;
  const n = width * height;
  for (let i = 0; i < n; i++) {
    const H = odH[i];
    const E = odE[i];
    // xorshift32: three 10-bit uniforms per pixel
    st ^= st << 13;
    st ^= st >>> 17;
    st ^= st << 5;
    const a = (st & 1023) / 1024;
    const b = ((st >>> 10) & 1023) / 1024;
    const c = ((st >>> 20) & 1023) / 1024;
    const nl = (a + b - 1) * kl;
    const r = tab(H * h0 + E * e0 + b0);
    const g = tab(H * h1 + E * e1 + b1);
    const bl = tab(H * h2 + E * e2 + b2);
    // flat bright areas carry less visible grain (JPEG smooths them)
    const damp = 1 - 0.5 * clamp01((g - 200) / 40);
    const o = i * 4;
    out[o] = r + (nl + (c - 0.5) * kc) * damp;
    out[o + 1] = g + nl * damp;
    out[o + 2] = bl + (nl - (c - 0.5) * kc) * damp;
    out[o + 3] = 255;
  }
  return out;
}

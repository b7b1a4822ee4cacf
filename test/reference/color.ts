// float64 references of the colour kernels (engine/ops/color.ts): stain augmentation and Reinhard
// l-alpha-beta colour transfer. Matrices are built here from the published constants (and inverted
// here), independently of the rounded constants in the shaders.

export type Mat3 = number[][];

export function inv3(m: Mat3): Mat3 {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const det = a * A + b * B + c * C;
  return [
    [A, -(b * i - c * h), b * f - c * e],
    [B, a * i - c * g, -(a * f - c * d)],
    [C, -(a * h - b * g), a * e - b * d],
  ].map((r) => r.map((v) => v / det));
}

/** Row vector times matrix: (v M)_k = sum_j v_j M[j][k]. */
export function vecMat(v: number[], m: Mat3): number[] {
  return [0, 1, 2].map((k) => v[0] * m[0][k] + v[1] * m[1][k] + v[2] * m[2][k]);
}

/** Ruifrok & Johnston H, E, DAB optical-density vectors (scikit-image rgb_from_hed), rows normalised. */
export const HED_FROM: Mat3 = [
  [0.65, 0.7, 0.29],
  [0.07, 0.99, 0.11],
  [0.27, 0.57, 0.78],
].map((r) => r.map((v) => v / Math.hypot(...r)));
export const HED_INV: Mat3 = inv3(HED_FROM);

/**
 * stain_augment of x [N,3,S,S] (RGB 0..255) with params [N,12]
 * ([aH,aE,aD, bH,bE,bD, brightness, contrast, saturation, blur, 0, 0]) and normalisation.
 */
export function stainAugmentRef(x: ArrayLike<number>, N: number, S: number, params: ArrayLike<number>, norm: { scale: number; mean: readonly number[]; std: readonly number[] }): Float64Array {
  const out = new Float64Array(N * 3 * S * S);
  const P = S * S;
  const cl = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
  for (let n = 0; n < N; n++) {
    const p = Array.from({ length: 12 }, (_, k) => params[n * 12 + k]);
    const px = (i: number, j: number, c: number) => x[n * 3 * P + c * P + cl(i, 0, S - 1) * S + cl(j, 0, S - 1)];
    for (let i = 0; i < S; i++)
      for (let j = 0; j < S; j++) {
        let rgb = [0, 1, 2].map((c) => {
          let m = 0;
          for (let di = -1; di <= 1; di++) for (let dj = -1; dj <= 1; dj++) m += px(i + di, j + dj, c);
          return (1 - p[9]) * px(i, j, c) + (p[9] * m) / 9;
        });
        const od = rgb.map((v) => -Math.log((v + 1) / 256));
        const hed = vecMat(od, HED_INV).map((h, k) => h * p[k] + p[3 + k]);
        rgb = vecMat(hed, HED_FROM).map((o) => cl(256 * Math.exp(-o) - 1, 0, 255));
        rgb = rgb.map((v) => (v + p[6] - 127.5) * p[7] + 127.5);
        const Y = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
        rgb = rgb.map((v) => cl(Y + (v - Y) * p[8], 0, 255));
        for (let c = 0; c < 3; c++) out[n * 3 * P + c * P + i * S + j] = (rgb[c] * norm.scale - norm.mean[c]) / norm.std[c];
      }
  }
  return out;
}

// ---- Reinhard ------------------------------------------------------------------------------------

export const RGB2LMS_REF: Mat3 = [
  [0.3811, 0.5783, 0.0402],
  [0.1967, 0.7244, 0.0782],
  [0.0241, 0.1288, 0.8444],
];
const LMS2RGB_REF = inv3(RGB2LMS_REF);
const r3 = Math.sqrt(3), r6 = Math.sqrt(6), r2 = Math.sqrt(2);

/** Column-vector product M v. */
function matVec(m: Mat3, v: number[]): number[] {
  return m.map((r) => r[0] * v[0] + r[1] * v[1] + r[2] * v[2]);
}

/** RGB (0..255) -> l-alpha-beta with q = (rgb + 1) / 256, LMS = RGB2LMS q, L = log10 LMS. */
export function labRef(rgb: number[]): number[] {
  const L = matVec(RGB2LMS_REF, rgb.map((v) => (v + 1) / 256)).map(Math.log10);
  return [(L[0] + L[1] + L[2]) / r3, (L[0] + L[1] - 2 * L[2]) / r6, (L[0] - L[1]) / r2];
}

/** l-alpha-beta -> RGB (unrounded, unclamped). */
export function rgbFromLabRef(lab: number[]): number[] {
  const a = lab[0] / r3, b = lab[1] / r6, c = lab[2] / r2;
  const lms = [a + b + c, a + b - c, a - 2 * b].map((v) => 10 ** v);
  return matVec(LMS2RGB_REF, lms).map((q) => 256 * q - 1);
}

export interface LabStatsRef {
  mean: number[];
  std: number[];
}

/** Stats over pixels that are not background (all of RGB > 220), all pixels if < 1% remain. */
export function labStatsRef(rgba: ArrayLike<number>, n: number): LabStatsRef {
  let labs: number[][] = [];
  const all: number[][] = [];
  for (let i = 0; i < n; i++) {
    const rgb = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
    const l = labRef(rgb);
    all.push(l);
    if (!rgb.every((v) => v > 220)) labs.push(l);
  }
  if (labs.length < 0.01 * n) labs = all;
  const mean = [0, 1, 2].map((c) => labs.reduce((a, l) => a + l[c], 0) / labs.length);
  const std = [0, 1, 2].map((c) => Math.sqrt(labs.reduce((a, l) => a + (l[c] - mean[c]) ** 2, 0) / labs.length));
  return { mean, std };
}

/** Reinhard transfer of RGBA bytes from src to dst stats: unrounded RGB per pixel (3 per pixel) and the rounded, clamped RGBA bytes. */
export function labTransferRef(rgba: ArrayLike<number>, n: number, src: LabStatsRef, dst: LabStatsRef): { exact: Float64Array; bytes: Uint8Array } {
  const exact = new Float64Array(3 * n);
  const bytes = new Uint8Array(4 * n);
  for (let i = 0; i < n; i++) {
    const lab = labRef([rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]]).map((l, c) => ((l - src.mean[c]) / Math.max(src.std[c], 1e-3)) * dst.std[c] + dst.mean[c]);
    const rgb = rgbFromLabRef(lab);
    for (let c = 0; c < 3; c++) {
      exact[3 * i + c] = rgb[c];
      bytes[4 * i + c] = Math.min(255, Math.max(0, Math.round(rgb[c])));
    }
    bytes[4 * i + 3] = rgba[4 * i + 3];
  }
  return { exact, bytes };
}

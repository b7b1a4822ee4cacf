// Choosing training pixels (method.md §1, "Building the training set"): every pixel closer than d to
// a mitosis centroid is a positive; negatives are drawn uniformly (the set Sd) or with weight D(p),
// the first net's mitosis probability (the final set, where hard look-alikes dominate).
import { mulberry32 } from '../rng.js';

export interface Point {
  x: number;
  y: number;
}

/** A training pixel: which image, and where. */
export interface Sample {
  image: number;
  x: number;
  y: number;
  label: 0 | 1;
}

/** Deterministic PRNG (mulberry32): a seed makes a run repeatable. */
export const makeRng = mulberry32;

/** 1 where a pixel is closer than `radius` to a centroid (strictly: |p - c| < d), else 0. */
export function mitosisMask(width: number, height: number, centroids: readonly Point[], radius: number): Uint8Array {
  const mask = new Uint8Array(width * height);
  const r = Math.ceil(radius);
  for (const c of centroids) {
    const cx = Math.round(c.x), cy = Math.round(c.y);
    for (let y = Math.max(0, cy - r); y <= Math.min(height - 1, cy + r); y++)
      for (let x = Math.max(0, cx - r); x <= Math.min(width - 1, cx + r); x++)
        if ((x - c.x) ** 2 + (y - c.y) ** 2 < radius * radius) mask[y * width + x] = 1;
  }
  return mask;
}

/** All positive pixels of an image. */
export function positives(image: number, width: number, mask: Uint8Array): Sample[] {
  const out: Sample[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i]) out.push({ image, x: i % width, y: Math.floor(i / width), label: 1 });
  return out;
}

/**
 * Draws `count` negatives (mask = 0) over several images, uniformly or with per-pixel weights
 * (e.g. D(p)); `allowed` optionally restricts them (the tutorial's dilated blue-ratio mask).
 * Sampling is with replacement, by inverting the cumulative weight (binary search).
 */
export function sampleNegatives(
  images: readonly { width: number; mask: Uint8Array; weight?: Float32Array; allowed?: Uint8Array }[],
  count: number,
  rng: () => number,
): Sample[] {
  let total = 0;
  const cum: Float64Array[] = images.map((im) => {
    const c = new Float64Array(im.mask.length);
    for (let i = 0; i < im.mask.length; i++) {
      const w = im.mask[i] || (im.allowed && !im.allowed[i]) ? 0 : im.weight ? Math.max(0, im.weight[i]) : 1;
      total += w;
      c[i] = total;
    }
    return c;
  });
  if (count > 0 && !(total > 0)) throw new Error('sampleNegatives: no pixel is eligible as a negative (all masked or zero weight)');
  const out: Sample[] = [];
  for (let k = 0; k < count; k++) {
    const u = rng() * total;
    let img = 0;
    while (cum[img].length === 0 || cum[img][cum[img].length - 1] <= u) img++;
    const c = cum[img];
    let lo = 0, hi = c.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (c[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    out.push({ image: img, x: lo % images[img].width, y: Math.floor(lo / images[img].width), label: 0 });
  }
  return out;
}

/** Fisher-Yates shuffle in place. */
export function shuffle<T>(a: T[], rng: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

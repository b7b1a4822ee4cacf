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

/** A rectangle of pixels, half-open: x0 <= x < x1, y0 <= y < y1. */
export interface Region {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * The centres whose whole S x S window lies inside a width x height image (real context, no
 * mirrored pixels), with the trainer's window convention: the window of centre (cx, cy) covers
 * columns cx - R .. cx - R + S - 1, R = floor(S / 2) (shaders/gather_patches.wgsl). Empty
 * (x1 = x0 or y1 = y0) when the image is smaller than the window. Rotation (and scale)
 * augmentation turns (and grows) the window, so its corners may reach up to about (sqrt(2) k - 1) R
 * beyond this: `margin` (pixels, default 0) keeps the window that much further from the edges.
 */
export function cropRegion(width: number, height: number, windowSize: number, margin = 0): Region {
  return windowRegion({ x0: 0, y0: 0, x1: width, y1: height }, windowSize, margin);
}

/** The centres whose whole S x S window (plus `margin`) lies inside `bounds` (see cropRegion); may be empty. */
export function windowRegion(bounds: Region, windowSize: number, margin = 0): Region {
  if (!Number.isInteger(windowSize) || windowSize < 1) throw new RangeError(`window size must be a positive integer, got ${windowSize}`);
  if (!Number.isInteger(margin) || margin < 0) throw new RangeError(`window margin must be an integer >= 0, got ${margin}`);
  const R = Math.floor(windowSize / 2) + margin;
  const after = windowSize - 1 - Math.floor(windowSize / 2) + margin; // pixels right of / below the centre
  const x0 = bounds.x0 + R, y0 = bounds.y0 + R;
  return { x0, y0, x1: Math.max(x0, bounds.x1 - after), y1: Math.max(y0, bounds.y1 - after) };
}

/** The number of pixels of a region (0 when empty). */
export function regionArea(r: Region): number {
  return Math.max(0, r.x1 - r.x0) * Math.max(0, r.y1 - r.y0);
}

/** Throws unless `r` is an integer rectangle inside a width x height image (`name` says whose). */
export function checkRegion(r: Region, width: number, height: number, name: string): void {
  const ok = [r.x0, r.y0, r.x1, r.y1].every(Number.isInteger) && r.x0 >= 0 && r.y0 >= 0 && r.x1 <= width && r.y1 <= height && r.x1 >= r.x0 && r.y1 >= r.y0;
  if (!ok) throw new RangeError(`${name}: region x ${r.x0}..${r.x1}, y ${r.y0}..${r.y1} (half-open) must be integers inside the ${width}x${height} image`);
}

/** A new mask: `mask` where the pixel lies inside `region`, `outside` elsewhere. */
export function maskRegion(mask: Uint8Array, width: number, region: Region, outside: 0 | 1): Uint8Array {
  const out = new Uint8Array(mask.length);
  const height = mask.length / width;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      out[i] = x >= region.x0 && x < region.x1 && y >= region.y0 && y < region.y1 ? mask[i] : outside;
    }
  return out;
}

/**
 * The label masks of one image. `positive`: 1 at the mitosis pixels (closer than `radius` to a
 * centroid) inside `region`. `excluded`: 1 where a negative may NOT be drawn: closer than
 * `exclusion` (>= radius) to a centroid, or outside `region`. Without a region and with
 * exclusion = radius both are the very same array (the plain paper's case).
 */
export function labelMasks(
  width: number,
  height: number,
  centroids: readonly Point[],
  p: { radius: number; exclusion?: number; region?: Region },
): { positive: Uint8Array; excluded: Uint8Array } {
  const exclusion = p.exclusion ?? p.radius;
  if (!(exclusion >= p.radius)) throw new RangeError(`the negative exclusion radius (${exclusion} px) must be at least the mitosis radius d (${p.radius} px)`);
  const disk = mitosisMask(width, height, centroids, p.radius);
  const near = exclusion === p.radius ? disk : mitosisMask(width, height, centroids, exclusion);
  if (!p.region) return { positive: disk, excluded: near };
  return { positive: maskRegion(disk, width, p.region, 0), excluded: maskRegion(near, width, p.region, 1) };
}

/** The number of pixels where a negative may be drawn (excluded = 0 and, when given, allowed = 1). */
export function eligibleNegatives(excluded: Uint8Array, allowed?: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < excluded.length; i++) if (!excluded[i] && (!allowed || allowed[i])) n++;
  return n;
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

// A tissue mask of a slide: Otsu's threshold on the HSV saturation of a low-resolution level
// (glass is bright and grey, H&E tissue is pink/purple). Browser-safe.
import { otsuThreshold } from '../otsu.js';
import type { TissueMask } from './hotspot.js';
import type { RgbaImage, Slide } from './slide.js';

/** Saturation (max - min) / max per pixel, 0 where transparent (outside the slide). */
export function saturation(img: RgbaImage): Float32Array {
  const n = img.width * img.height, s = new Float32Array(n), d = img.data;
  for (let i = 0; i < n; i++) {
    const r = d[4 * i], g = d[4 * i + 1], b = d[4 * i + 2];
    const mx = Math.max(r, g, b), mn = Math.min(r, g, b);
    s[i] = d[4 * i + 3] === 0 || mx === 0 ? 0 : (mx - mn) / mx;
  }
  return s;
}

/** 1 where the saturation is above Otsu's threshold of the image (or `threshold`). */
export function tissueMaskOf(img: RgbaImage, downsample: number, threshold?: number): TissueMask & { threshold: number } {
  const s = saturation(img);
  const t = threshold ?? otsuThreshold(s);
  const data = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) data[i] = s[i] > t ? 1 : 0;
  return { width: img.width, height: img.height, data, downsample, threshold: t };
}

/** The mask from the smallest level of at least `minSide` pixels on its longer side (else the smallest level, down to level 0). */
export async function slideTissueMask(slide: Slide, minSide = 1024): Promise<TissueMask & { threshold: number; level: number }> {
  let level = slide.levels.length - 1;
  while (level > 0 && Math.max(slide.levels[level].width, slide.levels[level].height) < minSide) level--;
  const L = slide.levels[level];
  const img = await slide.readRegion(level, 0, 0, L.width, L.height);
  return { ...tissueMaskOf(img, L.downsample), level };
}

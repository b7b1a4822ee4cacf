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

/** Pixels of a level read whole for an overview; a larger one is box-averaged while it is read. */
const OVERVIEW_PIXELS = 4096 * 4096;
/** Pixels per band read while averaging (64 MiB of RGBA). */
const BAND_PIXELS = 16 * 2 ** 20;

/**
 * The whole slide as one small image: the smallest level of at least `minSide` pixels on its longer
 * side (else the smallest level, down to level 0), read whole when it has at most 4096² pixels, else
 * read in bands of rows and averaged over f x f blocks (f = ceil(longer side / 2048)), so that a
 * slide without a pyramid (one level of 20000² or 100000² pixels) is never read as one region.
 * `downsample` is level-0 pixels per overview pixel.
 */
export function slideOverview(slide: Slide, minSide = 1024): Promise<{ image: RgbaImage; level: number; downsample: number }> {
  // the mask, the stain statistics and the heat map's background all want it: read once per slide
  const bySide = overviews.get(slide) ?? new Map();
  overviews.set(slide, bySide);
  let p = bySide.get(minSide);
  if (!p) {
    p = readOverview(slide, minSide);
    p.catch(() => bySide.delete(minSide));
    bySide.set(minSide, p);
  }
  return p;
}
const overviews = new WeakMap<Slide, Map<number, Promise<{ image: RgbaImage; level: number; downsample: number }>>>();

async function readOverview(slide: Slide, minSide: number): Promise<{ image: RgbaImage; level: number; downsample: number }> {
  let level = slide.levels.length - 1;
  while (level > 0 && Math.max(slide.levels[level].width, slide.levels[level].height) < minSide) level--;
  const L = slide.levels[level];
  if (L.width * L.height <= OVERVIEW_PIXELS) return { image: await slide.readRegion(level, 0, 0, L.width, L.height), level, downsample: L.downsample };
  const f = Math.ceil(Math.max(L.width, L.height) / 2048);
  const ow = Math.ceil(L.width / f), oh = Math.ceil(L.height / f);
  const out = new Uint8ClampedArray(ow * oh * 4);
  const sum = new Float64Array(ow * 4), count = new Uint32Array(ow);
  const bandRows = f * Math.max(1, Math.floor(BAND_PIXELS / (L.width * f)));
  for (let y0 = 0; y0 < L.height; y0 += bandRows) {
    const band = await slide.readRegion(level, 0, y0, L.width, Math.min(bandRows, L.height - y0));
    for (let by = 0; by < band.height; by += f) {
      sum.fill(0);
      count.fill(0);
      for (let j = by; j < Math.min(by + f, band.height); j++) {
        for (let i = 0; i < band.width; i++) {
          const s = 4 * (j * band.width + i), o = Math.floor(i / f);
          for (let c = 0; c < 4; c++) sum[4 * o + c] += band.data[s + c];
          count[o]++;
        }
      }
      const oy = (y0 + by) / f;
      for (let o = 0; o < ow; o++) for (let c = 0; c < 4; c++) out[4 * (oy * ow + o) + c] = Math.round(sum[4 * o + c] / count[o]);
    }
  }
  return { image: { width: ow, height: oh, data: out }, level, downsample: L.downsample * f };
}

/** The mask of the slide's overview (slideOverview: a level of at least `minSide` pixels on its longer side). */
export async function slideTissueMask(slide: Slide, minSide = 1024): Promise<TissueMask & { threshold: number; level: number }> {
  const { image, level, downsample } = await slideOverview(slide, minSide);
  return { ...tissueMaskOf(image, downsample), level };
}

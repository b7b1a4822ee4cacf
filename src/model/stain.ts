// Stain normalisation of whole images (Reinhard et al. 2001 colour transfer in l-alpha-beta space):
// a model trained on images whose colour statistics were pooled into a target (stainTarget) maps
// every image it sees to that target first (normaliseStain). The statistics are computed on the
// CPU over tissue pixels (engine/ops/color.ts labStats); the per-pixel transfer runs on the GPU, in
// runs of pixels small enough for the adapter's buffers (any image that fits in host memory; the
// transfer is per pixel, so the runs change no value).
import type { Engine } from '../../engine/engine.js';
import { labStats, labTransfer, type LabStats } from '../../engine/ops/color.js';
import { packRgba } from '../../engine/ops/patches.js';
import { tensorBudget, type RgbaImage } from './dense.js';
import type { StainNormalisation } from './model-file.js';

export type { LabStats, StainNormalisation };

/**
 * `image` with its colour statistics moved to `stain.target` (a new image; alpha kept). Each GPU
 * tensor holds at most opts.maxBytes (default and upper bound: the adapter's maxTensorBytes).
 */
export async function normaliseStain(e: Engine, image: RgbaImage, stain: StainNormalisation, opts: { maxBytes?: number } = {}): Promise<RgbaImage> {
  if (stain.method !== 'reinhard') throw new Error(`normaliseStain: unknown method '${String(stain.method)}'`);
  return transferStain(e, image, labStats(image.data, image.width, image.height), stain.target, opts);
}

/**
 * The Reinhard transfer of `image` from statistics `src` to `target` (a new image; alpha kept), in
 * runs of pixels that fit the adapter's buffers. normaliseStain takes `src` from the image itself;
 * a slide takes it once from its low-resolution level and transfers every tile with it.
 */
export async function transferStain(e: Engine, image: RgbaImage, src: LabStats, target: LabStats, opts: { maxBytes?: number } = {}): Promise<RgbaImage> {
  const { width, height } = image;
  const n = width * height;
  const run = Math.max(1, Math.floor(tensorBudget(e, opts.maxBytes) / 4));
  const parts = Math.ceil(n / run);
  const out = new Uint8ClampedArray(4 * n);
  for (let k = 0; k < parts; k++) {
    // nearly equal runs, so that at most two pipeline sizes are compiled
    const p0 = Math.floor((k * n) / parts);
    const p1 = Math.floor(((k + 1) * n) / parts);
    const t = e.tensor([p1 - p0], packRgba(image.data.subarray(4 * p0, 4 * p1)));
    const o = labTransfer(e, t, p1 - p0, 1, src, target);
    try {
      const px = await e.readU32(o);
      out.set(new Uint8Array(px.buffer, px.byteOffset, px.byteLength), 4 * p0);
    } finally {
      t.release();
      o.release();
    }
  }
  return { width, height, data: out };
}

/**
 * The pooled target statistics of training images: the mean over images of their per-image
 * labStats means, and the mean over images of their per-image standard deviations (each image
 * counts once, whatever its size).
 */
export function stainTarget(images: readonly RgbaImage[]): { mean: [number, number, number]; std: [number, number, number] } {
  if (!images.length) throw new Error('stainTarget: no images');
  const mean: [number, number, number] = [0, 0, 0];
  const std: [number, number, number] = [0, 0, 0];
  for (const im of images) {
    const s = labStats(im.data, im.width, im.height);
    for (let c = 0; c < 3; c++) {
      mean[c] += s.mean[c] / images.length;
      std[c] += s.std[c] / images.length;
    }
  }
  return { mean, std };
}

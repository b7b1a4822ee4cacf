// The detector of Cireşan et al. 2013 (method.md §1, "Processing an image" and "Ensembles"):
//   M  = mean over nets and dihedral variants of the dense probability map (each mapped back; a net
//        with a stain normalisation sees the image moved to its stain target first, src/model/stain.ts);
//   Mf = M convolved with a disk of radius d;
//   D  = greedy non-maxima suppression of Mf: detections above t, none closer than 2d to a better one.
// Runs in Node and in browsers. Maps whose GPU buffers fit are smoothed and suppressed by GPU
// compute passes; larger ones (any size that fits in host memory) are smoothed tile by tile on the
// GPU (halo = the disk's radius) and suppressed on the CPU by the same greedy rule (same
// detections, same order, same scores). Every stage keeps each GPU tensor under the adapter's
// per-buffer limit (or opts.maxBytes).
import type { Engine, Tensor } from '../../engine/engine.js';
import { diskFilter, diskSpans, nonMaxSuppression } from '../../engine/ops/image.js';
import { denseMap, denseMaps, tensorBudget, type ProbabilityMap, type RgbaImage } from '../model/dense.js';
import type { Model } from '../model/model-file.js';
import { Network } from '../model/network.js';
import { normaliseStain } from '../model/stain.js';
import type { Detection } from './results.js';
import { DEFAULT_THRESHOLD, modelThreshold } from './threshold.js';
import { checkDetectOptions, checkEngine, checkImage, checkModels } from './arguments.js';

/** The paper's ensembles: 2 nets x 8 variants, 2 nets x 1, DNN1 alone. */
export const PRESETS = {
  DNN: { nets: Infinity, variants: 8 },
  DNNf12: { nets: Infinity, variants: 1 },
  DNNf1: { nets: 1, variants: 1 },
} as const;
export type Preset = keyof typeof PRESETS;

/** The paper's d: 10 px at 0.2456 µm/px (MITOS scanner A), i.e. 2.456 µm, in pixels at `umPerPixel`. */
export function smoothingRadiusPx(umPerPixel: number): number {
  return (10 * 0.2456) / umPerPixel;
}

export { DEFAULT_THRESHOLD };

export interface MapOptions {
  preset?: Preset;
  /** Called with (steps done, steps in all); a step is one tile of one net on one variant. */
  onProgress?: (done: number, total: number) => void;
  tileSize?: number;
  /** The largest GPU tensor (bytes) any stage may allocate; default and upper bound: the adapter's
   * (src/model/dense.ts maxTensorBytes). Tests set a small one to exercise the tiled paths. */
  maxBytes?: number;
  /** 1 (default, the paper's): the nets at every pixel. 2: at every second pixel of every second
   * row, the map filled in bilinearly: about 3x faster, an approximation (src/model/dense.ts). */
  mapStride?: number;
}

/** Every argument of a detector call, checked before any work (src/detect/arguments.ts). */
function checkCall(fn: string, e: Engine, models: unknown, opts: object): readonly Model[] {
  checkEngine(e, fn);
  checkDetectOptions(opts as Record<string, unknown>, fn, PRESETS);
  return checkModels(models, fn, opts as { threshold?: number });
}

/**
 * The averaged dense probability map M of `image` (already at the models' µm per pixel). A model
 * with a `stain` normalisation sees the image moved to its stain target (once per model).
 */
export async function probabilityMap(e: Engine, models: readonly Model[], image: RgbaImage, opts: MapOptions = {}): Promise<ProbabilityMap> {
  checkCall('probabilityMap', e, models, opts);
  checkImage(image, 'probabilityMap: image');
  const preset = PRESETS[opts.preset ?? 'DNNf1'];
  const nets = models.slice(0, Math.min(models.length, preset.nets));
  const runs = nets.length * preset.variants;
  const sum = new Float64Array(image.width * image.height);
  let run = 0;
  for (const model of nets) {
    const input = model.stain ? await normaliseStain(e, image, model.stain, { maxBytes: opts.maxBytes }) : image;
    const net = Network.fromModel(e, model);
    try {
      for (let v = 0; v < preset.variants; v++) {
        const base = run;
        const m = await denseMap(e, model, input, {
          variant: v,
          net,
          tileSize: opts.tileSize,
          maxBytes: opts.maxBytes,
          stride: opts.mapStride,
          onProgress: (d, t) => opts.onProgress?.(base * t + d, runs * t),
        });
        for (let i = 0; i < sum.length; i++) sum[i] += m.data[i];
        run++;
      }
    } finally {
      net.destroy();
    }
  }
  const data = new Float32Array(sum.length);
  for (let i = 0; i < sum.length; i++) data[i] = sum[i] / runs;
  return { width: image.width, height: image.height, data };
}

export interface ReadOutOptions {
  /** Detections need Mf > threshold. */
  threshold: number;
  /** d in pixels of the map: the disk's radius; detections are kept >= 2d apart. */
  radius: number;
}

export interface SmoothOptions {
  /** The largest GPU tensor (bytes); default and upper bound: the adapter's (maxTensorBytes). */
  maxBytes?: number;
  /** 'gpu': the whole map on the GPU, suppression by GPU passes (needs the map, its state and
   * candidate buffers to fit); 'tiled': smoothing tile by tile, the smoothed map kept on the CPU and
   * suppressed there; 'auto' (default): 'gpu' when it fits, else 'tiled'. Both give equal results. */
  mode?: 'auto' | 'gpu' | 'tiled';
}

/** Whether an H x W map can be suppressed on the GPU in buffers of `maxBytes`: the map, the state
 * and candidate lists (4 bytes a pixel each) and the detections (12 bytes per candidate, at most
 * one candidate per pixel). */
export function fitsGpuSuppression(pixels: number, maxBytes: number): boolean {
  return 12 * pixels <= maxBytes;
}

/**
 * A probability map smoothed once (Mf = M convolved with the disk of radius d); `detections(t)`
 * re-runs only the suppression, so a threshold slider costs a few GPU passes (maps that fit the
 * GPU) or one CPU pass (larger maps, kept on the CPU). Call release() when done.
 */
export class SmoothedMap {
  private constructor(
    private readonly e: Engine,
    /** Mf on the GPU ([H, W]); null when the map is kept on the CPU (tiled mode). */
    readonly smoothed: Tensor | null,
    /** Mf on the CPU (tiled mode, computed in the background from create()); null in GPU mode. */
    private readonly host: Promise<Float32Array> | null,
    readonly width: number,
    readonly height: number,
    readonly radius: number,
  ) {}

  /** True when Mf lives on the GPU (and the suppression runs there). */
  get onGpu(): boolean {
    return this.smoothed !== null;
  }

  /**
   * Smooths `map` (any size that fits in host memory). In tiled mode the tiles are smoothed in the
   * background: detections() and read() wait for them (and report their errors). `map.data` must
   * not change until the first of those has returned.
   */
  static create(e: Engine, map: ProbabilityMap, radius: number, opts: SmoothOptions = {}): SmoothedMap {
    if (!(radius > 0)) throw new Error(`detector: the smoothing radius must be > 0 px, got ${radius}`);
    const { width: W, height: H } = map;
    if (map.data.length !== W * H) throw new Error(`detector: the map holds ${map.data.length} values, ${W}x${H} needs ${W * H}`);
    const maxBytes = tensorBudget(e, opts.maxBytes);
    const mode = opts.mode ?? 'auto';
    if (mode !== 'auto' && mode !== 'gpu' && mode !== 'tiled') throw new Error(`detector: unknown smoothing mode '${String(mode)}'`);
    const fits = fitsGpuSuppression(W * H, maxBytes);
    if (mode === 'gpu' && !fits) {
      throw new Error(`detector: a ${W}x${H} map does not fit the GPU suppression's buffers of ${maxBytes} bytes; use mode 'auto' or 'tiled'`);
    }
    if (mode === 'gpu' || (mode === 'auto' && fits)) {
      const m = e.tensor([H, W], map.data);
      const mf = diskFilter(e, m, radius);
      m.release();
      return new SmoothedMap(e, mf, null, W, H, radius);
    }
    const host = smoothTiled(e, map, radius, maxBytes);
    host.catch(() => {}); // reported by detections() / read()
    return new SmoothedMap(e, null, host, W, H, radius);
  }

  async detections(threshold: number, maxDetections?: number): Promise<Detection[]> {
    const p = { radius: 2 * this.radius, threshold, maxDetections };
    if (this.smoothed) return nonMaxSuppression(this.e, this.smoothed, p);
    return greedySuppression(await this.host!, this.height, this.width, p);
  }

  /** Mf, row-major [height, width] (a copy). */
  async read(): Promise<Float32Array> {
    if (this.smoothed) return this.smoothed.read();
    return (await this.host!).slice();
  }

  release(): void {
    this.smoothed?.release();
  }
}

/**
 * Mf = diskFilter(M, radius) (zero border) of a map of any size, computed on the GPU in tiles of
 * one shape: a core of at most T x T pixels with a halo of floor(radius) on every side, the parts
 * outside the map filled with zeros. Every output pixel then sums exactly the values, in exactly
 * the order, of the whole-map kernel (its disk never leaves the tile; a zero read where the
 * whole-map kernel skips a pixel adds +0 to a sum that starts at +0, which changes no float), so
 * the result equals diskFilter on the whole map bit for bit. Each tensor holds at most maxBytes.
 */
export async function smoothTiled(e: Engine, map: ProbabilityMap, radius: number, maxBytes: number): Promise<Float32Array> {
  const { width: W, height: H, data } = map;
  const { RM } = diskSpans(radius, false);
  const halo = Math.max(0, RM);
  // the largest square core T with (T + 2 halo)^2 floats per tensor (input and output)
  const T = Math.floor(Math.sqrt(Math.floor(maxBytes / 4))) - 2 * halo;
  if (T < 1) throw new Error(`detector: a disk of radius ${radius} px needs tiles over the ${maxBytes} bytes per buffer allowed`);
  const ny = Math.ceil(H / T);
  const nx = Math.ceil(W / T);
  const ch = Math.ceil(H / ny); // core sizes: at most ch x cw, all tiles uploaded as (ch + 2 halo) x (cw + 2 halo)
  const cw = Math.ceil(W / nx);
  const rh = ch + 2 * halo;
  const rw = cw + 2 * halo;
  const out = new Float32Array(W * H);
  const part = new Float32Array(rh * rw);
  for (let ty = 0; ty < ny; ty++)
    for (let tx = 0; tx < nx; tx++) {
      const y0 = Math.floor((ty * H) / ny), y1 = Math.floor(((ty + 1) * H) / ny);
      const x0 = Math.floor((tx * W) / nx), x1 = Math.floor(((tx + 1) * W) / nx);
      // tile pixel (r, c) = map pixel (y0 - halo + r, x0 - halo + c), 0 outside the map
      part.fill(0);
      const cx0 = Math.max(0, x0 - halo), cx1 = Math.min(W, x0 - halo + rw);
      for (let r = 0; r < rh; r++) {
        const y = y0 - halo + r;
        if (y < 0 || y >= H) continue;
        part.set(data.subarray(y * W + cx0, y * W + cx1), r * rw + (cx0 - (x0 - halo)));
      }
      const m = e.tensor([rh, rw], part);
      const mf = diskFilter(e, m, radius);
      m.release();
      const sm = await mf.read();
      mf.release();
      for (let y = y0; y < y1; y++) {
        const o = (y - y0 + halo) * rw + halo;
        out.set(sm.subarray(o, o + (x1 - x0)), y * W + x0);
      }
    }
  return out;
}

/**
 * The paper's suppression on the CPU, for maps kept on the CPU: exactly nonMaxSuppression's loop
 *   D = {}; repeat { pm = argmax Mf (ties: smallest row-major index); if Mf(pm) <= t stop;
 *                    add (pm, Mf(pm)) to D; set Mf(p) = 0 for every p with |p - pm| < r }
 * run as the equivalent greedy scan (shaders/nms_mark.wgsl (a)): the pixels above t sorted by
 * (score descending, index ascending), each taken unless a pixel taken before lies at distance < r
 * (dx^2 + dy^2 < r^2 in float64). Same detections, order and scores as nonMaxSuppression.
 */
export function greedySuppression(
  mf: Float32Array, H: number, W: number, opts: { radius: number; threshold: number; maxDetections?: number },
): Detection[] {
  const { radius, threshold } = opts;
  if (mf.length !== H * W) throw new Error(`greedySuppression: ${mf.length} values for a ${W}x${H} map`);
  if (!Number.isFinite(radius) || radius <= 0) throw new Error(`greedySuppression: radius must be a finite number > 0, got ${radius}`);
  if (!(threshold >= 0)) throw new Error(`greedySuppression: threshold must be >= 0, got ${threshold}`);
  const max = opts.maxDetections ?? Infinity;
  if (!(max >= 0)) throw new Error(`greedySuppression: maxDetections must be >= 0, got ${max}`);
  const n = H * W;
  if (n === 0 || max === 0) return [];
  if (n >= 2 ** 32) throw new Error(`greedySuppression: map of ${n} pixels is too large`);
  // candidates (v > t excludes NaN), sorted by one 64-bit key: high word = ~(float32 bits), low
  // word = index. Scores above t >= 0 are positive, where float32 bits grow with the value.
  let count = 0;
  for (let i = 0; i < n; i++) if (mf[i] > threshold) count++;
  if (count === 0) return [];
  const keys = new BigUint64Array(count);
  const words = new Uint32Array(keys.buffer);
  const bits = new Uint32Array(mf.buffer, mf.byteOffset, n);
  for (let i = 0, k = 0; i < n; i++)
    if (mf[i] > threshold) {
      words[2 * k] = i; // little-endian: the low word first
      words[2 * k + 1] = ~bits[i] >>> 0;
      k++;
    }
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('greedySuppression: needs a little-endian host');
  keys.sort();
  const { RM, spans } = diskSpans(radius, true);
  const dead = new Uint8Array(n);
  const out: Detection[] = [];
  for (let k = 0; k < count && out.length < max; k++) {
    const p = words[2 * k];
    if (dead[p]) continue;
    const y = Math.floor(p / W);
    const x = p - y * W;
    out.push({ x, y, score: mf[p] });
    for (let dy = -RM; dy <= RM; dy++) {
      const yy = y + dy;
      if (yy < 0 || yy >= H) continue;
      const sp = spans[dy + RM];
      const j0 = Math.max(0, x - sp);
      const j1 = Math.min(W - 1, x + sp);
      dead.fill(1, yy * W + j0, yy * W + j1 + 1);
    }
  }
  return out;
}

export interface DetectOptions extends MapOptions {
  threshold?: number;
  /** The image's µm per pixel; it is resampled to the models' own when different (default: theirs). */
  umPerPixel?: number;
  /** Keep the probability map in the result. */
  keepMap?: boolean;
  /** Resampler used when umPerPixel differs from the models' (src/io/image.ts rescaleToMpp). */
  rescale?: (image: RgbaImage, fromMpp: number, toMpp: number) => RgbaImage;
}

export interface DetectResult {
  /** In the input image's pixel coordinates. */
  detections: Detection[];
  /** M at the models' resolution (when keepMap). */
  map?: ProbabilityMap;
  /** Input pixels per map pixel (1 when no resampling was needed). */
  scale: number;
  radius: number;
  threshold: number;
}

/** The whole detector: image in, mitoses out. */
export async function detectMitoses(e: Engine, models: readonly Model[], image: RgbaImage, opts: DetectOptions = {}): Promise<DetectResult> {
  checkCall('detectMitoses', e, models, opts);
  checkImage(image, 'detectMitoses: image');
  const modelMpp = models[0].umPerPixel;
  const imageMpp = opts.umPerPixel ?? modelMpp;
  let input = image;
  if (Math.abs(imageMpp - modelMpp) / modelMpp > 1e-6) {
    if (!opts.rescale) throw new Error('detector: the image needs resampling to the model resolution but no resampler was given');
    input = opts.rescale(image, imageMpp, modelMpp);
  }
  // input pixels per map pixel, per axis (a resampled non-square image rounds each side on its own)
  const scale = image.width / input.width;
  const scaleY = image.height / input.height;
  // one rule everywhere (CLI, page, library): the model's recorded threshold, else the paper's t0
  const threshold = opts.threshold ?? modelThreshold(models[0]);
  const radius = smoothingRadiusPx(modelMpp);
  const map = await probabilityMap(e, models, input, opts);
  const detections = toImagePixels(await readOut(e, map, radius, threshold, opts.maxBytes), scale, scaleY);
  return { detections, map: opts.keepMap ? map : undefined, scale, radius, threshold };
}

/** Mf = M smoothed with the disk, read out above `threshold` (in map pixels). */
async function readOut(e: Engine, map: ProbabilityMap, radius: number, threshold: number, maxBytes?: number): Promise<Detection[]> {
  const sm = SmoothedMap.create(e, map, radius, { maxBytes });
  try {
    return await sm.detections(threshold);
  } finally {
    sm.release();
  }
}

/** Detections in map pixels back in the pixels of an image `scale` (`scaleY`) times larger per axis. */
export function toImagePixels(dets: readonly Detection[], scale: number, scaleY = scale): Detection[] {
  return dets.map((d) => ({
    x: Math.round((d.x + 0.5) * scale - 0.5),
    y: Math.round((d.y + 0.5) * scaleY - 0.5),
    score: d.score,
  }));
}

/** Images per denseMaps call in detectMitosesMany: room to group sizes, few maps held at once. */
const MANY_CHUNK = 256;

export interface DetectManyOptions {
  threshold?: number;
  maxBytes?: number;
  /** As MapOptions.mapStride. */
  mapStride?: number;
  /** Called after each image with (images done, images in all). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * detectMitoses(e, models, image) for each of `images` (already at the models' µm per pixel;
 * DNNf1 for one model, DNNf12 for several: their maps averaged): the same detections, in the same
 * order, but the dense maps of same-sized images are computed in batches (denseMaps), so thousands
 * of small validation or test crops cost a few hundred dense passes instead of thousands.
 */
export async function detectMitosesMany(e: Engine, models: Model | readonly Model[], images: readonly RgbaImage[], opts: DetectManyOptions = {}): Promise<DetectResult[]> {
  const list = checkCall('detectMitosesMany', e, Array.isArray(models) ? models : [models], opts);
  if (!Array.isArray(images)) throw new TypeError(`detectMitosesMany: images must be an array of images (one image: [image] or detectMitoses)`);
  images.forEach((im, i) => checkImage(im, `detectMitosesMany: images[${i}]`));
  if ('umPerPixel' in opts || 'preset' in opts) {
    throw new Error(`detectMitosesMany: takes neither umPerPixel nor preset: it runs DNNf1 (one model) or DNNf12 on images already at the models' µm per pixel (resample them first, or use detectMitoses)`);
  }
  const threshold = opts.threshold ?? modelThreshold(list[0]);
  const radius = smoothingRadiusPx(list[0].umPerPixel);
  const nets = list.map((m) => Network.fromModel(e, m));
  const out: DetectResult[] = [];
  try {
    for (let i0 = 0; i0 < images.length; i0 += MANY_CHUNK) {
      const chunk = images.slice(i0, i0 + MANY_CHUNK);
      // one net: its maps as they are; several: summed in float64 and averaged, as probabilityMap does
      let maps: ProbabilityMap[] = [];
      const sums = list.length > 1 ? chunk.map((im) => new Float64Array(im.width * im.height)) : [];
      for (const [k, model] of list.entries()) {
        const inputs: RgbaImage[] = [];
        for (const im of chunk) inputs.push(model.stain ? await normaliseStain(e, im, model.stain, { maxBytes: opts.maxBytes }) : im);
        maps = await denseMaps(e, model, inputs, { net: nets[k], maxBytes: opts.maxBytes, stride: opts.mapStride });
        if (sums.length) maps.forEach((m, j) => m.data.forEach((v, i) => (sums[j][i] += v)));
      }
      if (sums.length) maps = chunk.map((im, j) => ({ width: im.width, height: im.height, data: Float32Array.from(sums[j], (v) => v / list.length) }));
      for (const map of maps) {
        out.push({ detections: toImagePixels(await readOut(e, map, radius, threshold, opts.maxBytes), 1), scale: 1, radius, threshold });
        opts.onProgress?.(out.length, images.length);
      }
    }
  } finally {
    for (const net of nets) net.destroy();
  }
  return out;
}

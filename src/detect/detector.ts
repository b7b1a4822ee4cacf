// The detector of Cireşan et al. 2013 (method.md §1, "Processing an image" and "Ensembles"):
//   M  = mean over nets and dihedral variants of the dense probability map (each mapped back);
//   Mf = M convolved with a disk of radius d;
//   D  = greedy non-maxima suppression of Mf: detections above t, none closer than 2d to a better one.
// Runs in Node and in browsers; the smoothing and the suppression are GPU compute passes.
import type { Engine, Tensor } from '../../engine/engine.js';
import { diskFilter, nonMaxSuppression } from '../../engine/ops/image.js';
import { denseMap, type ProbabilityMap, type RgbaImage } from '../model/dense.js';
import type { Model } from '../model/model-file.js';
import { Network } from '../model/network.js';
import type { Detection } from './results.js';

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

export const DEFAULT_THRESHOLD = 0.35; // the paper's t0, chosen on T2

export interface MapOptions {
  preset?: Preset;
  /** Called with (steps done, steps in all); a step is one tile of one net on one variant. */
  onProgress?: (done: number, total: number) => void;
  tileSize?: number;
}

function checkEnsemble(models: readonly Model[]): void {
  if (!models.length) throw new Error('detector: no model given');
  const mpp = models[0].umPerPixel;
  for (const m of models)
    if (Math.abs(m.umPerPixel - mpp) > 1e-9) {
      throw new Error(`detector: the nets of an ensemble must share one resolution (${mpp} vs ${m.umPerPixel} µm/px)`);
    }
}

/** The averaged dense probability map M of `image` (already at the models' µm per pixel). */
export async function probabilityMap(e: Engine, models: readonly Model[], image: RgbaImage, opts: MapOptions = {}): Promise<ProbabilityMap> {
  checkEnsemble(models);
  const preset = PRESETS[opts.preset ?? 'DNNf1'];
  if (!preset) throw new Error(`detector: unknown preset '${opts.preset}' (use ${Object.keys(PRESETS).join(', ')})`);
  const nets = models.slice(0, Math.min(models.length, preset.nets));
  const runs = nets.length * preset.variants;
  const sum = new Float64Array(image.width * image.height);
  let run = 0;
  for (const model of nets) {
    const net = Network.fromModel(e, model);
    try {
      for (let v = 0; v < preset.variants; v++) {
        const base = run;
        const m = await denseMap(e, model, image, {
          variant: v,
          net,
          tileSize: opts.tileSize,
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

/**
 * A probability map on the GPU, smoothed once; `detections(t)` re-runs only the suppression, so a
 * threshold slider costs a few GPU passes. Call release() when done.
 */
export class SmoothedMap {
  private constructor(
    private readonly e: Engine,
    readonly smoothed: Tensor,
    readonly radius: number,
  ) {}

  static create(e: Engine, map: ProbabilityMap, radius: number): SmoothedMap {
    if (!(radius > 0)) throw new Error(`detector: the smoothing radius must be > 0 px, got ${radius}`);
    const m = e.tensor([map.height, map.width], map.data);
    const mf = diskFilter(e, m, radius);
    m.release();
    return new SmoothedMap(e, mf, radius);
  }

  detections(threshold: number, maxDetections?: number): Promise<Detection[]> {
    return nonMaxSuppression(this.e, this.smoothed, { radius: 2 * this.radius, threshold, maxDetections });
  }

  read(): Promise<Float32Array> {
    return this.smoothed.read();
  }

  release(): void {
    this.smoothed.release();
  }
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
  checkEnsemble(models);
  const modelMpp = models[0].umPerPixel;
  const imageMpp = opts.umPerPixel ?? modelMpp;
  if (!(imageMpp > 0)) throw new Error(`detector: µm per pixel must be > 0, got ${imageMpp}`);
  let input = image;
  if (Math.abs(imageMpp - modelMpp) / modelMpp > 1e-6) {
    if (!opts.rescale) throw new Error('detector: the image needs resampling to the model resolution but no resampler was given');
    input = opts.rescale(image, imageMpp, modelMpp);
  }
  const scale = image.width / input.width;
  const threshold = opts.threshold ?? DEFAULT_THRESHOLD;
  const radius = smoothingRadiusPx(modelMpp);
  const map = await probabilityMap(e, models, input, opts);
  const sm = SmoothedMap.create(e, map, radius);
  try {
    const dets = await sm.detections(threshold);
    const detections = dets.map((d) => ({
      x: Math.round((d.x + 0.5) * scale - 0.5),
      y: Math.round((d.y + 0.5) * scale - 0.5),
      score: d.score,
    }));
    return { detections, map: opts.keepMap ? map : undefined, scale, radius, threshold };
  } finally {
    sm.release();
  }
}

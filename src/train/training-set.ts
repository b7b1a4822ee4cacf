// The paper's training set (method.md §1, "Building the training set"), and the tutorial's
// blue-ratio restriction of the negatives (method.md §2):
//   1. Sd = every mitosis pixel (closer than d to a centroid) + as many non-mitosis pixels drawn
//      uniformly;
//   2. train a net Cd briefly on Sd;
//   3. D(p) = Cd's mitosis probability at every pixel of every image (its dense map);
//   4. the final set = every mitosis pixel + non-mitosis pixels drawn with weight D(p) (with
//      replacement), `samples` in all: the look-alikes that fool Cd dominate the negatives.
// The validation images (whole patients, chosen by the caller) get the same treatment: all their
// mitosis pixels + D-weighted negatives in the training set's proportion (Sd uses training images
// only). With `blueRatio`, negatives are drawn only inside the dilated blue-ratio nuclei mask.
import type { Engine } from '../../engine/engine.js';
import { blueRatio, dilateDisk } from '../../engine/ops/image.js';
import { denseMaps, type RgbaImage } from '../model/dense.js';
import { initModel, type LayerParams, type Model, type Normalisation } from '../model/model-file.js';
import type { NetSpec } from '../model/spec.js';
import { checkRegion, eligibleNegatives, labelMasks, makeRng, positives, sampleNegatives, shuffle, type Point, type Region, type Sample } from './sampling.js';
import { deriveSeed, ImageStore, Trainer, type EpochRecord, type TrainHooks, type TrainOptions } from './trainer.js';
import { otsuThreshold } from '../otsu.js';

export interface TrainingImage {
  id: string;
  /** Validation is split by patient (a slide); images of one patient stay together. */
  patient: string;
  image: RgbaImage;
  /** Mitosis centroids, pixels of `image`. */
  mitoses: Point[];
  /**
   * Where the labels are valid (half-open, pixels; default: the whole image): positives and
   * negatives are drawn only here. For a crop around a figure: the centres whose whole window lies
   * inside the crop (cropRegion), so that every training window sees real tissue. `mitoses` should
   * still list every figure whose disk reaches into the region.
   */
  region?: Region;
}

export interface TrainingSetOptions {
  /** d: pixels closer than this to a centroid are mitosis pixels (10 px at 0.2456 µm/px). */
  radiusPx: number;
  /** Negatives only at pixels at least this far from every centroid (default radiusPx; must be
   * >= radiusPx). For crops around figures, e.g. 2d: the ring d <= r < 2d is neither label. */
  exclusionPx?: number;
  /** Size of the final training set (positives + negatives; default 1,000,000). Negatives are
   * at least as many as positives. */
  samples: number;
  /** At most this share of `samples` are mitosis pixels (default 0.5; the paper's final set had
   * 6.6%): below 0.5, more of the set is D(p)-weighted look-alikes. */
  positiveShare?: number;
  /** Epochs of Cd on Sd (default 2); 0 skips stages 2-3 (uniform negatives). */
  stage1Epochs: number;
  /** At most this many samples in Sd (half positives, drawn uniformly; default: no limit). */
  stage1MaxSamples?: number;
  /** Validation set size at most (default samples / 4). */
  valMaxSamples?: number;
  /** Negatives only inside the blue-ratio nuclei mask dilated by this radius, pixels (the
   * tutorial: 20 px at 20x). */
  blueRatioDilatePx?: number;
  /** Blue-ratio threshold (default: Otsu's, per image). */
  blueRatioThreshold?: number;
  /** Training options of Cd (epochs = stage1Epochs; no validation). */
  train?: Partial<TrainOptions>;
  seed: number;
}

export interface TrainingSetHooks extends Pick<TrainHooks, 'onBatch' | 'onEpoch'> {
  /** A line about what is being done. */
  onStage?: (message: string) => void;
  /** After each batch of dense maps (denseMaps), with the images done so far. */
  onDense?: (done: number, total: number) => void;
}

export interface TrainingSet {
  train: Sample[];
  val: Sample[];
  stage1History: EpochRecord[];
  /** Cd's weights (when stage 1 ran). */
  stage1Params?: LayerParams[];
  /** D(p) per image (when stage 1 ran). */
  weights?: Float32Array[];
  /** Eligible-negative masks per image (the dilated blue-ratio mask), when blueRatio is on. */
  allowed?: Uint8Array[];
  stats: {
    trainPositives: number;
    /** Mitosis pixels of the training images before the draw that keeps `samples` (equal to trainPositives when all are kept). */
    trainPositivesAvailable: number;
    trainNegatives: number;
    valPositives: number;
    valNegatives: number;
    /** Mean D over all eligible negative pixels of the training images, and over the drawn negatives. */
    meanD?: number;
    meanDChosen?: number;
    /** Training / validation images without a single eligible negative pixel (region, exclusion
     * radius and blue-ratio mask together): they give positives only. */
    trainImagesWithoutNegatives: number;
    valImagesWithoutNegatives: number;
  };
}

/** Stream numbers for deriveSeed. */
const STREAM_SD = 101;
const STREAM_CD_INIT = 102;
const STREAM_CD_TRAIN = 103;
const STREAM_FINAL = 104;
const STREAM_VAL = 105;
const STREAM_FINAL_POS = 107;

export { otsuThreshold };

/**
 * The tutorial's candidate mask: blue ratio BR = (100 B / (1 + R + G)) (256 / (1 + R + G + B)) on the
 * GPU, thresholded (default: Otsu's threshold of this image) and dilated by a disk of `dilatePx`.
 * 1 = a pixel where negatives may be drawn.
 */
export async function blueRatioMask(e: Engine, image: RgbaImage, dilatePx: number, threshold?: number): Promise<Uint8Array> {
  const { width: W, height: H, data } = image;
  const planar = new Float32Array(3 * W * H);
  for (let c = 0; c < 3; c++) for (let i = 0; i < W * H; i++) planar[c * W * H + i] = data[4 * i + c];
  const rgb = e.tensor([1, 3, H, W], planar);
  try {
    let t = threshold;
    if (t === undefined) {
      const br = blueRatio(e, rgb);
      const v = await br.read();
      br.release();
      t = otsuThreshold(v);
    }
    const mask = blueRatio(e, rgb, { threshold: t });
    const dil = dilatePx > 0 ? dilateDisk(e, mask, dilatePx) : mask;
    const m = await dil.read();
    if (dil !== mask) dil.release();
    mask.release();
    const out = new Uint8Array(W * H);
    for (let i = 0; i < out.length; i++) out[i] = m[i] > 0.5 ? 1 : 0;
    return out;
  } finally {
    rgb.release();
  }
}

function pick<T>(a: T[], n: number, rng: () => number): T[] {
  return n >= a.length ? a : shuffle(a.slice(), rng).slice(0, n);
}

/**
 * Builds the training and validation samples. `store` holds `images` on the GPU (same order);
 * `isVal[i]` marks validation images. `model` gives Cd's spec and normalisation (Cd is freshly
 * initialised from the seed).
 */
export async function buildTrainingSet(
  e: Engine,
  store: ImageStore,
  images: readonly TrainingImage[],
  isVal: readonly boolean[],
  model: { spec: NetSpec; normalisation: Normalisation; umPerPixel: number },
  opts: TrainingSetOptions,
  hooks: TrainingSetHooks = {},
): Promise<TrainingSet> {
  if (images.length !== store.count || isVal.length !== images.length) throw new Error('buildTrainingSet: images, store and isVal differ in length');
  if (!(opts.radiusPx > 0)) throw new Error(`buildTrainingSet: the mitosis radius must be > 0 px, got ${opts.radiusPx}`);
  if (!Number.isInteger(opts.samples) || opts.samples < 2) throw new Error(`buildTrainingSet: samples must be an integer >= 2, got ${opts.samples}`);
  // checked before stage 1, not after minutes of Cd and D(p)
  const share = opts.positiveShare ?? 0.5;
  if (!(share > 0 && share <= 0.5)) throw new RangeError(`positiveShare must be in (0, 0.5], got ${share}`);
  const trainIdx = images.map((_, i) => i).filter((i) => !isVal[i]);
  const valIdx = images.map((_, i) => i).filter((i) => isVal[i]);
  if (!trainIdx.length) throw new Error('buildTrainingSet: no training images (all were put into validation)');
  if (opts.exclusionPx !== undefined && !(opts.exclusionPx >= opts.radiusPx)) {
    throw new Error(`buildTrainingSet: the negative exclusion radius must be >= the mitosis radius (${opts.radiusPx} px), got ${opts.exclusionPx}`);
  }
  for (const im of images) if (im.region) checkRegion(im.region, im.image.width, im.image.height, `training image ${im.id}`);
  // masks: positives (inside the region); negMasks: 1 = no negative here (near a centroid or
  // outside the region). Without regions and exclusion they are the same arrays as ever.
  const label = images.map((im) => labelMasks(im.image.width, im.image.height, im.mitoses, { radius: opts.radiusPx, exclusion: opts.exclusionPx, region: im.region }));
  const masks = label.map((m) => m.positive);
  const negMasks = label.map((m) => m.excluded);
  const pos = (idx: number[]) => idx.flatMap((i) => positives(i, images[i].image.width, masks[i]));
  const trainPos = pos(trainIdx);
  const valPos = pos(valIdx);
  if (!trainPos.length) {
    throw new Error(`no mitoses in the ${trainIdx.length} training image(s): every training set needs mitosis centroids (check the labels and --mpp)`);
  }

  let allowed: Uint8Array[] | undefined;
  if (opts.blueRatioDilatePx !== undefined) {
    hooks.onStage?.(`blue-ratio masks (dilated by ${opts.blueRatioDilatePx.toFixed(1)} px)`);
    allowed = [];
    for (const im of images) allowed.push(await blueRatioMask(e, im.image, opts.blueRatioDilatePx, opts.blueRatioThreshold));
  }
  const negSource = (idx: number[], weights?: Float32Array[]) =>
    idx.map((i) => ({ width: images[i].image.width, mask: negMasks[i], weight: weights?.[i], allowed: allowed?.[i] }));
  const remap = (s: Sample[], idx: number[]) => s.map((p) => ({ ...p, image: idx[p.image] }));
  const eligible = images.map((_, i) => eligibleNegatives(negMasks[i], allowed?.[i]));
  const withoutNeg = (idx: number[]) => idx.filter((i) => eligible[i] === 0).length;
  if (trainIdx.every((i) => eligible[i] === 0)) {
    throw new Error(
      `buildTrainingSet: none of the ${trainIdx.length} training image(s) has a pixel eligible as a negative ` +
        `(labelled regions too small for the exclusion radius ${opts.exclusionPx ?? opts.radiusPx} px, or everything masked): ` +
        'add images with negatives (e.g. non-mitosis patches or whole fields), or lower exclusionPx / the window size',
    );
  }

  // stage 1: Sd and Cd
  let weights: Float32Array[] | undefined;
  let stage1History: EpochRecord[] = [];
  let stage1Params: LayerParams[] | undefined;
  if (opts.stage1Epochs > 0) {
    const rng = makeRng(deriveSeed(opts.seed, STREAM_SD));
    const half = opts.stage1MaxSamples ? Math.max(1, Math.floor(opts.stage1MaxSamples / 2)) : trainPos.length;
    const sdPos = pick(trainPos, half, rng);
    const sdNeg = remap(sampleNegatives(negSource(trainIdx), sdPos.length, rng), trainIdx);
    const sd = [...sdPos, ...sdNeg];
    hooks.onStage?.(`stage 1: training Cd on Sd = ${sdPos.length} mitosis + ${sdNeg.length} uniform non-mitosis pixels, ${opts.stage1Epochs} epoch(s)`);
    const cd = Trainer.create(
      e,
      { spec: model.spec, normalisation: model.normalisation, params: initModel(model.spec, deriveSeed(opts.seed, STREAM_CD_INIT)).params },
      store,
      sd,
      [],
      { ...opts.train, epochs: opts.stage1Epochs, patience: 0, seed: deriveSeed(opts.seed, STREAM_CD_TRAIN) },
    );
    try {
      const r = await cd.run({ onBatch: hooks.onBatch, onEpoch: hooks.onEpoch });
      stage1History = r.history;
      stage1Params = r.params;
      // stage 2: D(p) over every image
      hooks.onStage?.(`stage 2: D(p) = Cd's dense mitosis map over ${images.length} image(s)`);
      const cdModel: Model = { spec: model.spec, normalisation: model.normalisation, umPerPixel: model.umPerPixel, provenance: {}, params: r.params };
      // batched: thousands of small crops would otherwise cost a submission and a readback each
      weights = (await denseMaps(e, cdModel, images.map((im) => im.image), { net: cd.net, onProgress: hooks.onDense })).map((m) => m.data);
    } finally {
      cd.destroy();
    }
  }

  // the final set: `samples` in all. Every mitosis pixel while they are at most positiveShare of it
  // (the paper's case); otherwise that share of it drawn uniformly from them, so the size asked for holds.
  const trainPosAll = trainPos.length;
  if (trainPos.length > share * opts.samples) {
    const kept = pick(trainPos, Math.max(1, Math.floor(opts.samples * share)), makeRng(deriveSeed(opts.seed, STREAM_FINAL_POS)));
    hooks.onStage?.(`${trainPos.length} mitosis pixels are more than ${share === 0.5 ? 'half' : `a share ${share}`} of the ${opts.samples} samples asked for: ${kept.length} of them drawn uniformly`);
    trainPos.splice(0, trainPos.length, ...kept);
  }
  const nNeg = Math.max(opts.samples - trainPos.length, trainPos.length);
  const trainNeg = remap(sampleNegatives(negSource(trainIdx, weights), nNeg, makeRng(deriveSeed(opts.seed, STREAM_FINAL))), trainIdx);
  let val: Sample[] = [];
  if (valIdx.length) {
    const rng = makeRng(deriveSeed(opts.seed, STREAM_VAL));
    const ratio = nNeg / trainPos.length;
    const valMax = opts.valMaxSamples ?? Math.max(2, Math.ceil(opts.samples / 4));
    let vp = valPos;
    let vn = Math.round(Math.max(1, vp.length) * ratio);
    const total = vp.length + vn;
    if (total > valMax) {
      vp = pick(vp, Math.round((vp.length * valMax) / total), rng);
      vn = valMax - vp.length;
    }
    // validation images that all lack negatives (e.g. crops only) give positives only
    const valNeg = valIdx.some((i) => eligible[i] > 0) ? remap(sampleNegatives(negSource(valIdx, weights), vn, rng), valIdx) : [];
    val = [...vp, ...valNeg];
  }
  const stats: TrainingSet['stats'] = {
    trainPositives: trainPos.length,
    trainPositivesAvailable: trainPosAll,
    trainNegatives: trainNeg.length,
    valPositives: val.filter((s) => s.label === 1).length,
    valNegatives: val.filter((s) => s.label === 0).length,
    trainImagesWithoutNegatives: withoutNeg(trainIdx),
    valImagesWithoutNegatives: withoutNeg(valIdx),
  };
  if (weights) {
    let sum = 0, n = 0;
    for (const i of trainIdx)
      for (let p = 0; p < negMasks[i].length; p++)
        if (!negMasks[i][p] && (!allowed || allowed[i][p])) {
          sum += weights[i][p];
          n++;
        }
    stats.meanD = sum / n;
    let s2 = 0;
    for (const s of trainNeg) s2 += weights[s.image][s.y * images[s.image].image.width + s.x];
    stats.meanDChosen = s2 / trainNeg.length;
  }
  return { train: [...trainPos, ...trainNeg], val, stage1History, stage1Params, weights, allowed, stats };
}

/**
 * Images of whole patients for validation: about `fraction` of the patients (at least one when
 * fraction > 0 and there are two or more), drawn with the seed. With a single patient the images
 * themselves are split (and `warning` says so).
 */
export function splitByPatient(images: readonly { patient: string }[], fraction: number, seed: number): { isVal: boolean[]; warning?: string } {
  if (!(fraction >= 0 && fraction < 1)) throw new RangeError(`validation fraction must be in [0, 1), got ${fraction}`);
  const isVal = images.map(() => false);
  if (fraction === 0 || images.length < 2) return { isVal, warning: fraction > 0 ? 'only one image: no validation set' : undefined };
  const patients = [...new Set(images.map((im) => im.patient))].sort();
  const rng = makeRng(deriveSeed(seed, 106));
  if (patients.length < 2) {
    const order = shuffle(images.map((_, i) => i), rng);
    const k = Math.min(images.length - 1, Math.max(1, Math.round(fraction * images.length)));
    for (const i of order.slice(0, k)) isVal[i] = true;
    return { isVal, warning: `all images come from one patient (${patients[0]}): validation images were drawn from it (not a patient-level split)` };
  }
  const k = Math.min(patients.length - 1, Math.max(1, Math.round(fraction * patients.length)));
  const chosen = new Set(shuffle(patients.slice(), rng).slice(0, k));
  images.forEach((im, i) => (isVal[i] = chosen.has(im.patient)));
  return { isVal };
}

/** The dataset part of a patient id: the text before the first ':' ('MIDOG21:002' -> 'MIDOG21'; '' without one). */
export function patientGroup(patient: string): string {
  const k = patient.indexOf(':');
  return k < 0 ? '' : patient.slice(0, k);
}

/**
 * Whole patients for a test set, deterministic per seed and independent of the input order:
 * within each dataset group (patientGroup: 'MIDOG21', 'TUPAC16', ...) about `fraction` of its
 * patients, at least one when the group has two or more (so every dataset is represented on both
 * sides) and never all of a group's patients. Sorted.
 */
export function heldOutPatients(patients: readonly string[], fraction: number, seed: number): string[] {
  if (!(fraction >= 0 && fraction < 1)) throw new RangeError(`held-out fraction must be in [0, 1), got ${fraction}`);
  const groups = new Map<string, string[]>();
  for (const p of new Set(patients)) {
    const g = patientGroup(p);
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push(p);
  }
  const out: string[] = [];
  if (fraction === 0) return out;
  for (const g of [...groups.keys()].sort()) {
    const ps = groups.get(g)!.sort();
    if (ps.length < 2) continue;
    let h = 0;
    for (let i = 0; i < g.length; i++) h = (Math.imul(h, 31) + g.charCodeAt(i)) | 0;
    const rng = makeRng(deriveSeed(seed, 107, h));
    const k = Math.min(ps.length - 1, Math.max(1, Math.round(fraction * ps.length)));
    out.push(...shuffle(ps.slice(), rng).slice(0, k));
  }
  return out.sort();
}

/**
 * A slide-level (patient-level) train/test split: `test` is the set of test patients, or a
 * fraction for heldOutPatients (with `seed`). No patient is on both sides.
 */
export function splitBySlide<T extends { patient: string }>(
  images: readonly T[],
  test: ReadonlySet<string> | number,
  seed = 0,
): { train: T[]; test: T[]; isTest: boolean[]; testPatients: string[] } {
  const chosen = typeof test === 'number' ? new Set(heldOutPatients(images.map((im) => im.patient), test, seed)) : test;
  const isTest = images.map((im) => chosen.has(im.patient));
  return {
    train: images.filter((_, i) => !isTest[i]),
    test: images.filter((_, i) => isTest[i]),
    isTest,
    testPatients: [...new Set(images.filter((_, i) => isTest[i]).map((im) => im.patient))].sort(),
  };
}

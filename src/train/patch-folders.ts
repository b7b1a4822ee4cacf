// Training and cross-validating a net on labelled patches (one image per sample, its centre pixel the
// sample), e.g. the TUPAC16 auxiliary patches sorted into mitosis/ and non-mitosis/ folders. Every
// patch is an image of its own in the ImageStore; the trainer cuts the window around its centre with
// a random rotation and mirroring (pixels outside the patch are mirrored), so patches smaller than the
// window still work.
//
// Held-out evaluation is honest: the held-out patients are never used during training (no early
// stopping on them; a fixed number of epochs), and are scored once with the final weights.
import type { Engine } from '../../engine/engine.js';
import { assignPatientFolds } from '../eval/folds.js';
import { aucRoc } from '../eval/score.js';
import type { RgbaImage } from '../model/dense.js';
import { initModel, type Model, type Normalisation } from '../model/model-file.js';
import type { NetSpec } from '../model/spec.js';
import { imageNormalisation, ImageStore, Trainer, type EpochRecord, type TrainHooks, type TrainOptions } from './trainer.js';
import type { Sample } from './sampling.js';

export interface LabelledPatch {
  /** Where it came from (file path, or path#page). */
  id: string;
  image: RgbaImage;
  label: 0 | 1;
  patient: string;
}

/** The sample of a patch: its centre pixel (floor(w/2), floor(h/2)). */
export function centreSample(image: RgbaImage, index: number, label: 0 | 1): Sample {
  return { image: index, x: Math.floor(image.width / 2), y: Math.floor(image.height / 2), label };
}

/**
 * Test fold of every patch: k-fold (`folds` >= 2) by patient, or one split holding out about
 * `valFraction` of the patches (whole patients; fold 0 = test, 1 = train). Deterministic per seed.
 */
export function patchFolds(patches: readonly { patient: string }[], opts: { folds?: number; valFraction?: number; seed?: number }): { k: number; fold: number[] } {
  const seed = opts.seed ?? 0;
  if (opts.folds !== undefined) return { k: opts.folds, fold: assignPatientFolds(patches, opts.folds, seed) };
  const f = opts.valFraction ?? 0.2;
  if (!(f > 0 && f < 1)) throw new RangeError(`patch folds: the held-out fraction must be in (0, 1), got ${f}`);
  // k folds of about 1/f of the patches each; fold 0 is the held-out set, the rest is training
  const k = Math.max(2, Math.round(1 / f));
  const fold = assignPatientFolds(patches, k, seed);
  return { k: 2, fold: fold.map((v) => (v === 0 ? 0 : 1)) };
}

export interface PatchFoldResult {
  fold: number;
  patients: string[];
  nTrain: number;
  nTest: number;
  /** ROC AUC on the held-out patches (NaN when they hold one class only). */
  auc: number;
  /** Share of held-out patches classified right at p > 0.5. */
  accuracy: number;
  loss: number;
  /** Mitosis probability of each held-out patch (indices into the patch list). */
  test: { index: number; score: number }[];
  history: EpochRecord[];
  seconds: number;
}

/** Trains one model on `train` (indices into patches) and scores `test` with its final weights. */
export async function trainPatchModel(
  e: Engine,
  spec: NetSpec,
  umPerPixel: number,
  patches: readonly LabelledPatch[],
  train: readonly number[],
  test: readonly number[],
  options: Partial<TrainOptions>,
  hooks: TrainHooks = {},
): Promise<{ model: Model; probs: Float32Array; loss: number; accuracy: number; auc: number; history: EpochRecord[] }> {
  if (!train.length) throw new Error('train-patches: no training patches in this split');
  const used = [...train, ...test];
  const images = used.map((i) => patches[i].image);
  const normalisation: Normalisation = imageNormalisation(train.map((i) => patches[i].image));
  const store = ImageStore.upload(e, images);
  const samples = used.map((i, k) => centreSample(patches[i].image, k, patches[i].label));
  const trSamples = samples.slice(0, train.length);
  const teSamples = samples.slice(train.length);
  const seed = options.seed ?? 1;
  const base = { spec, umPerPixel, normalisation };
  let trainer: Trainer | undefined;
  try {
    // no validation samples: a fixed number of epochs, the last weights
    trainer = Trainer.create(e, { ...base, params: initModel(spec, seed).params }, store, trSamples, [], { ...options, patience: 0 });
    const result = await trainer.run(hooks);
    const v = teSamples.length ? await trainer.validate(teSamples) : { loss: NaN, accuracy: NaN, auc: NaN, probs: new Float32Array(0) };
    return { model: { ...base, provenance: {}, params: result.params }, probs: v.probs, loss: v.loss, accuracy: v.accuracy, auc: v.auc, history: result.history };
  } finally {
    trainer?.destroy();
    store.destroy();
  }
}

/** Pooled AUC and accuracy over all held-out scores (each patch scored by the model that did not see it). */
export function pooledScores(patches: readonly { label: 0 | 1 }[], scored: readonly { index: number; score: number }[]): { auc: number; accuracy: number; n: number } {
  const s = scored.map((t) => t.score);
  const l = scored.map((t) => patches[t.index].label);
  let correct = 0;
  scored.forEach((t, k) => {
    if ((t.score > 0.5 ? 1 : 0) === l[k]) correct++;
  });
  return { auc: aucRoc(s, l), accuracy: scored.length ? correct / scored.length : NaN, n: scored.length };
}

/** Mitosis probability of the centre pixel of every image under `model` (no augmentation). */
export async function scorePatches(e: Engine, model: Model, images: readonly RgbaImage[], batch = 64): Promise<Float32Array> {
  if (!images.length) return new Float32Array(0);
  const store = ImageStore.upload(e, images);
  const samples = images.map((im, i) => centreSample(im, i, 1));
  // a trainer is only used for its batched, padded forward pass (validate); it never trains here
  const t = Trainer.create(e, model, store, samples, [], { batch, epochs: 1, augment: false });
  try {
    return (await t.validate(samples)).probs;
  } finally {
    t.destroy();
    store.destroy();
  }
}

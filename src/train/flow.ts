// The whole training flow of Cireşan et al. 2013 (method.md §1) as a library call, the same in
// Node and in browsers (no node: imports, no console, no files): the two-stage hard-negative
// training set (Sd, a brief net Cd, its dense map D(p) over every training image, then all mitosis
// pixels + negatives drawn with weight D(p)), the epochs with a checkpoint after each, the
// detection threshold of largest F1 on the validation images (the paper's t0 on T2: the whole
// detector, 5 µm matching) and the model's provenance.
//
// Checkpoints go through job.checkpoint (the CLI passes an atomic file write; a browser could
// pass IndexedDB or memory); a resumed run gives the same model bit for bit. What is printed
// comes out through the hooks (the CLI turns them into its log lines and progress bars).
import type { Engine } from '../../engine/engine.js';
import { detectMitosesMany, smoothingRadiusPx } from '../detect/detector.js';
import { bestThreshold, contestRadiusPx, scoresAt, scoresFrom, sweepThresholds } from '../eval/score.js';
import type { Model, Provenance, StainNormalisation } from '../model/model-file.js';
import { normaliseStain, stainTarget } from '../model/stain.js';
import { initModel } from '../model/model-file.js';
import { describeSpec, type NetSpec } from '../model/spec.js';
import { decodeCheckpoint, encodeCheckpoint, runDifferences, type Checkpoint } from './checkpoint.js';
import { imageNormalisation, ImageStore, Trainer, type BatchProgress, type EpochRecord, type TrainOptions, type TrainState } from './trainer.js';
import { buildTrainingSet, splitByPatient, type TrainingImage } from './training-set.js';

/** Candidates for a threshold sweep (validation in train, held-out images in crossval): every detection above this. */
export const CANDIDATE_THRESHOLD = 0.02;

/** Recorded in the provenance of every trained model. */
export const SOFTWARE = 'mitoscan 0.1.0';

/** An image (at the training resolution) with its labelled mitoses and the net's candidates. */
export interface ScoredImage {
  id: string;
  patient: string;
  truth: { x: number; y: number }[];
  dets: { x: number; y: number; score: number }[];
}

/**
 * Runs the detector (one net, or an ensemble's averaged maps) over `images` at
 * CANDIDATE_THRESHOLD. `onProgress` is called with done = 0 (id '') before the first image, then
 * after each image with its id.
 */
export async function detectCandidates(
  e: Engine,
  model: Model | readonly Model[],
  images: readonly TrainingImage[],
  onProgress?: (done: number, total: number, id: string) => void,
): Promise<ScoredImage[]> {
  onProgress?.(0, images.length, '');
  const results = await detectMitosesMany(e, model, images.map((im) => im.image), {
    threshold: CANDIDATE_THRESHOLD,
    onProgress: (done, total) => onProgress?.(done, total, images[done - 1].id),
  });
  return images.map((im, k) => {
    const r = results[k];
    // labels hold only inside an image's region (a crop: where windows have real context), so
    // detections and truth outside it are not scored
    const inside = (p: { x: number; y: number }) => !im.region || (p.x >= im.region.x0 && p.x < im.region.x1 && p.y >= im.region.y0 && p.y < im.region.y1);
    return { id: im.id, patient: im.patient, truth: im.mitoses.filter(inside), dets: r.detections.filter(inside).map((d) => ({ x: d.x, y: d.y, score: d.score })) };
  });
}

/** The detection threshold of largest F1 on scored images, and the F1 at 0.35 for comparison. */
export interface ChosenThreshold {
  threshold: number;
  f1: number;
  precision: number;
  recall: number;
  f1At035: number;
  /** With a field density: the weight given to each false positive (see chooseThreshold). */
  fpWeight?: number;
}

/**
 * Sweeps the thresholds over `per` (5 µm one-to-one matching at `umPerPixel`) and keeps the best F1.
 *
 * With `fpWeight` w, the F1 is the one expected where mitoses are w times sparser than in `per`
 * (false alarms per area unchanged): precision = TP / (TP + w FP), so F1 = 2TP / (2TP + w FP + FN).
 * Meant for validation images that sample whole fields (their mitosis-free tissue included). On
 * crops centred on mitoses it overstates the false alarms a field gets: every crop pixel lies within
 * ~12 µm of a figure, so the crops' false alarms are mostly tied to the figures (a split telophase,
 * a neighbouring look-alike) and scale with the number of mitoses, not with the area. Measured on
 * the AMi-Br crops (docs/RESULTS.md): x285 pushed t above 0.93 and sensitivity to 0.2-0.35, so the
 * shipped model keeps the paper's rule (plain F1 on the validation images).
 */
export function chooseThreshold(per: readonly ScoredImage[], umPerPixel: number, fpWeight = 1): ChosenThreshold {
  if (!(fpWeight > 0) || !Number.isFinite(fpWeight)) throw new RangeError(`chooseThreshold: fpWeight must be a positive number, got ${fpWeight}`);
  const radius = contestRadiusPx(umPerPixel);
  const sweep = sweepThresholds(per, radius);
  const weighted = fpWeight === 1 ? sweep : sweep.map((p) => ({ threshold: p.threshold, scores: scoresFrom(p.scores.tp, p.scores.fp * fpWeight, p.scores.fn) }));
  const best = bestThreshold(weighted);
  const at = scoresAt(per, radius, 0.35);
  const atW = fpWeight === 1 ? at : scoresFrom(at.tp, at.fp * fpWeight, at.fn);
  return {
    threshold: best.threshold, f1: best.scores.f1, precision: best.scores.precision, recall: best.scores.recall, f1At035: atW.f1,
    ...(fpWeight !== 1 ? { fpWeight } : {}),
  };
}

/**
 * The false-positive weight that makes validation images as dense in mitoses as fields with
 * `fieldPerMm2` mitoses per mm²: (mitoses per mm² of the validation regions) / fieldPerMm2, at
 * least 1 (never weight false alarms down).
 */
export function fieldFpWeight(images: readonly TrainingImage[], umPerPixel: number, fieldPerMm2: number): number {
  let areaPx = 0, n = 0;
  for (const im of images) {
    const r = im.region ?? { x0: 0, y0: 0, x1: im.image.width, y1: im.image.height };
    areaPx += Math.max(0, r.x1 - r.x0) * Math.max(0, r.y1 - r.y0);
    n += im.mitoses.filter((p) => p.x >= r.x0 && p.x < r.x1 && p.y >= r.y0 && p.y < r.y1).length;
  }
  const mm2 = (areaPx * umPerPixel * umPerPixel) / 1e6;
  if (!(mm2 > 0) || !n) return 1;
  return Math.max(1, n / mm2 / fieldPerMm2);
}

/** How to train: the net, the resolution, the training set, the optimiser (the CLI's flags without the data and output ones). */
export interface TrainFlowSettings {
  spec: NetSpec;
  /** µm/px of the images given to trainOnImages; the model applies at this resolution. */
  trainMpp: number;
  /** Final training set size. */
  samples: number;
  /** Epochs of the first net Cd on Sd (0: uniform negatives). */
  stage1Epochs: number;
  /** At most this many samples in Sd. */
  stage1Samples?: number;
  /** At most this share of the final set are mitosis pixels (default 0.5). */
  positiveShare?: number;
  /** Share of patients held out for validation (unless job.validation says which images). */
  valFraction: number;
  /** Seed of the valFraction draw (default: opts.seed). A second net for an ensemble takes the
   * first's, so that both validate on the same patients and the pair's threshold is chosen on
   * images neither trained on. */
  valSeed?: number;
  /** At most this many validation samples (default samples / 4). */
  valSamples?: number;
  /** Patients that are validation patients besides the valFraction draw (unless job.validation says which images). */
  valPatients?: string[];
  /** Negatives only inside the dilated blue-ratio nuclei mask (the tutorial). */
  blueRatio: boolean;
  /** Choose the detection threshold on the validation images. */
  chooseThreshold: boolean;
  opts: TrainOptions;
  /** Negatives only this far (px, at trainMpp) from every centroid (default: the mitosis radius d). */
  exclusionPx?: number;
  /** Reinhard stain normalisation: every image is mapped to the training images' pooled lαβ
   * statistics, which the model records and detection applies to every image it reads. */
  stainNormalise?: boolean;
  /** Choose the threshold for fields with this many mitoses per mm² (see fieldFpWeight); default:
   * the plain F1 of the validation images. */
  fieldDensityPerMm2?: number;
}

/** Where checkpoints go: a file (the CLI, written atomically), IndexedDB, memory. */
export interface CheckpointStore {
  /** The last saved bytes, or null when there are none. */
  load(): Promise<Uint8Array | null>;
  save(bytes: Uint8Array): Promise<void>;
  /** For messages ('resuming from <name> ...'). */
  name: string;
}

/** One training run: where it checkpoints, what it records. */
export interface TrainFlowJob {
  /** Validation images, one flag per image (the T1/T2/T3 protocol's T2); default: a share of the patients (valFraction). */
  validation?: boolean[];
  /** Epochs instead of the settings' (the protocol's retraining for the first run's best epoch count). */
  epochs?: number;
  /** Saved after the training set is built and after every epoch; none: no checkpoints. */
  checkpoint?: CheckpointStore;
  /** Continue from the checkpoint (starts afresh when it holds none). Needs `checkpoint`. */
  resume: boolean;
  /** The command line (or whatever started the run), for the provenance. */
  command: string;
  /** The data, for the provenance. */
  dataset: string;
  /** Identifies the data in the checkpoint (a resumed run must see the same images). */
  fingerprint: unknown;
  /** A threshold to record when none is chosen (the protocol's final net keeps the t chosen on T2). */
  threshold?: number;
  /** ISO date for the provenance (the CLI honours SOURCE_DATE_EPOCH). */
  date: string;
  /** More provenance to record (e.g. the patients held out as a test set). */
  provenance?: Record<string, unknown>;
  /** Checked between batches of the final training: true abandons the epoch and trainOnImages
   * rejects with TrainingStopped (the last checkpoint stays, to resume from). */
  shouldStop?: () => boolean;
}

export type TrainPhase = 'cd' | 'train';

/** What the flow reports while it runs (all optional). */
export interface TrainFlowHooks {
  /** A line of the run's log (without any prefix). */
  onLog?: (message: string) => void;
  /** A stage of the training set (blue-ratio masks, stage 1, stage 2). Default: onLog. */
  onStage?: (message: string) => void;
  /** After every batch, of Cd ('cd') or of the net ('train'). */
  onBatch?: (p: BatchProgress, phase: TrainPhase) => void;
  /** After every epoch; `epochs` is the phase's epoch count, `best` true when the validation loss is the lowest so far. */
  onEpoch?: (r: EpochRecord, phase: TrainPhase, info: { epochs: number; best: boolean }) => void;
  /** After each batch of Cd's dense maps D(p), with the images done so far. */
  onDense?: (done: number, total: number) => void;
  /** While choosing the threshold: done = 0 before the first validation image, then after each. */
  onDetect?: (done: number, total: number, id: string) => void;
}

export interface Trained {
  /** With its provenance (threshold, metrics, command); not yet saved. */
  model: Model;
  bestEpoch: number;
  epochs: number;
  /** The threshold chosen on the validation images, when one was. */
  chosen?: ChosenThreshold;
  /** One line for stdout. */
  summary: string;
}

const f4 = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(4));

/**
 * Trains one net on `images` (already at settings.trainMpp): the training set, the epochs with a
 * checkpoint after each, and the detection threshold of largest F1 on the validation images.
 */
export async function trainOnImages(e: Engine, images: TrainingImage[], s: TrainFlowSettings, job: TrainFlowJob, hooks: TrainFlowHooks = {}): Promise<Trained> {
  const say = (m: string) => hooks.onLog?.(m);
  const opts = job.epochs === undefined ? s.opts : { ...s.opts, epochs: job.epochs };
  const { spec, trainMpp, samples, stage1Epochs, valSamples } = s;
  const radiusPx = smoothingRadiusPx(trainMpp);
  const mitoses = images.reduce((a, im) => a + im.mitoses.length, 0);
  if (!mitoses) throw new Error(`no mitoses in the ${images.length} training image(s): training needs labelled mitosis centroids`);
  if (job.validation && job.validation.length !== images.length) throw new Error(`train: ${job.validation.length} validation flags for ${images.length} images`);
  const store0 = job.checkpoint;
  if (job.resume && !store0) throw new Error('train: resume needs a checkpoint store');

  // What a resumed run must share with the one that wrote the checkpoint (besides the options).
  const runInfo: Record<string, unknown> = {
    spec, trainMpp, data: job.fingerprint, samples, stage1Epochs, stage1Samples: s.stage1Samples ?? null, valFraction: s.valFraction,
    valSamples: valSamples ?? null, blueRatio: s.blueRatio,
    ...(job.validation ? { validation: job.validation.map((v) => (v ? 1 : 0)).join('') } : {}),
    // recorded only when set, so checkpoints of runs without them compare as before
    ...(s.exclusionPx !== undefined ? { exclusionPx: s.exclusionPx } : {}),
    ...(s.stainNormalise ? { stainNormalise: true } : {}),
    ...(s.valPatients?.length ? { valPatients: s.valPatients } : {}),
    ...(s.valSeed !== undefined ? { valSeed: s.valSeed } : {}),
    ...(s.positiveShare !== undefined ? { positiveShare: s.positiveShare } : {}),
    ...(s.fieldDensityPerMm2 !== undefined ? { fieldDensityPerMm2: s.fieldDensityPerMm2 } : {}),
  };
  let store: ImageStore | null = null;
  let trainer: Trainer | null = null;
  try {
    say(`${describeSpec(spec)} at ${trainMpp} µm/px on ${e.adapterName}; ${images.length} image(s), ${mitoses} mitoses`);
    // the split depends on the seed only, so a resumed run recomputes the same one
    const split = job.validation ? { isVal: job.validation, warning: undefined } : splitByPatient(images, s.valFraction, s.valSeed ?? opts.seed);
    if (!job.validation && s.valPatients?.length) {
      const named = new Set(s.valPatients);
      images.forEach((im, i) => (split.isVal[i] ||= named.has(im.patient)));
      if (split.isVal.every(Boolean)) throw new RangeError(`every image is a validation image (val patients ${s.valPatients.join(', ')}): nothing is left to train on`);
    }
    let stain: StainNormalisation | undefined;
    if (s.stainNormalise) {
      stain = { method: 'reinhard', target: stainTarget(images.filter((_, i) => !split.isVal[i]).map((im) => im.image)) };
      say(`stain normalisation (Reinhard, lαβ): target mean ${stain.target.mean.map((v) => v.toFixed(3)).join(', ')}, std ${stain.target.std.map((v) => v.toFixed(3)).join(', ')}`);
      const normalised: TrainingImage[] = [];
      for (const im of images) normalised.push({ ...im, image: await normaliseStain(e, im.image, stain) });
      images = normalised;
    }
    store = ImageStore.upload(e, images.map((im) => im.image));
    let ck: Checkpoint | null = null;
    if (job.resume && store0) {
      const bytes = await store0.load();
      if (bytes) {
        ck = decodeCheckpoint(bytes, store0.name);
        // progressEvery changes no result: it may differ
        const cmpOpts = (o: TrainOptions) => ({ ...o, progressEvery: undefined }) as unknown as Record<string, unknown>;
        const diffs = [...runDifferences(ck.run, runInfo), ...runDifferences(cmpOpts(ck.options), cmpOpts(opts))];
        if (diffs.length) {
          throw new Error(`${store0.name}: this checkpoint was made with other settings:\n  ${diffs.join('\n  ')}\nrun the original command with --resume, or remove the checkpoint to start again`);
        }
        say(`resuming from ${store0.name} after epoch ${ck.state.epoch}${ck.state.finished ? ' (the run had finished)' : ''}`);
      } else {
        say(`no checkpoint at ${store0.name}: starting from the beginning`);
      }
    }

    const save = async (state: TrainState, c: Omit<Checkpoint, 'state' | 'options' | 'run'>) => {
      if (store0) await store0.save(encodeCheckpoint({ ...c, state, options: opts, run: runInfo }));
    };

    let base: { spec: NetSpec; umPerPixel: number; normalisation: Model['normalisation']; stain?: StainNormalisation };
    let train: Checkpoint['train'];
    let val: Checkpoint['val'];
    let setInfo: Record<string, unknown>;
    if (ck) {
      base = { spec: ck.model.spec, umPerPixel: ck.model.umPerPixel, normalisation: ck.model.normalisation, ...(stain ? { stain } : {}) };
      train = ck.train;
      val = ck.val;
      setInfo = (ck.model.provenance?.trainingSet as Record<string, unknown>) ?? {};
      trainer = Trainer.resume(e, base, store, train, val, opts, ck.state);
    } else {
      if (split.warning) say(`warning: ${split.warning}`);
      const normalisation = imageNormalisation(images.filter((_, i) => !split.isVal[i]).map((im) => im.image));
      base = { spec, umPerPixel: trainMpp, normalisation, ...(stain ? { stain } : {}) };
      const set = await buildTrainingSet(e, store, images, split.isVal, base, {
        radiusPx,
        samples,
        stage1Epochs,
        stage1MaxSamples: s.stage1Samples,
        ...(s.positiveShare !== undefined ? { positiveShare: s.positiveShare } : {}),
        valMaxSamples: valSamples,
        blueRatioDilatePx: s.blueRatio ? 10 / trainMpp : undefined,
        ...(s.exclusionPx !== undefined ? { exclusionPx: s.exclusionPx } : {}),
        train: opts,
        seed: opts.seed,
      }, {
        onStage: (m) => (hooks.onStage ? hooks.onStage(m) : say(m)),
        onBatch: (p) => hooks.onBatch?.(p, 'cd'),
        onEpoch: (r) => hooks.onEpoch?.(r, 'cd', { epochs: stage1Epochs, best: false }),
        onDense: (d, t) => hooks.onDense?.(d, t),
      });
      train = set.train;
      val = set.val;
      const st = set.stats;
      setInfo = {
        radiusPx,
        samples: train.length,
        positives: st.trainPositives,
        negatives: st.trainNegatives,
        valSamples: val.length,
        valPositives: st.valPositives,
        stage1Epochs,
        hardNegatives: stage1Epochs > 0 ? 'D(p)-weighted (two-stage)' : 'uniform',
        blueRatio: s.blueRatio,
        valImages: images.filter((_, i) => split.isVal[i]).map((im) => im.id),
      };
      say(
        `training set ${train.length} samples (${st.trainPositives} mitosis pixels, d = ${radiusPx.toFixed(2)} px), ` +
          `validation ${val.length} (${st.valPositives} mitosis pixels)` +
          (st.meanD !== undefined ? `; mean D(p) ${f4(st.meanD)} over all negative pixels, ${f4(st.meanDChosen)} over the drawn negatives` : ''),
      );
      trainer = Trainer.create(e, { ...base, params: initModel(spec, opts.seed).params }, store, train, val, opts);
      await save(await trainer.state(), { model: { ...base, provenance: { trainingSet: setInfo } }, train, val });
    }

    // ---- training ----
    const t = trainer;
    // what the batches really are, when it is not what was asked
    if (t.batchSize < opts.batch) say(`batch size ${t.batchSize}, not ${opts.batch}: the training set holds only ${train.length} samples`);
    const left = train.length - t.batchesPerEpoch * t.batchSize;
    if (left > 0 && opts.balance === 'plain') say(`${left} of the ${train.length} samples are left out of each epoch (the last, incomplete batch of its shuffle; a different ${left} each epoch)`);
    let bestSoFar = ck?.state.best?.valLoss ?? Infinity;
    const result = await t.run({
      onBatch: (p) => hooks.onBatch?.(p, 'train'),
      onEpoch: (r) => {
        const best = r.valLoss !== undefined && r.valLoss < bestSoFar;
        if (best) bestSoFar = r.valLoss!;
        hooks.onEpoch?.(r, 'train', { epochs: opts.epochs, best });
      },
      checkpoint: store0 ? (state) => save(state, { model: { ...base, provenance: { trainingSet: setInfo } }, train, val }) : undefined,
      shouldStop: job.shouldStop,
    });
    if (result.stoppedEarly) say(`stopped early: no lower validation loss in ${opts.patience} epochs`);

    const model: Model = { ...base, provenance: {}, params: result.params };

    // ---- the detection threshold of largest F1 on the validation images (the paper's t0 on T2) ----
    const valIds = new Set(Array.isArray(setInfo.valImages) ? (setInfo.valImages as string[]) : []);
    const valImages = images.filter((im) => valIds.has(im.id));
    let chosen: ChosenThreshold | undefined;
    if (s.chooseThreshold && valImages.some((im) => im.mitoses.length)) {
      const per = await detectCandidates(e, model, valImages, hooks.onDetect);
      const w = s.fieldDensityPerMm2 !== undefined ? fieldFpWeight(valImages, base.umPerPixel, s.fieldDensityPerMm2) : 1;
      chosen = chooseThreshold(per, base.umPerPixel, w);
      say(
        `detection on ${valImages.length} validation image(s)` +
          (w !== 1 ? ` (false alarms weighted x${w.toFixed(1)}: fields of ${s.fieldDensityPerMm2} mitoses/mm²)` : '') +
          `: best F1 ${f4(chosen.f1)} (precision ${f4(chosen.precision)}, ` +
          `recall ${f4(chosen.recall)}) at t = ${chosen.threshold.toFixed(4)}; F1 ${f4(chosen.f1At035)} at t = 0.35`,
      );
    } else if (s.chooseThreshold && job.threshold === undefined) {
      say('no validation image with mitoses: the detection threshold is not chosen (detect uses 0.35)');
    }

    const b = result.best;
    const threshold = chosen?.threshold ?? job.threshold;
    const provenance = { ...buildProvenance({ job, opts, threshold, chosen, best: b, epochs: result.history.length, bestEpoch: result.bestEpoch, trainingSet: setInfo }), ...job.provenance };
    const summary =
      `${spec.name} at ${base.umPerPixel} µm/px, best epoch ${result.bestEpoch} of ${result.history.length}` +
      (b?.valLoss !== undefined ? ` (val loss ${f4(b.valLoss)}, acc ${f4(b.valAccuracy)}, AUC ${f4(b.valAuc)})` : '') +
      (chosen ? `; detection threshold ${chosen.threshold.toFixed(4)} (validation F1 ${f4(chosen.f1)})` : threshold !== undefined ? `; detection threshold ${threshold.toFixed(4)}` : '');
    return { model: { ...model, provenance }, bestEpoch: result.bestEpoch, epochs: result.history.length, ...(chosen ? { chosen } : {}), summary };
  } finally {
    trainer?.destroy();
    store?.destroy();
  }
}

/** The provenance of a trained model: threshold, command, data, date, epochs, metrics, training set and options. */
export function buildProvenance(p: {
  job: Pick<TrainFlowJob, 'command' | 'dataset' | 'date'>;
  opts: TrainOptions;
  threshold?: number;
  chosen?: ChosenThreshold;
  /** The record of the best epoch. */
  best?: EpochRecord;
  epochs: number;
  bestEpoch: number;
  trainingSet: Record<string, unknown>;
}): Provenance {
  const { chosen, best: b } = p;
  const metrics: Record<string, number> = {};
  if (chosen) {
    metrics.valF1 = chosen.f1;
    metrics.valPrecision = chosen.precision;
    metrics.valRecall = chosen.recall;
    metrics.valF1At035 = chosen.f1At035;
  }
  if (b) {
    metrics.trainLoss = b.trainLoss;
    if (b.valLoss !== undefined) metrics.valLoss = b.valLoss;
    if (b.valAccuracy !== undefined) metrics.valAccuracy = b.valAccuracy;
    if (b.valAuc !== undefined && !Number.isNaN(b.valAuc)) metrics.valAuc = b.valAuc;
  }
  return {
    ...(p.threshold !== undefined ? { threshold: p.threshold } : {}),
    command: p.job.command,
    dataset: p.job.dataset,
    date: p.job.date,
    epochs: p.epochs,
    bestEpoch: p.bestEpoch,
    seed: p.opts.seed,
    metrics,
    trainingSet: p.trainingSet,
    training: { ...p.opts },
    software: SOFTWARE,
  };
}

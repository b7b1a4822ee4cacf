// `mitoscan train <dataset-root...> --out model.mitoscan [options]`: trains a mitosis net the way
// Cireşan et al. 2013 did (method.md §1): the two-stage hard-negative training set (Sd, a brief net
// Cd, its dense map D(p) over every training image, then all mitosis pixels + negatives drawn with
// weight D(p)), then SGD (or the tutorial's Adagrad) on patches cut on the GPU with a random
// rotation and mirroring per patch per epoch, validation on whole held-out patients every epoch,
// early stopping, and the best validation weights written as a model file with its provenance.
// As the paper chose t0 on its validation set T2, the detection threshold of largest F1 on the
// validation images (the whole detector: dense map, disk smoothing, suppression; 5 µm matching) is
// recorded in the model (provenance.threshold), which `mitoscan detect` uses by default.
//
// Kill-safe: after the training set is built and after every epoch a checkpoint (weights, optimizer
// state, epoch, best weights, patience counter, history, options, the training set) is written
// atomically to --checkpoint (default <out>.ckpt); `--resume` continues from it, and the final
// model is bit for bit the one an uninterrupted run writes (set SOURCE_DATE_EPOCH for the date in
// the provenance to match too).
//
// --synthetic N trains on N procedural fields (src/synth/tissue.ts) instead of a data set: this is
// how the embedded default model (models/default.mitoscan) is made.
import { existsSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { Engine } from '../engine/engine.js';
import { createNodeEngine } from '../engine/node.js';
import { detectMitoses, smoothingRadiusPx } from '../src/detect/detector.js';
import { bestThreshold, contestRadiusPx, scoresAt, sweepThresholds } from '../src/eval/score.js';
import { rescaleToMpp } from '../src/io/image.js';
import type { Model, Provenance } from '../src/model/model-file.js';
import { initModel } from '../src/model/model-file.js';
import { describeSpec, type NetSpec } from '../src/model/spec.js';
import { loadDataset, type LayoutOption } from '../src/node/datasets.js';
import { readImageFile, writeFileAtomic } from '../src/node/files.js';
import { saveModel } from '../src/node/model-io.js';
import { decodeCheckpoint, encodeCheckpoint, runDifferences, type Checkpoint } from '../src/train/checkpoint.js';
import { SYNTHETIC_TRAIN_SEED_BASE, syntheticImages } from '../src/train/synthetic.js';
import { imageNormalisation, ImageStore, Trainer, trainOptions, type BatchProgress, type EpochRecord, type TrainOptions, type TrainState } from '../src/train/trainer.js';
import { buildTrainingSet, splitByPatient, type TrainingImage } from '../src/train/training-set.js';
import { checkFlags, flagBoolean, flagNumber, flagString, parseArgs, UsageError, type ParsedArgs } from './args.js';
import { resolveSpec } from './spec-flag.js';
import { formatSeconds, Progress } from './progress.js';

/** The help text of the flags in TRAIN_FLAGS (shared with `mitoscan crossval`). */
export const TRAIN_OPTIONS_HELP = `data:
  <dataset-root...>          labelled data set folder(s) (layouts as in mitoscan eval)
  --layout auto|mitos2012|amida13|tupac16|tutorial|midog   folder layout (default auto)
  --mpp <µm/px>              resolution of the images (default: the layout's)
  --synthetic N              train on N procedural H&E fields instead (how the default model is made)
  --size <px>                side of the synthetic fields (default 512)
  --train-mpp <µm/px>        resolution to train at; images are rescaled (default 0.4912 for
                             compact20x, 0.2456 otherwise); the model applies at this resolution
net and training set:
  --spec DNN1|DNN2|compact20x|<spec.json>   the net (default DNN1)
  --samples <n>              final training set size (default 1000000)
  --stage1-epochs <n>        epochs of the first net Cd on Sd (default 2; 0 = uniform negatives)
  --stage1-samples <n>       at most n samples in Sd (default: all mitosis pixels + as many negatives)
  --blue-ratio               negatives only inside the dilated blue-ratio nuclei mask (the tutorial)
  --val-fraction <f>         share of patients held out for validation (default 0.2)
  --val-samples <n>          at most n validation samples (default samples / 4)
optimisation:
  --epochs <n>               at most n epochs (default 30)
  --batch <n>                patches per batch (default 64)
  --optimizer sgd|adagrad    (default sgd; adagrad as in the tutorial)
  --lr <x>                   learning rate of epoch 1 (default 0.01)
  --lr-decay <x>             lr *= x after every epoch (default 0.95)
  --momentum <x>             SGD momentum (default 0.9)
  --weight-decay <x>         (default 0.0001)
  --balance plain|balanced   batch composition (default plain: as the set is)
  --no-augment               no random rotation / mirroring
  --patience <n>             stop after n epochs without a lower validation loss (default 5; 0 = never)
  --seed <n>                 makes the run repeatable bit for bit (default 1)`;

const USAGE = `usage: mitoscan train <dataset-root...> --out model.mitoscan [options]
       mitoscan train --synthetic N --out model.mitoscan [options]

Trains a mitosis net (Cireşan et al. 2013): two-stage hard-negative training set, patches cut on
the GPU with a random rotation and mirroring per epoch, validation on held-out patients, early
stopping; writes the best validation weights. A checkpoint is written after every epoch; after a
crash or a kill, run the same command with --resume.

${TRAIN_OPTIONS_HELP}
output:
  --out <file>               the model file (required)
  --checkpoint <file>        checkpoint (default <out>.ckpt)
  --resume                   continue from the checkpoint (starts afresh when there is none)
  --no-threshold             do not choose the detection threshold on the validation images
  --progress-every <n>       read the loss for the progress line every n batches (default 10)`;

/** The data, net, training-set and optimiser flags (shared with `mitoscan crossval`). */
export const TRAIN_FLAGS = [
  'layout', 'mpp', 'synthetic', 'size', 'train-mpp', 'spec', 'samples', 'stage1-epochs', 'stage1-samples', 'blue-ratio',
  'val-fraction', 'val-samples', 'epochs', 'batch', 'optimizer', 'lr', 'lr-decay', 'momentum', 'weight-decay', 'balance',
  'no-augment', 'patience', 'seed', 'progress-every', 'no-threshold',
];
export const TRAIN_BOOLEANS = ['blue-ratio', 'resume', 'no-augment', 'no-threshold', 'help'];

/** Candidates for a threshold sweep (validation in train, held-out images in crossval): every detection above this. */
export const CANDIDATE_THRESHOLD = 0.02;

/** An image (at the training resolution) with its labelled mitoses and the net's candidates. */
export interface ScoredImage {
  id: string;
  patient: string;
  truth: { x: number; y: number }[];
  dets: { x: number; y: number; score: number }[];
}

/** Runs the detector over `images` at CANDIDATE_THRESHOLD, with a progress bar. */
export async function detectCandidates(e: Engine, model: Model, images: readonly TrainingImage[], label: string): Promise<ScoredImage[]> {
  const progress = new Progress(label, images.length);
  const out: ScoredImage[] = [];
  for (const [k, im] of images.entries()) {
    const r = await detectMitoses(e, [model], im.image, { threshold: CANDIDATE_THRESHOLD });
    out.push({ id: im.id, patient: im.patient, truth: im.mitoses, dets: r.detections.map((d) => ({ x: d.x, y: d.y, score: d.score })) });
    progress.update(k + 1, im.id);
  }
  progress.done();
  return out;
}

const posInt = (v: number) => Number.isInteger(v) && v > 0;
const nonNegInt = (v: number) => Number.isInteger(v) && v >= 0;

export interface LoadedData {
  images: TrainingImage[];
  /** For the provenance. */
  description: string;
  /** Identifies the data in the checkpoint (a resumed run must see the same images). */
  fingerprint: unknown;
}

async function loadImages(roots: string[], layout: LayoutOption, mpp: number | undefined, trainMpp: number): Promise<LoadedData> {
  const images: TrainingImage[] = [];
  const fp: unknown[] = [];
  for (const [r, root] of roots.entries()) {
    const items = await loadDataset(root, { layout, umPerPixel: mpp, onWarning: (m) => console.error(`mitoscan train: warning: ${m}`) });
    if (!items.length) throw new Error(`${root}: no labelled images found (check the folder and --layout)`);
    const progress = new Progress(`reading ${basename(resolve(root))}`, items.length);
    for (const [k, item] of items.entries()) {
      const raw = await readImageFile(item.imagePath);
      const f = item.umPerPixel / trainMpp;
      const image = Math.abs(f - 1) > 1e-6 ? rescaleToMpp(raw, item.umPerPixel, trainMpp) : raw;
      const sx = image.width / raw.width;
      const sy = image.height / raw.height;
      const mitoses = item.mitoses.map((c) => ({ x: (c.x + 0.5) * sx - 0.5, y: (c.y + 0.5) * sy - 0.5 }));
      for (const c of mitoses) {
        if (c.x < -0.5 || c.y < -0.5 || c.x > image.width - 0.5 || c.y > image.height - 0.5) {
          throw new Error(`${item.imagePath}: a labelled mitosis lies outside the image; check the layout (row,col vs x,y) and the label file`);
        }
      }
      const patient = roots.length > 1 ? `${r}:${item.patient}` : item.patient;
      images.push({ id: item.id, patient, image, mitoses });
      fp.push([r, item.id, patient, raw.width, raw.height, item.umPerPixel, item.mitoses.map((c) => [c.x, c.y])]);
      progress.update(k + 1, item.id);
    }
    progress.done();
  }
  return { images, description: roots.map((r) => resolve(r)).join(', '), fingerprint: fp };
}

function sourceDate(): string {
  const s = process.env.SOURCE_DATE_EPOCH;
  if (s && /^\d+$/.test(s)) return new Date(Number(s) * 1000).toISOString();
  return new Date().toISOString();
}

const f4 = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(4));

function batchInfo(p: BatchProgress): string {
  return `loss ${f4(p.loss)}, ${Number.isNaN(p.patchesPerSecond) ? '-' : p.patchesPerSecond.toFixed(0)} patches/s`;
}

function epochLine(r: EpochRecord, epochs: number, best: boolean): string {
  const val = r.valLoss !== undefined ? `, val loss ${f4(r.valLoss)}, val acc ${f4(r.valAccuracy)}, val AUC ${f4(r.valAuc)}` : '';
  return `epoch ${r.epoch}/${epochs}: train loss ${f4(r.trainLoss)}${val}, lr ${r.lr.toPrecision(3)}, ${formatSeconds(r.seconds)} (${r.patchesPerSecond.toFixed(0)} patches/s)${best ? ' *' : ''}`;
}

/** What `train` and `crossval` read from the command line: the data, the net, the training set, the optimiser. */
export interface TrainSettings {
  spec: NetSpec;
  trainMpp: number;
  samples: number;
  stage1Epochs: number;
  stage1Samples?: number;
  valFraction: number;
  valSamples?: number;
  blueRatio: boolean;
  chooseThreshold: boolean;
  opts: TrainOptions;
  layout: LayoutOption;
  mpp?: number;
  /** N procedural fields instead of data set folders (0: use `roots`). */
  synthetic: number;
  size: number;
  roots: string[];
}

/** Reads the settings shared by `train` and `crossval` (flags in TRAIN_FLAGS). */
export async function parseTrainSettings(args: ParsedArgs): Promise<TrainSettings> {
  const spec = await resolveSpec(flagString(args, 'spec', 'DNN1')!);
  const synthetic = flagNumber(args, 'synthetic', 0, posInt);
  const roots = args.positionals;
  if (synthetic && roots.length) throw new UsageError('give either dataset folders or --synthetic N, not both');
  if (!synthetic && !roots.length) throw new UsageError('no data: give a labelled dataset folder (or --synthetic N for procedural fields)');
  if (!synthetic && args.flags.has('size')) throw new UsageError('--size applies to --synthetic fields only');
  const layout = flagString(args, 'layout', 'auto') as LayoutOption;
  const mppFlag = flagString(args, 'mpp');
  const stage1SamplesFlag = flagString(args, 'stage1-samples');
  const valSamplesFlag = flagString(args, 'val-samples');
  const optimizer = flagString(args, 'optimizer', 'sgd');
  if (optimizer !== 'sgd' && optimizer !== 'adagrad') throw new UsageError(`--optimizer: '${optimizer}' is not sgd or adagrad`);
  const balance = flagString(args, 'balance', 'plain');
  if (balance !== 'plain' && balance !== 'balanced') throw new UsageError(`--balance: '${balance}' is not plain or balanced`);
  let opts: TrainOptions;
  try {
    opts = trainOptions({
      epochs: flagNumber(args, 'epochs', 30, posInt),
      batch: flagNumber(args, 'batch', 64, posInt),
      optimizer,
      lr: flagNumber(args, 'lr', 0.01, (v) => v > 0),
      lrDecay: flagNumber(args, 'lr-decay', 0.95, (v) => v > 0 && v <= 1),
      momentum: flagNumber(args, 'momentum', 0.9, (v) => v >= 0 && v < 1),
      weightDecay: flagNumber(args, 'weight-decay', 1e-4, (v) => v >= 0),
      balance,
      augment: !flagBoolean(args, 'no-augment'),
      patience: flagNumber(args, 'patience', 5, nonNegInt),
      seed: flagNumber(args, 'seed', 1, Number.isInteger),
      progressEvery: flagNumber(args, 'progress-every', 10, posInt),
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return {
    spec,
    trainMpp: flagNumber(args, 'train-mpp', spec.name === 'compact20x' ? 0.4912 : 0.2456, (v) => v > 0),
    samples: flagNumber(args, 'samples', 1_000_000, (v) => posInt(v) && v >= 2),
    stage1Epochs: flagNumber(args, 'stage1-epochs', 2, nonNegInt),
    stage1Samples: stage1SamplesFlag === undefined ? undefined : flagNumber(args, 'stage1-samples', 0, (v) => posInt(v) && v >= 2),
    valFraction: flagNumber(args, 'val-fraction', 0.2, (v) => v >= 0 && v < 1),
    valSamples: valSamplesFlag === undefined ? undefined : flagNumber(args, 'val-samples', 0, posInt),
    blueRatio: flagBoolean(args, 'blue-ratio'),
    chooseThreshold: !flagBoolean(args, 'no-threshold'),
    opts,
    layout,
    mpp: mppFlag === undefined ? undefined : flagNumber(args, 'mpp', 0, (v) => v > 0),
    synthetic,
    size: flagNumber(args, 'size', 512, (v) => posInt(v) && v >= 16),
    roots,
  };
}

/** The images to train on, at the training resolution: procedural fields or the data set folders. */
export async function loadTrainingData(s: TrainSettings): Promise<LoadedData> {
  let data: LoadedData;
  if (s.synthetic) {
    const n = s.synthetic;
    const progress = new Progress(`generating ${n} synthetic fields`, n);
    const images = syntheticImages(n, s.size, s.trainMpp, SYNTHETIC_TRAIN_SEED_BASE, (d) => progress.update(d));
    progress.done();
    data = { images, description: `synthetic: ${n} procedural fields of ${s.size}x${s.size} px at ${s.trainMpp} µm/px (src/synth/tissue.ts, seeds ${SYNTHETIC_TRAIN_SEED_BASE}..${SYNTHETIC_TRAIN_SEED_BASE + n - 1})`, fingerprint: { synthetic: n, size: s.size } };
  } else {
    data = await loadImages(s.roots, s.layout, s.mpp, s.trainMpp);
  }
  const mitoses = data.images.reduce((a, im) => a + im.mitoses.length, 0);
  if (!mitoses) throw new Error(`no mitoses found in the ${data.images.length} image(s) of ${data.description}: training needs labelled mitosis centroids`);
  return data;
}

/** One training run inside a command: where it checkpoints, how it logs, what it records. */
export interface TrainJob {
  /** Validation images, one flag per image (the T1/T2/T3 protocol's T2); default: a share of the patients (valFraction). */
  validation?: boolean[];
  /** Epochs instead of the settings' (the protocol's retraining for the first run's best epoch count). */
  epochs?: number;
  checkpoint: string;
  resume: boolean;
  /** The command line, for the provenance. */
  command: string;
  dataset: string;
  /** Identifies the data in the checkpoint (a resumed run must see the same images). */
  fingerprint: unknown;
  /** Start of every log line (default 'mitoscan train'). */
  tag?: string;
  /** A threshold to record when none is chosen (the protocol's final net keeps the t chosen on T2). */
  threshold?: number;
}

export interface Trained {
  /** With its provenance (threshold, metrics, command); not yet saved. */
  model: Model;
  bestEpoch: number;
  epochs: number;
  /** One line for stdout. */
  summary: string;
}

/**
 * Trains one net on `images` (already at s.trainMpp): the training set, the epochs with a
 * checkpoint after each, and the detection threshold of largest F1 on the validation images.
 */
export async function trainOnImages(e: Engine, images: TrainingImage[], s: TrainSettings, job: TrainJob): Promise<Trained> {
  const tag = job.tag ?? 'mitoscan train';
  const say = (m: string) => console.error(`${tag}: ${m}`);
  const opts = job.epochs === undefined ? s.opts : { ...s.opts, epochs: job.epochs };
  const { spec, trainMpp, samples, stage1Epochs, valSamples } = s;
  const radiusPx = smoothingRadiusPx(trainMpp);
  const mitoses = images.reduce((a, im) => a + im.mitoses.length, 0);
  if (!mitoses) throw new Error(`no mitoses in the ${images.length} training image(s): training needs labelled mitosis centroids`);
  if (job.validation && job.validation.length !== images.length) throw new Error(`train: ${job.validation.length} validation flags for ${images.length} images`);

  // What a resumed run must share with the one that wrote the checkpoint (besides the options).
  const runInfo: Record<string, unknown> = {
    spec, trainMpp, data: job.fingerprint, samples, stage1Epochs, stage1Samples: s.stage1Samples ?? null, valFraction: s.valFraction,
    valSamples: valSamples ?? null, blueRatio: s.blueRatio,
    ...(job.validation ? { validation: job.validation.map((v) => (v ? 1 : 0)).join('') } : {}),
  };
  let store: ImageStore | null = null;
  let trainer: Trainer | null = null;
  try {
    say(`${describeSpec(spec)} at ${trainMpp} µm/px on ${e.adapterName}; ${images.length} image(s), ${mitoses} mitoses`);
    store = ImageStore.upload(e, images.map((im) => im.image));
    let ck: Checkpoint | null = null;
    if (job.resume) {
      if (existsSync(job.checkpoint)) {
        ck = decodeCheckpoint(readFileSync(job.checkpoint), job.checkpoint);
        // progressEvery changes no result: it may differ
        const cmpOpts = (o: TrainOptions) => ({ ...o, progressEvery: undefined }) as unknown as Record<string, unknown>;
        const diffs = [...runDifferences(ck.run, runInfo), ...runDifferences(cmpOpts(ck.options), cmpOpts(opts))];
        if (diffs.length) {
          throw new Error(`${job.checkpoint}: this checkpoint was made with other settings:\n  ${diffs.join('\n  ')}\nrun the original command with --resume, or remove the checkpoint to start again`);
        }
        say(`resuming from ${job.checkpoint} after epoch ${ck.state.epoch}${ck.state.finished ? ' (the run had finished)' : ''}`);
      } else {
        say(`no checkpoint at ${job.checkpoint}: starting from the beginning`);
      }
    }

    const save = async (state: TrainState, c: Omit<Checkpoint, 'state' | 'options' | 'run'>) => {
      await writeFileAtomic(job.checkpoint, encodeCheckpoint({ ...c, state, options: opts, run: runInfo }));
    };

    let base: { spec: NetSpec; umPerPixel: number; normalisation: Model['normalisation'] };
    let train: Checkpoint['train'];
    let val: Checkpoint['val'];
    let setInfo: Record<string, unknown>;
    if (ck) {
      base = { spec: ck.model.spec, umPerPixel: ck.model.umPerPixel, normalisation: ck.model.normalisation };
      train = ck.train;
      val = ck.val;
      setInfo = (ck.model.provenance?.trainingSet as Record<string, unknown>) ?? {};
      trainer = Trainer.resume(e, base, store, train, val, opts, ck.state);
    } else {
      const split = job.validation ? { isVal: job.validation, warning: undefined } : splitByPatient(images, s.valFraction, opts.seed);
      if (split.warning) say(`warning: ${split.warning}`);
      const normalisation = imageNormalisation(images.filter((_, i) => !split.isVal[i]).map((im) => im.image));
      base = { spec, umPerPixel: trainMpp, normalisation };
      let bar: Progress | null = null;
      const set = await buildTrainingSet(e, store, images, split.isVal, base, {
        radiusPx,
        samples,
        stage1Epochs,
        stage1MaxSamples: s.stage1Samples,
        valMaxSamples: valSamples,
        blueRatioDilatePx: s.blueRatio ? 10 / trainMpp : undefined,
        train: opts,
        seed: opts.seed,
      }, {
        onStage: say,
        onBatch: (p) => {
          if (p.batch === 1) bar = new Progress(`  Cd epoch ${p.epoch}/${stage1Epochs}`, p.batches);
          bar?.update(p.batch, batchInfo(p));
          if (p.batch === p.batches) bar?.done();
        },
        onEpoch: (r) => console.error(`  Cd ${epochLine(r, stage1Epochs, false)}`),
        onDense: (d, t) => {
          if (d === 1) bar = new Progress('  D(p)', t);
          bar?.update(d);
          if (d === t) bar?.done();
        },
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
    let bar: Progress | null = null;
    let bestSoFar = ck?.state.best?.valLoss ?? Infinity;
    const result = await t.run({
      onBatch: (p) => {
        if (p.batch === 1) bar = new Progress(`epoch ${p.epoch}/${p.epochs}`, p.batches);
        bar?.update(p.batch, batchInfo(p));
        if (p.batch === p.batches) bar?.done();
      },
      onEpoch: (r) => {
        const best = r.valLoss !== undefined && r.valLoss < bestSoFar;
        if (best) bestSoFar = r.valLoss!;
        console.error(epochLine(r, opts.epochs, best));
      },
      checkpoint: (state) => save(state, { model: { ...base, provenance: { trainingSet: setInfo } }, train, val }),
    });
    if (result.stoppedEarly) say(`stopped early: no lower validation loss in ${opts.patience} epochs`);

    const model: Model = { ...base, provenance: {}, params: result.params };

    // ---- the detection threshold of largest F1 on the validation images (the paper's t0 on T2) ----
    const valIds = new Set(Array.isArray(setInfo.valImages) ? (setInfo.valImages as string[]) : []);
    const valImages = images.filter((im) => valIds.has(im.id));
    let chosen: { threshold: number; f1: number; precision: number; recall: number; f1At035: number } | undefined;
    if (s.chooseThreshold && valImages.some((im) => im.mitoses.length)) {
      const per = await detectCandidates(e, model, valImages, 'choosing the threshold on the validation images');
      const radius = contestRadiusPx(base.umPerPixel);
      const best = bestThreshold(sweepThresholds(per, radius));
      const at = scoresAt(per, radius, 0.35);
      chosen = { threshold: best.threshold, f1: best.scores.f1, precision: best.scores.precision, recall: best.scores.recall, f1At035: at.f1 };
      say(
        `detection on ${valImages.length} validation image(s): best F1 ${f4(best.scores.f1)} (precision ${f4(best.scores.precision)}, ` +
          `recall ${f4(best.scores.recall)}) at t = ${best.threshold.toFixed(4)}; F1 ${f4(at.f1)} at t = 0.35`,
      );
    } else if (s.chooseThreshold && job.threshold === undefined) {
      say('no validation image with mitoses: the detection threshold is not chosen (detect uses 0.35)');
    }

    const b = result.best;
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
    const threshold = chosen?.threshold ?? job.threshold;
    const provenance: Provenance = {
      ...(threshold !== undefined ? { threshold } : {}),
      command: job.command,
      dataset: job.dataset,
      date: sourceDate(),
      epochs: result.history.length,
      bestEpoch: result.bestEpoch,
      seed: opts.seed,
      metrics,
      trainingSet: setInfo,
      training: { ...opts },
      software: 'mitoscan 0.1.0',
    };
    const summary =
      `${spec.name} at ${base.umPerPixel} µm/px, best epoch ${result.bestEpoch} of ${result.history.length}` +
      (b?.valLoss !== undefined ? ` (val loss ${f4(b.valLoss)}, acc ${f4(b.valAccuracy)}, AUC ${f4(b.valAuc)})` : '') +
      (chosen ? `; detection threshold ${chosen.threshold.toFixed(4)} (validation F1 ${f4(chosen.f1)})` : threshold !== undefined ? `; detection threshold ${threshold.toFixed(4)}` : '');
    return { model: { ...model, provenance }, bestEpoch: result.bestEpoch, epochs: result.history.length, summary };
  } finally {
    trainer?.destroy();
    store?.destroy();
  }
}

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, TRAIN_BOOLEANS);
  if (args.flags.has('help')) {
    console.log(USAGE);
    return;
  }
  checkFlags(args, [...TRAIN_FLAGS, 'out', 'checkpoint', 'resume', 'help']);
  const out = flagString(args, 'out');
  if (!out) throw new UsageError('--out <model file> is required');
  const settings = await parseTrainSettings(args);
  const checkpoint = flagString(args, 'checkpoint', `${out}.ckpt`)!;
  const resume = flagBoolean(args, 'resume');
  const data = await loadTrainingData(settings);
  const command = ['mitoscan', 'train', ...argv.filter((a) => a !== '--resume')].join(' ');
  const e: Engine = await createNodeEngine();
  try {
    const r = await trainOnImages(e, data.images, settings, { checkpoint, resume, command, dataset: data.description, fingerprint: data.fingerprint });
    await saveModel(out, r.model);
    console.log(`wrote ${out}: ${r.summary}`);
  } finally {
    e.destroy();
  }
}

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
// how the demonstration model (models/demo.mitoscan) is made. The real-tissue default model
// (models/default.mitoscan) is trained on AMi-Br crops and TUPAC16 patches: models/README.md.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Engine } from '../engine/engine.js';
import { createNodeEngine } from '../engine/node.js';
import { rescaleToMpp } from '../src/io/image.js';
import type { Model } from '../src/model/model-file.js';
import { tupacAuxPatient } from '../src/datasets/crops.js';
import { loadAmiBrCrops, loadPatchFolderImages } from '../src/node/crops.js';
import { loadDataset, type LayoutOption } from '../src/node/datasets.js';
import { checkOutputFile, readImageFile, writeFileAtomic } from '../src/node/files.js';
import { saveModel } from '../src/node/model-io.js';
import { detectCandidates, trainOnImages as trainFlow, type CheckpointStore, type ScoredImage, type Trained, type TrainFlowJob, type TrainFlowSettings } from '../src/train/flow.js';
import { SYNTHETIC_TRAIN_SEED_BASE, syntheticImages } from '../src/train/synthetic.js';
import { DEFAULT_STAIN_AUGMENT, trainOptions, type BatchProgress, type EpochRecord, type StainAugmentOptions, type TrainOptions } from '../src/train/trainer.js';
import { heldOutPatients, type TrainingImage } from '../src/train/training-set.js';
import { checkFlags, flagBoolean, flagMpp, flagNumber, flagString, parseArgs, UsageError, type ParsedArgs, positive, range, whole } from './args.js';
import { resolveSpec } from './spec-flag.js';
import { formatSeconds, Progress } from './progress.js';

/** The help text of the flags in TRAIN_FLAGS (shared with `mitoscan crossval`). */
export const TRAIN_OPTIONS_HELP = `data:
  <dataset-root...>          labelled data set folder(s) (layouts as in mitoscan eval)
  --layout auto|mitos2012|amida13|tupac16|tutorial|midog   folder layout (default auto)
  --mpp <µm/px>              resolution of the images (default: the layout's)
                             also: a folder with AMI-BR.csv (AMi-Br mitotic-figure crops) or with
                             mitosis/ and non-mitosis/ patch folders (TUPAC16 auxiliary patches): crops,
                             labelled only where a whole window fits (see --crop-mpp, --exclusion-um)
  --crop-mpp <µm/px>         resolution of crops and patch folders (default 0.25: 40x)
  --hold-out <f>             keep about this share of the patients (slides) out of training as a test
                             set, per data set (MIDOG21 / TUPAC16 ...); recorded in the model
  --hold-out-patients <a,b>  these patients too (e.g. TUPAC16:36,TUPAC16:62)
  --hold-out-seed <n>        which patients --hold-out draws (default 1)
  --keep-patients <a,b>      never in the test set, even when --hold-out draws them (e.g. the only
                             cases with labelled look-alikes, which training needs); the rest of the
                             draw stays as it was
  --synthetic N              train on N procedural H&E fields instead (how the demo model is made)
  --size <px>                side of the synthetic fields (default 512)
  --train-mpp <µm/px>        resolution to train at; images are rescaled (default 0.4912 for
                             compact20x and wide20x, 0.2456 otherwise); the model applies at this resolution
net and training set:
  --spec DNN1|DNN2|compact20x|wide20x|<spec.json>   the net (default DNN1)
  --samples <n>              final training set size (default 1000000)
  --stage1-epochs <n>        epochs of the first net Cd on Sd (default 2; 0 = uniform negatives)
  --stage1-samples <n>       at most n samples in Sd (default: all mitosis pixels + as many negatives)
  --positive-share <f>       at most this share of the final set are mitosis pixels (default 0.5; the
                             paper's set had 0.066): the rest are negatives drawn with weight D(p)
  --blue-ratio               negatives only inside the dilated blue-ratio nuclei mask (the tutorial)
  --exclusion-um <µm>        negatives only this far from every mitosis (default: d, the mitosis radius)
  --stain-augment <spec>     colour/stain augmentation per patch per epoch: 'default' (HED jitter 0.05,
                             brightness 0.1, contrast 0.2, saturation 0.2, scale 0.1, blur 0.5) or
                             key=value pairs, e.g. hed=0.05,brightness=0.1 (others 0); default none
  --stain-normalise          Reinhard stain normalisation of every image (the model records the target)
  --field-density <n>        choose the threshold for whole fields with n mitoses per mm² (false alarms
                             on the validation images weighted by their mitosis density over n); for
                             validation images that sample whole fields, not crops centred on mitoses
  --val-fraction <f>         share of patients held out for validation (default 0.2)
  --val-samples <n>          at most n validation samples (default samples / 4)
  --val-patients <a,b>       these patients are validation patients too (e.g. a case with labelled
                             look-alikes, so that early stopping and the threshold see them)
  --val-seed <n>             which patients --val-fraction draws (default: --seed); a second net for an
                             ensemble takes the first's, so both validate on the same patients
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
  --force                    replace an existing --out (and start a new checkpoint over an old one)
  --no-threshold             do not choose the detection threshold on the validation images
  --progress-every <n>       read the loss for the progress line every n batches (default 10)`;

/** The data, net, training-set and optimiser flags (shared with `mitoscan crossval`). */
export const TRAIN_FLAGS = [
  'layout', 'mpp', 'synthetic', 'size', 'train-mpp', 'spec', 'samples', 'stage1-epochs', 'stage1-samples', 'blue-ratio',
  'val-fraction', 'val-samples', 'positive-share', 'epochs', 'batch', 'optimizer', 'lr', 'lr-decay', 'momentum', 'weight-decay', 'balance',
  'no-augment', 'patience', 'seed', 'progress-every', 'no-threshold',
  'crop-mpp', 'hold-out', 'hold-out-patients', 'hold-out-seed', 'keep-patients', 'val-patients', 'val-seed', 'exclusion-um', 'stain-augment', 'stain-normalise', 'field-density',
];
export const TRAIN_BOOLEANS = ['blue-ratio', 'resume', 'force', 'no-augment', 'no-threshold', 'stain-normalise', 'help'];

/** Parses --stain-augment: 'default', 'none', or key=value pairs of StainAugmentOptions (missing keys 0). */
export function parseStainAugment(v: string): StainAugmentOptions | null {
  if (v === 'none') return null;
  if (v === 'default') return { ...DEFAULT_STAIN_AUGMENT };
  const o: StainAugmentOptions = { hed: 0, brightness: 0, contrast: 0, saturation: 0, scale: 0, blur: 0 };
  for (const part of v.split(',')) {
    const [k, x, ...more] = part.split('=');
    const n = Number(x);
    if (more.length || !Object.hasOwn(o, k) || x === undefined || x.trim() === '' || !Number.isFinite(n)) {
      throw new UsageError(`--stain-augment: '${part.slice(0, 40)}' is not key=number with a key of ${Object.keys(o).join(', ')} (or use 'default')`);
    }
    o[k as keyof StainAugmentOptions] = n;
  }
  return o;
}

export interface LoadedData {
  images: TrainingImage[];
  /** For the provenance. */
  description: string;
  /** Identifies the data in the checkpoint (a resumed run must see the same images). */
  fingerprint: unknown;
}

/** What a data-set folder holds: AMi-Br crops (AMI-BR.csv), class patch folders, or a labelled layout. */
function folderKind(root: string): 'amibr' | 'patches' | 'fields' {
  if (existsSync(join(root, 'AMI-BR.csv'))) return 'amibr';
  if (existsSync(join(root, 'mitosis')) && existsSync(join(root, 'non-mitosis'))) return 'patches';
  return 'fields';
}

async function loadImages(roots: string[], layout: LayoutOption, mpp: number | undefined, trainMpp: number, s: Pick<TrainSettings, 'spec' | 'cropMpp'>): Promise<LoadedData> {
  const images: TrainingImage[] = [];
  const fp: unknown[] = [];
  for (const [r, root] of roots.entries()) {
    const kind = layout === 'auto' ? folderKind(root) : 'fields';
    if (kind !== 'fields') {
      // crops: patients are slides named by their data set (MIDOG21:002, TUPAC16:27), the same in
      // every root, so that one slide's crops and patches stay on one side of every split
      let skipped = 0;
      const hooks = { onWarning: (file: string, reason: string) => (skipped++, console.error(`mitoscan train: warning: ${file}: ${reason}`)) };
      const cropMpp = s.cropMpp ?? 0.25;
      const loaded = kind === 'amibr'
        ? await loadAmiBrCrops(root, { trainMpp, cropMpp, windowSize: s.spec.input.size, ...hooks })
        : await loadPatchFolderImages(root, { trainMpp, mpp: cropMpp, windowSize: s.spec.input.size, patient: tupacAuxPatient, ...hooks });
      if (!loaded.length) throw new Error(`${root}: no usable crops found`);
      console.error(`mitoscan train: ${root}: ${loaded.length} ${kind === 'amibr' ? 'AMi-Br crops' : 'patches'} at ${cropMpp} µm/px${skipped ? `, ${skipped} skipped (above)` : ''}`);
      for (const im of loaded) {
        images.push(im);
        fp.push([r, im.id, im.patient, im.image.width, im.image.height, cropMpp, im.mitoses.map((c) => [c.x, c.y]), im.region]);
      }
      continue;
    }
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

/**
 * Keeps the test patients out: --hold-out-patients plus about --hold-out of the others per data
 * set (heldOutPatients), chosen before anything is trained. Returns the rest and the held-out list.
 */
function holdOut(data: LoadedData, s: TrainSettings): { data: LoadedData; heldOut?: { patients: string[]; images: number; mitoses: number; rule: string } } {
  const patients = [...new Set(data.images.map((im) => im.patient))].sort();
  const known = (flag: string, list: string[]) => {
    for (const p of list) if (!patients.includes(p)) throw new UsageError(`--${flag}: no image of patient '${p}' (patients look like ${patients.slice(0, 3).join(', ')})`);
  };
  known('hold-out-patients', s.holdOutPatients);
  known('keep-patients', s.keepPatients);
  known('val-patients', s.valPatients ?? []);
  for (const p of s.keepPatients) if (s.holdOutPatients.includes(p)) throw new UsageError(`patient '${p}' is in both --hold-out-patients and --keep-patients`);
  for (const p of s.valPatients ?? []) if (s.holdOutPatients.includes(p)) throw new UsageError(`patient '${p}' is in both --hold-out-patients and --val-patients`);
  if (!s.holdOut && !s.holdOutPatients.length) return { data };
  const fixed = new Set(s.holdOutPatients);
  // kept patients are removed after the draw, so the other drawn patients are those of the same seed without the flag
  const drawn = s.holdOut ? heldOutPatients(patients.filter((p) => !fixed.has(p)), s.holdOut, s.holdOutSeed) : [];
  const keep = new Set([...s.keepPatients, ...(s.valPatients ?? [])]);
  const test = new Set([...fixed, ...drawn.filter((p) => !keep.has(p))]);
  const rest = data.images.filter((im) => !test.has(im.patient));
  const out = data.images.filter((im) => test.has(im.patient));
  if (!rest.length) throw new UsageError('--hold-out: every patient was held out; nothing is left to train on');
  const kept = drawn.filter((p) => keep.has(p));
  const rule = `${s.holdOutPatients.length ? `${s.holdOutPatients.join(',')} + ` : ''}heldOutPatients(fraction ${s.holdOut}, seed ${s.holdOutSeed}) per data set${kept.length ? ` except ${kept.join(',')} (kept for training/validation)` : ''}`;
  console.error(`mitoscan train: held out as a test set: ${test.size} patient(s), ${out.length} image(s), ${out.reduce((a, im) => a + im.mitoses.length, 0)} mitoses (${rule})`);
  const fingerprint = { data: data.fingerprint, heldOut: [...test].sort() };
  return {
    data: { images: rest, description: `${data.description} (held out: ${[...test].sort().join(', ')})`, fingerprint },
    heldOut: { patients: [...test].sort(), images: out.length, mitoses: out.reduce((a, im) => a + im.mitoses.length, 0), rule },
  };
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
export interface TrainSettings extends TrainFlowSettings {
  /** µm/px of crops and patch folders. */
  cropMpp?: number;
  /** Share of patients kept out of training as a test set, and named ones. */
  holdOut: number;
  holdOutPatients: string[];
  holdOutSeed: number;
  /** Never held out, even when drawn. */
  keepPatients: string[];
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
  const synthetic = flagNumber(args, 'synthetic', 0, whole(1));
  const roots = args.positionals;
  if (synthetic && roots.length) throw new UsageError('give either dataset folders or --synthetic N, not both');
  if (!synthetic && !roots.length) throw new UsageError('no data: give a labelled dataset folder (or --synthetic N for procedural fields)');
  if (!synthetic && args.flags.has('size')) throw new UsageError('--size applies to --synthetic fields only');
  // a folder given twice would count its images twice (and could put one copy on each side of a split)
  const twice = roots.find((r, i) => roots.findIndex((q) => resolve(q) === resolve(r)) !== i);
  if (twice !== undefined) throw new UsageError(`${twice}: the same data folder is given twice; give each once`);
  const size = flagNumber(args, 'size', 512, whole(16, 8192));
  // the fields are made in memory before training: bound their pixels (4 GiB of RGBA)
  if (synthetic && synthetic * size ** 2 > 2 ** 30) {
    throw new UsageError(`--synthetic ${synthetic} fields of ${size}² px are more than 2^30 pixels (4 GiB in memory); make fewer or smaller fields`);
  }
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
      epochs: flagNumber(args, 'epochs', 30, whole(1)),
      batch: flagNumber(args, 'batch', 64, whole(1)),
      optimizer,
      lr: flagNumber(args, 'lr', 0.01, positive()),
      lrDecay: flagNumber(args, 'lr-decay', 0.95, range(0, 1, { upTo: true })),
      momentum: flagNumber(args, 'momentum', 0.9, range(0, 1, { from: true })),
      weightDecay: flagNumber(args, 'weight-decay', 1e-4, positive(true)),
      balance,
      augment: !flagBoolean(args, 'no-augment'),
      stain: args.flags.has('stain-augment') ? parseStainAugment(flagString(args, 'stain-augment')!) : null,
      patience: flagNumber(args, 'patience', 5, whole(0)),
      seed: flagNumber(args, 'seed', 1, whole()),
      progressEvery: flagNumber(args, 'progress-every', 10, whole(1)),
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const trainMpp = flagMpp(args, 'train-mpp') ?? (['compact20x', 'wide20x'].includes(spec.name) ? 0.4912 : 0.2456);
  return {
    spec,
    trainMpp,
    samples: flagNumber(args, 'samples', 1_000_000, whole(2)),
    stage1Epochs: flagNumber(args, 'stage1-epochs', 2, whole(0)),
    stage1Samples: stage1SamplesFlag === undefined ? undefined : flagNumber(args, 'stage1-samples', 0, whole(2)),
    valFraction: flagNumber(args, 'val-fraction', 0.2, range(0, 1, { from: true })),
    ...(args.flags.has('val-seed') ? { valSeed: flagNumber(args, 'val-seed', 1, whole()) } : {}),
    ...(args.flags.has('positive-share') ? { positiveShare: flagNumber(args, 'positive-share', 0.5, range(0, 0.5, { upTo: true })) } : {}),
    valSamples: valSamplesFlag === undefined ? undefined : flagNumber(args, 'val-samples', 0, whole(1)),
    blueRatio: flagBoolean(args, 'blue-ratio'),
    chooseThreshold: !flagBoolean(args, 'no-threshold'),
    opts,
    layout,
    mpp: mppFlag === undefined ? undefined : flagMpp(args),
    synthetic,
    size,
    roots,
    ...(args.flags.has('crop-mpp') ? { cropMpp: flagNumber(args, 'crop-mpp', 0.25, range(0.05, 10, { from: true, upTo: true })) } : {}),
    holdOut: flagNumber(args, 'hold-out', 0, range(0, 1, { from: true })),
    holdOutPatients: patientList(args, 'hold-out-patients'),
    holdOutSeed: flagNumber(args, 'hold-out-seed', 1, whole()),
    keepPatients: patientList(args, 'keep-patients'),
    ...(args.flags.has('val-patients') ? { valPatients: patientList(args, 'val-patients') } : {}),
    ...(args.flags.has('exclusion-um') ? { exclusionPx: flagNumber(args, 'exclusion-um', 0, range(0, 100, { upTo: true })) / trainMpp } : {}),
    ...(flagBoolean(args, 'stain-normalise') ? { stainNormalise: true } : {}),
    ...(args.flags.has('field-density') ? { fieldDensityPerMm2: flagNumber(args, 'field-density', 0, range(0, 1e4, { upTo: true })) } : {}),
  };
}

function patientList(args: ParsedArgs, flag: string): string[] {
  return (flagString(args, flag) ?? '').split(',').map((x) => x.trim()).filter(Boolean);
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
    data = await loadImages(s.roots, s.layout, s.mpp, s.trainMpp, s);
  }
  const mitoses = data.images.reduce((a, im) => a + im.mitoses.length, 0);
  if (!mitoses) throw new Error(`no mitoses found in the ${data.images.length} image(s) of ${data.description}: training needs labelled mitosis centroids`);
  return data;
}

/** One training run inside a command: where it checkpoints, how it logs, what it records. */
export interface TrainJob extends Omit<TrainFlowJob, 'checkpoint' | 'date'> {
  /** The checkpoint file (written atomically). */
  checkpoint: string;
  /** Start of every log line (default 'mitoscan train'). */
  tag?: string;
}

/** A file as a checkpoint store: read when it exists, written atomically. */
export function fileCheckpoint(path: string): CheckpointStore {
  return {
    name: path,
    load: async () => (existsSync(path) ? readFileSync(path) : null),
    save: (bytes) => writeFileAtomic(path, bytes),
  };
}

/** Runs the detector over `images` for a threshold sweep (src/train/flow.ts), with a progress bar. */
export function detectWithProgress(e: Engine, model: Model, images: readonly TrainingImage[], label: string): Promise<ScoredImage[]> {
  return detectCandidates(e, model, images, progressHook(label));
}

/** A (done, total, extra) callback drawing a progress bar: created at done = 0 or 1, closed at total. */
function progressHook(label: string): (done: number, total: number, extra?: string) => void {
  let bar: Progress | null = null;
  return (d, t, extra) => {
    if (d <= 1 && !bar) bar = new Progress(label, t);
    if (d > 0) bar?.update(d, extra);
    if (d === t) {
      bar?.done();
      bar = null;
    }
  };
}

/**
 * Trains one net on `images` (already at s.trainMpp) with src/train/flow.ts, logging to stderr
 * (lines prefixed with the tag, progress bars) and checkpointing to job.checkpoint.
 */
export async function trainOnImages(e: Engine, images: TrainingImage[], s: TrainSettings, job: TrainJob): Promise<Trained> {
  const tag = job.tag ?? 'mitoscan train';
  const say = (m: string) => console.error(`${tag}: ${m}`);
  let bar: Progress | null = null;
  const { checkpoint, tag: _, ...rest } = job;
  return trainFlow(e, images, s, { ...rest, checkpoint: fileCheckpoint(checkpoint), date: sourceDate() }, {
    onLog: say,
    onStage: say,
    onBatch: (p, phase) => {
      if (p.batch === 1) bar = new Progress(phase === 'cd' ? `  Cd epoch ${p.epoch}/${s.stage1Epochs}` : `epoch ${p.epoch}/${p.epochs}`, p.batches);
      bar?.update(p.batch, batchInfo(p));
      if (p.batch === p.batches) bar?.done();
    },
    onEpoch: (r, phase, info) => console.error(phase === 'cd' ? `  Cd ${epochLine(r, info.epochs, false)}` : epochLine(r, info.epochs, info.best)),
    onDense: progressHook('  D(p)'),
    onDetect: progressHook('choosing the threshold on the validation images'),
  });
}

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, TRAIN_BOOLEANS);
  if (args.flags.has('help')) {
    console.log(USAGE);
    return;
  }
  checkFlags(args, [...TRAIN_FLAGS, 'out', 'checkpoint', 'resume', 'force', 'help']);
  const out = flagString(args, 'out');
  if (!out) throw new UsageError('--out <model file> is required');
  const resume = flagBoolean(args, 'resume');
  const force = flagBoolean(args, 'force');
  const checkpoint = flagString(args, 'checkpoint', `${out}.ckpt`)!;
  if (resolve(checkpoint) === resolve(out)) throw new UsageError(`--checkpoint and --out are the same file (${resolve(out)}); the checkpoint needs its own, such as ${out}.ckpt`);
  // no silent overwrite: an existing model (or any file) at --out needs --force, unless --resume
  // continues a checkpoint (the run that will write it); a resume without one starts afresh
  const resuming = resume && existsSync(checkpoint);
  await checkOutputFile(out, '--out', resuming ? {} : { force });
  const settings = await parseTrainSettings(args);
  await checkOutputFile(checkpoint, '--checkpoint', resume ? {} : { force, ifExists: 'it holds an earlier run: add --resume to continue it, or --force to start over' });
  const { data, heldOut } = holdOut(await loadTrainingData(settings), settings);
  const command = ['mitoscan', 'train', ...argv.filter((a) => a !== '--resume')].join(' ');
  const e: Engine = await createNodeEngine();
  try {
    const r = await trainOnImages(e, data.images, settings, {
      checkpoint, resume, command, dataset: data.description, fingerprint: data.fingerprint,
      ...(heldOut ? { provenance: { heldOut } } : {}),
    });
    await saveModel(out, r.model);
    console.log(`wrote ${out}: ${r.summary}`);
  } finally {
    e.destroy();
  }
}

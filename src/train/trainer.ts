// The training loop (method.md §1, step 5; §2 for the tutorial's Adagrad): whole training images are
// uploaded to the GPU once, and every mini-batch is cut from them on the GPU (gatherPatches), each
// window with a fresh random rotation about its centre (bilinear) and a 50% chance of mirroring, per
// patch and per epoch; optionally (options.stain) also a random scale of the sampling grid and a
// colour/stain jitter (HED, brightness, contrast, saturation, blur: engine/ops/color.ts), drawn from
// a stream of their own (STREAM_STAIN) so that orders, angles and mirrors do not change. No patch files, no readback inside a step (the loss of every k-th batch is
// read for the progress report; the epoch's losses are summed on the GPU and read once).
//
// Epoch e (0-based):
//   order   = a shuffle of the training samples (plain), or batches of half positives and half
//             negatives (balanced: each class shuffled on its own, the smaller one cycled); the
//             last incomplete batch is dropped
//   lr_e    = lr * lrDecay^e
//   step    = SGD with momentum and weight decay (v = mu v - lr (g + wd w); w += v), or Adagrad
//             (h += q^2, w -= lr q / (sqrt(h) + eps), q = g + wd w)
//   then validation (no augmentation): mean cross-entropy, accuracy (p > 0.5), patch ROC AUC; the
//   weights with the lowest validation loss are kept (early stopping after `patience` epochs
//   without improvement). Without validation samples the last weights are the result.
//
// Repeatability: every random choice comes from makeRng(deriveSeed(seed, stream, epoch)), so the
// RNG state at an epoch boundary is just (seed, epoch), and the GPU kernels are deterministic (no
// atomics): a run stopped after any epoch and resumed from its state (`state()`, restored with
// `Trainer.resume`) ends bit for bit where the uninterrupted run does.
import type { Engine, Tensor } from '../../engine/engine.js';
import { STAIN_PARAMS, stainAugment } from '../../engine/ops/color.js';
import { gatherPatches, packRgba, type PatchRequest } from '../../engine/ops/patches.js';
import { sumAll } from '../../engine/ops/reduce.js';
import { softmaxCrossEntropy } from '../../engine/ops/softmax.js';
import { aucRoc } from '../eval/score.js';
import { maxTensorBytes, type RgbaImage } from '../model/dense.js';
import type { LayerParams, Model, Normalisation } from '../model/model-file.js';
import { Network, releaseParams, type OptimizerState } from '../model/network.js';
import type { NetSpec } from '../model/spec.js';
import { makeRng, shuffle, type Sample } from './sampling.js';

export type { Sample };

export type OptimizerName = 'sgd' | 'adagrad';

export interface TrainOptions {
  /** Epochs to run at most (early stopping may end sooner). */
  epochs: number;
  /** Patches per mini-batch (the last incomplete batch of an epoch is dropped). */
  batch: number;
  optimizer: OptimizerName;
  /** Learning rate of epoch 0. */
  lr: number;
  /** lr of epoch e = lr * lrDecay^e. */
  lrDecay: number;
  /** SGD momentum (ignored by Adagrad). */
  momentum: number;
  weightDecay: number;
  /** Adagrad's epsilon (ignored by SGD). */
  adagradEps: number;
  /** 'plain': shuffle the set as it is; 'balanced': half positives, half negatives per batch. */
  balance: 'plain' | 'balanced';
  /** Random rotation (any angle, bilinear) and mirroring (p = 1/2) of every patch every epoch. */
  augment: boolean;
  /** Stop after this many epochs without a lower validation loss (0: never stop early). */
  patience: number;
  seed: number;
  /** Read the loss for the progress report every this many batches. */
  progressEvery: number;
  /** Colour/stain augmentation drawn per patch per epoch (undefined/null: none; needs augment). */
  stain?: StainAugmentOptions | null;
}

/** Ranges of the per-patch colour/stain augmentation (engine/ops/color.ts stainAugment). */
export interface StainAugmentOptions {
  /** HED jitter: alpha ~ U(1-hed, 1+hed), beta ~ U(-hed, hed) per channel (Tellez et al.: 0.05). */
  hed: number;
  /** Additive brightness U(-b, b) * 255. */
  brightness: number;
  /** Contrast factor U(1-c, 1+c). */
  contrast: number;
  /** Saturation factor U(1-s, 1+s). */
  saturation: number;
  /** Scale jitter: sampling grid scaled by U(1-z, 1+z). */
  scale: number;
  /** Blur weight U(0, blur). */
  blur: number;
}

export const DEFAULT_STAIN_AUGMENT: Readonly<StainAugmentOptions> = Object.freeze({ hed: 0.05, brightness: 0.1, contrast: 0.2, saturation: 0.2, scale: 0.1, blur: 0.5 });

/** Identity normalisation: patches gathered in 0..255 for stainAugment. */
const RAW_RGB = Object.freeze({ scale: 1, mean: [0, 0, 0] as const, std: [1, 1, 1] as const });

export const DEFAULT_TRAIN_OPTIONS: Readonly<TrainOptions> = Object.freeze({
  epochs: 30,
  batch: 64,
  optimizer: 'sgd',
  lr: 0.01,
  lrDecay: 0.95,
  momentum: 0.9,
  weightDecay: 1e-4,
  adagradEps: 1e-8,
  balance: 'plain',
  augment: true,
  patience: 5,
  seed: 1,
  progressEvery: 10,
  stain: null,
});

/** Checks options (a message naming the bad one) and fills in defaults. */
export function trainOptions(o: Partial<TrainOptions> = {}): TrainOptions {
  const r: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) };
  const posInt = (k: keyof TrainOptions) => {
    const v = r[k] as number;
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`train: ${k} must be a positive integer, got ${v}`);
  };
  posInt('epochs');
  posInt('batch');
  posInt('progressEvery');
  if (!Number.isInteger(r.patience) || r.patience < 0) throw new RangeError(`train: patience must be an integer >= 0, got ${r.patience}`);
  if (!(r.lr > 0) || !Number.isFinite(r.lr)) throw new RangeError(`train: lr must be > 0, got ${r.lr}`);
  if (!(r.lrDecay > 0 && r.lrDecay <= 1)) throw new RangeError(`train: lrDecay must be in (0, 1], got ${r.lrDecay}`);
  if (!(r.momentum >= 0 && r.momentum < 1)) throw new RangeError(`train: momentum must be in [0, 1), got ${r.momentum}`);
  if (!(r.weightDecay >= 0) || !Number.isFinite(r.weightDecay)) throw new RangeError(`train: weightDecay must be >= 0, got ${r.weightDecay}`);
  if (!(r.adagradEps > 0)) throw new RangeError(`train: adagradEps must be > 0, got ${r.adagradEps}`);
  if (r.optimizer !== 'sgd' && r.optimizer !== 'adagrad') throw new RangeError(`train: optimizer must be sgd or adagrad, got ${String(r.optimizer)}`);
  if (r.balance !== 'plain' && r.balance !== 'balanced') throw new RangeError(`train: balance must be plain or balanced, got ${String(r.balance)}`);
  if (!Number.isInteger(r.seed)) throw new RangeError(`train: seed must be an integer, got ${r.seed}`);
  if (r.stain) {
    const st = r.stain;
    // hed and scale below 1 keep alpha and the grid scale positive; the others are at most 1
    for (const k of ['hed', 'brightness', 'contrast', 'saturation', 'scale', 'blur'] as const) {
      const v = st[k];
      const open = k === 'hed' || k === 'scale';
      if (typeof v !== 'number' || !(v >= 0) || (open ? !(v < 1) : !(v <= 1))) {
        throw new RangeError(`train: stain.${k} must be a number in [0, 1${open ? ')' : ']'}, got ${v}`);
      }
    }
    r.stain = { hed: st.hed, brightness: st.brightness, contrast: st.contrast, saturation: st.saturation, scale: st.scale, blur: st.blur };
  } else r.stain = null;
  return r;
}

/** A 32-bit seed for an independent random stream, from a run seed and stream indices (a hash). */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = Math.imul((seed | 0) ^ 0x3c6ef372, 0x9e3779b1) >>> 0;
  for (const p of [...parts, parts.length]) {
    h ^= Math.imul(p | 0, 0x85ebca6b) + ((p / 4294967296) | 0);
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** Stream numbers for deriveSeed (the training-set builder uses its own). */
export const STREAM_EPOCH = 1;
/** The per-patch stain/colour/scale draws of an epoch (a stream of their own, so that the order,
 * angles and mirrors of a run are the same with and without stain augmentation). */
export const STREAM_STAIN = 2;

export interface EpochRecord {
  /** 1-based number of the epoch. */
  epoch: number;
  lr: number;
  trainLoss: number;
  valLoss?: number;
  valAccuracy?: number;
  valAuc?: number;
  /** Wall-clock seconds of the epoch (training and validation). */
  seconds: number;
  patchesPerSecond: number;
}

export interface BatchProgress {
  /** 1-based epoch and batch numbers. */
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  /** Mean loss of the last batch whose loss was read (every progressEvery batches), NaN before. */
  loss: number;
  /** Training patches per second in this epoch, measured when the loss was last read (NaN before). */
  patchesPerSecond: number;
}

/** Everything needed to continue a run exactly (see src/train/checkpoint.ts). */
export interface TrainState {
  /** Epochs completed. */
  epoch: number;
  params: LayerParams[];
  optimizer: OptimizerState | null;
  /** The weights of the lowest validation loss so far (null without validation or before epoch 1). */
  best: { params: LayerParams[]; valLoss: number; epoch: number } | null;
  /** Epochs since the validation loss last went down. */
  badEpochs: number;
  history: EpochRecord[];
  /** True when the run is over (all epochs, or stopped early). */
  finished: boolean;
  stoppedEarly: boolean;
}

export interface TrainHooks {
  onBatch?: (p: BatchProgress) => void;
  onEpoch?: (r: EpochRecord, t: Trainer) => void;
  /** Called after every epoch with the state to save (awaited before the next epoch starts). */
  checkpoint?: (s: TrainState) => Promise<void> | void;
  /** Checked between batches: when it returns true, the epoch is abandoned (no state change is kept). */
  shouldStop?: () => boolean;
}

export interface TrainResult {
  /** The best validation weights (the last ones without validation). */
  params: LayerParams[];
  /** 1-based epoch those weights come from. */
  bestEpoch: number;
  history: EpochRecord[];
  stoppedEarly: boolean;
  /** The record of bestEpoch. */
  best: EpochRecord | undefined;
}

export interface ValidationResult {
  loss: number;
  accuracy: number;
  auc: number;
  /** Mitosis probability of every validation sample, in order. */
  probs: Float32Array;
}

/** Where an image lives on the GPU: which packed tensor, and its first pixel there. */
interface Slot {
  group: number;
  offset: number;
  width: number;
  height: number;
}

/**
 * Training images on the GPU, packed RGBA (one u32 per pixel), concatenated into as few tensors as
 * the adapter's buffer limit allows. Upload once, share between trainers, destroy() when done.
 */
export class ImageStore {
  private destroyed = false;
  private constructor(
    readonly e: Engine,
    readonly groups: Tensor[],
    readonly slots: readonly Slot[],
  ) {}

  static upload(e: Engine, images: readonly RgbaImage[], opts: { maxPixelsPerTensor?: number } = {}): ImageStore {
    const maxPixels = Math.min(Math.floor(maxTensorBytes(e) / 4), opts.maxPixelsPerTensor ?? Infinity);
    const slots: Slot[] = [];
    const sizes: number[] = [];
    images.forEach((im, i) => {
      const n = im.width * im.height;
      if (im.data.length !== 4 * n) throw new Error(`training image ${i}: ${im.data.length} bytes for ${im.width}x${im.height} RGBA`);
      if (n > maxPixels) {
        throw new Error(
          `training image ${i} (${im.width}x${im.height}) is larger than this adapter's buffer limit ` +
            `(${maxPixels} pixels); cut it into parts or train at a coarser --train-mpp`,
        );
      }
      if (!sizes.length || sizes[sizes.length - 1] + n > maxPixels) sizes.push(0);
      slots.push({ group: sizes.length - 1, offset: sizes[sizes.length - 1], width: im.width, height: im.height });
      sizes[sizes.length - 1] += n;
    });
    const groups = sizes.map((total, g) => {
      const packed = new Uint32Array(Math.max(1, total));
      images.forEach((im, i) => {
        if (slots[i].group === g) packed.set(packRgba(im.data), slots[i].offset);
      });
      return e.tensor([packed.length], packed);
    });
    return new ImageStore(e, groups, slots);
  }

  get count(): number {
    return this.slots.length;
  }

  /**
   * Cuts the windows of `samples` ([N, 3, S, S], in the order given). Patches from several packed
   * tensors are gathered per tensor and copied into place.
   */
  gather(samples: readonly Sample[], S: number, norm: Normalisation, aug?: { angle: Float64Array; mirror: Uint8Array; scale?: Float64Array }): Tensor {
    if (this.destroyed) throw new Error('ImageStore: used after destroy()');
    const req = (s: Sample, k: number): PatchRequest => {
      const slot = this.slots[s.image];
      if (!slot) throw new Error(`training sample ${k} names image ${s.image}, there are ${this.slots.length}`);
      const r: PatchRequest = { offset: slot.offset, width: slot.width, height: slot.height, cx: s.x, cy: s.y, angle: aug ? aug.angle[k] : 0, mirror: aug ? aug.mirror[k] === 1 : false };
      if (aug?.scale) r.scale = aug.scale[k];
      return r;
    };
    if (this.groups.length === 1) return gatherPatches(this.e, this.groups[0], samples.map(req), S, norm);
    const e = this.e;
    const out = e.empty([samples.length, 3, S, S]);
    const per = 3 * S * S;
    for (let g = 0; g < this.groups.length; g++) {
      const ks: number[] = [];
      samples.forEach((s, k) => {
        if (this.slots[s.image]?.group === g) ks.push(k);
      });
      if (!ks.length) continue;
      const part = gatherPatches(e, this.groups[g], ks.map((k) => req(samples[k], k)), S, norm);
      // runs of consecutive batch positions copy in one go
      for (let i = 0; i < ks.length; ) {
        let j = i;
        while (j + 1 < ks.length && ks[j + 1] === ks[j] + 1) j++;
        e.copy(part, out, i * per, ks[i] * per, (j - i + 1) * per);
        i = j + 1;
      }
      part.release();
    }
    return out;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const t of this.groups) t.release();
  }
}

/** The model settings a trainer needs besides the weights. */
export interface TrainModel {
  spec: NetSpec;
  normalisation: Normalisation;
}

export class Trainer {
  readonly opts: TrainOptions;
  readonly net: Network;
  private st: Omit<TrainState, 'params' | 'optimizer'>;
  private readonly posIdx: number[] = [];
  private readonly negIdx: number[] = [];

  private constructor(
    readonly e: Engine,
    readonly model: TrainModel,
    readonly images: ImageStore,
    readonly train: readonly Sample[],
    readonly val: readonly Sample[],
    options: Partial<TrainOptions>,
    params: readonly LayerParams[],
  ) {
    this.opts = trainOptions(options);
    if (!train.length) throw new Error('train: no training samples');
    train.forEach((s, i) => (s.label === 1 ? this.posIdx : this.negIdx).push(i));
    if (this.opts.balance === 'balanced' && (!this.posIdx.length || !this.negIdx.length)) {
      throw new Error('train: balanced batches need both positive and negative samples');
    }
    for (const [what, set] of [['training', train], ['validation', val]] as const)
      set.forEach((s, i) => {
        const slot = images.slots[s.image];
        if (!slot || !Number.isInteger(s.x) || !Number.isInteger(s.y) || s.x < 0 || s.y < 0 || s.x >= slot.width || s.y >= slot.height || (s.label !== 0 && s.label !== 1)) {
          throw new Error(`train: ${what} sample ${i} ${JSON.stringify(s)} is not a labelled pixel of one of the ${images.count} images`);
        }
      });
    this.net = new Network(e, model.spec, params);
    this.st = { epoch: 0, best: null, badEpochs: 0, history: [], finished: false, stoppedEarly: false };
  }

  /** A trainer starting from `params` (e.g. initModel(spec, seed).params). */
  static create(e: Engine, model: TrainModel & { params: readonly LayerParams[] }, images: ImageStore, train: readonly Sample[], val: readonly Sample[], options: Partial<TrainOptions> = {}): Trainer {
    return new Trainer(e, model, images, train, val, options, model.params);
  }

  /** A trainer continuing from a saved state (same images, samples and options as the run that saved it). */
  static resume(e: Engine, model: TrainModel, images: ImageStore, train: readonly Sample[], val: readonly Sample[], options: Partial<TrainOptions>, state: TrainState): Trainer {
    const t = new Trainer(e, model, images, train, val, options, state.params);
    if (state.optimizer && state.optimizer.kind !== t.opts.optimizer) {
      t.destroy();
      throw new Error(`train: the saved state is for ${state.optimizer.kind}, the options say ${t.opts.optimizer}`);
    }
    t.net.writeOptimizerState(state.optimizer);
    t.st = {
      epoch: state.epoch,
      best: state.best,
      badEpochs: state.badEpochs,
      history: state.history.map((h) => ({ ...h })),
      finished: state.finished,
      stoppedEarly: state.stoppedEarly,
    };
    return t;
  }

  get epoch(): number {
    return this.st.epoch;
  }

  get finished(): boolean {
    return this.st.finished;
  }

  get history(): readonly EpochRecord[] {
    return this.st.history;
  }

  /** Learning rate of epoch e (0-based). */
  lrAt(e: number): number {
    return this.opts.lr * Math.pow(this.opts.lrDecay, e);
  }

  /** Batch size actually used (the batch option, or the whole set when it is smaller). */
  get batchSize(): number {
    return Math.min(this.opts.batch, this.train.length);
  }

  get batchesPerEpoch(): number {
    return Math.floor(this.train.length / this.batchSize);
  }

  /** Sample indices (into the training samples) of epoch `epoch` (0-based), in batch order. */
  batchOrder(epoch: number): number[] {
    return this.epochOrder(makeRng(deriveSeed(this.opts.seed, STREAM_EPOCH, epoch)));
  }

  /** Sample indices of one epoch, in batch order (batches * B of them); the first draws of `rng`. */
  private epochOrder(rng: () => number): number[] {
    const B = this.batchSize;
    const n = this.batchesPerEpoch * B;
    if (this.opts.balance === 'plain') {
      return shuffle(Array.from({ length: this.train.length }, (_, i) => i), rng).slice(0, n);
    }
    const pos = shuffle(this.posIdx.slice(), rng);
    const neg = shuffle(this.negIdx.slice(), rng);
    let ip = 0;
    let ineg = 0;
    const out: number[] = [];
    const nPos = B >> 1;
    for (let b = 0; b < this.batchesPerEpoch; b++) {
      for (let k = 0; k < nPos; k++) {
        if (ip === pos.length) (shuffle(pos, rng), (ip = 0));
        out.push(pos[ip++]);
      }
      for (let k = nPos; k < B; k++) {
        if (ineg === neg.length) (shuffle(neg, rng), (ineg = 0));
        out.push(neg[ineg++]);
      }
    }
    return out;
  }

  /** Runs one training epoch; returns the mean training loss, or null when stopped by hooks.shouldStop. */
  private async trainEpoch(hooks: TrainHooks): Promise<{ loss: number; patches: number; seconds: number } | null> {
    const e = this.e;
    const o = this.opts;
    const epoch = this.st.epoch;
    const rng = makeRng(deriveSeed(o.seed, STREAM_EPOCH, epoch));
    const order = this.epochOrder(rng);
    const B = this.batchSize;
    const batches = this.batchesPerEpoch;
    const S = this.model.spec.input.size;
    const lr = this.lrAt(epoch);
    const sums = e.zeros([batches]);
    const t0 = performance.now();
    let lastLoss = NaN;
    let rate = NaN;
    const batchSamples: Sample[] = new Array(B);
    const labels = new Uint32Array(B);
    const angle = new Float64Array(B);
    const mirror = new Uint8Array(B);
    const stain = o.augment ? o.stain : null;
    const stainRng = stain ? makeRng(deriveSeed(o.seed, STREAM_STAIN, epoch)) : null;
    const scale = new Float64Array(B);
    const stainParams = new Float32Array(B * STAIN_PARAMS);
    try {
      for (let b = 0; b < batches; b++) {
        if (hooks.shouldStop?.()) return null;
        for (let k = 0; k < B; k++) {
          const s = this.train[order[b * B + k]];
          batchSamples[k] = s;
          labels[k] = s.label;
          if (o.augment) {
            angle[k] = rng() * 2 * Math.PI;
            mirror[k] = rng() < 0.5 ? 1 : 0;
          }
          if (stain && stainRng) scale[k] = drawStain(stain, stainRng, stainParams, k);
        }
        let x: Tensor;
        if (stain) {
          const raw = this.images.gather(batchSamples, S, RAW_RGB, { angle, mirror, scale });
          x = stainAugment(e, raw, stainParams, this.model.normalisation);
          raw.release();
        } else x = this.images.gather(batchSamples, S, this.model.normalisation, o.augment ? { angle, mirror } : undefined);
        const lt = e.tensor([B], labels);
        const r = this.net.lossAndGradients(x, lt);
        if (o.optimizer === 'sgd') this.net.sgdStep(r.grads, { lr, momentum: o.momentum, weightDecay: o.weightDecay });
        else this.net.adagradStep(r.grads, { lr, eps: o.adagradEps, weightDecay: o.weightDecay });
        const s = sumAll(e, r.loss);
        e.copy(s, sums, 0, b, 1);
        releaseParams(r.grads);
        r.loss.release();
        r.probs.release();
        x.release();
        lt.release();
        if ((b + 1) % o.progressEvery === 0 || b === batches - 1) {
          // the read waits for the GPU: the rate is measured here, over finished work
          lastLoss = (await s.read())[0] / B;
          rate = ((b + 1) * B) / Math.max((performance.now() - t0) / 1000, 1e-9);
        }
        s.release();
        hooks.onBatch?.({ epoch: epoch + 1, epochs: o.epochs, batch: b + 1, batches, loss: lastLoss, patchesPerSecond: rate });
      }
      const all = await sums.read();
      let total = 0;
      for (const v of all) total += v;
      return { loss: total / (batches * B), patches: batches * B, seconds: (performance.now() - t0) / 1000 };
    } finally {
      sums.release();
    }
  }

  /** Loss, accuracy and ROC AUC of the current weights on the validation samples (no augmentation). */
  async validate(samples: readonly Sample[] = this.val): Promise<ValidationResult> {
    const e = this.e;
    const n = samples.length;
    if (!n) return { loss: NaN, accuracy: NaN, auc: NaN, probs: new Float32Array(0) };
    const B = this.batchSize;
    const S = this.model.spec.input.size;
    const lossAll = e.empty([n]);
    const probAll = e.empty([n * 2]);
    const batch: Sample[] = new Array(B);
    const labels = new Uint32Array(B);
    try {
      for (let i = 0; i < n; i += B) {
        const m = Math.min(B, n - i);
        // pad the last batch with its first sample (one batch size: one set of compiled kernels)
        for (let k = 0; k < B; k++) {
          batch[k] = samples[i + (k < m ? k : 0)];
          labels[k] = batch[k].label;
        }
        const x = this.images.gather(batch, S, this.model.normalisation);
        const lt = e.tensor([B], labels);
        const z = this.net.logits(x);
        const ce = softmaxCrossEntropy(e, z, lt);
        e.copy(ce.loss, lossAll, 0, i, m);
        e.copy(ce.probs, probAll, 0, 2 * i, 2 * m);
        for (const t of [x, lt, z, ce.loss, ce.probs, ce.grad]) t.release();
      }
      const loss = await lossAll.read();
      const pr = await probAll.read();
      let sum = 0;
      let correct = 0;
      const probs = new Float32Array(n);
      const lab = new Uint8Array(n);
      for (let k = 0; k < n; k++) {
        sum += loss[k];
        probs[k] = pr[2 * k + 1];
        lab[k] = samples[k].label;
        if ((probs[k] > 0.5 ? 1 : 0) === lab[k]) correct++;
      }
      return { loss: sum / n, accuracy: correct / n, auc: aucRoc(probs, lab), probs };
    } finally {
      lossAll.release();
      probAll.release();
    }
  }

  /** The state after the last completed epoch (reads the weights and the optimizer's state back). */
  async state(): Promise<TrainState> {
    return {
      ...this.st,
      history: this.st.history.map((h) => ({ ...h })),
      params: await this.net.readWeights(),
      optimizer: await this.net.readOptimizerState(),
    };
  }

  /**
   * Trains until the last epoch or early stopping. Resumable: a trainer made by `resume` from a
   * saved state continues with the next epoch. Returns the best weights.
   */
  async run(hooks: TrainHooks = {}): Promise<TrainResult> {
    const o = this.opts;
    while (!this.st.finished) {
      const t0 = performance.now();
      const ep = this.st.epoch;
      const tr = await this.trainEpoch(hooks);
      if (!tr) throw new TrainingStopped(ep);
      if (!Number.isFinite(tr.loss)) {
        throw new Error(`train: the training loss became ${tr.loss} in epoch ${ep + 1}; lower the learning rate (now ${this.lrAt(ep)})`);
      }
      const rec: EpochRecord = { epoch: ep + 1, lr: this.lrAt(ep), trainLoss: tr.loss, seconds: 0, patchesPerSecond: tr.patches / tr.seconds };
      if (this.val.length) {
        const v = await this.validate();
        rec.valLoss = v.loss;
        rec.valAccuracy = v.accuracy;
        rec.valAuc = v.auc;
        if (!this.st.best || v.loss < this.st.best.valLoss) {
          this.st.best = { params: await this.net.readWeights(), valLoss: v.loss, epoch: ep + 1 };
          this.st.badEpochs = 0;
        } else this.st.badEpochs++;
      }
      rec.seconds = (performance.now() - t0) / 1000;
      this.st.history.push(rec);
      this.st.epoch = ep + 1;
      if (o.patience > 0 && this.val.length && this.st.badEpochs >= o.patience && this.st.epoch < o.epochs) {
        this.st.finished = true;
        this.st.stoppedEarly = true;
      }
      if (this.st.epoch >= o.epochs) this.st.finished = true;
      hooks.onEpoch?.(rec, this);
      if (hooks.checkpoint) await hooks.checkpoint(await this.state());
    }
    return this.result();
  }

  /** The result so far: the best validation weights (or the current ones without validation). */
  async result(): Promise<TrainResult> {
    const best = this.st.best;
    const bestEpoch = best ? best.epoch : this.st.epoch;
    return {
      params: best ? best.params : await this.net.readWeights(),
      bestEpoch,
      history: this.st.history.map((h) => ({ ...h })),
      stoppedEarly: this.st.stoppedEarly,
      best: this.st.history.find((h) => h.epoch === bestEpoch),
    };
  }

  /** Releases the network (not the image store, which the caller owns). */
  destroy(): void {
    this.net.destroy();
  }
}

/**
 * One patch's stain augmentation: writes its 12 stainAugment params at patch k of `params` and
 * returns its sampling-grid scale. Draw order: alphaH, alphaE, alphaD, betaH, betaE, betaD,
 * brightness, contrast, saturation, blur, scale (11 draws of `rng`).
 */
export function drawStain(o: StainAugmentOptions, rng: () => number, params: Float32Array, k: number): number {
  const u = (lo: number, hi: number) => lo + (hi - lo) * rng();
  const p = k * STAIN_PARAMS;
  for (let c = 0; c < 3; c++) params[p + c] = u(1 - o.hed, 1 + o.hed);
  for (let c = 0; c < 3; c++) params[p + 3 + c] = u(-o.hed, o.hed);
  params[p + 6] = u(-o.brightness, o.brightness) * 255;
  params[p + 7] = u(1 - o.contrast, 1 + o.contrast);
  params[p + 8] = u(1 - o.saturation, 1 + o.saturation);
  params[p + 9] = u(0, o.blur);
  params[p + 10] = 0;
  params[p + 11] = 0;
  return u(1 - o.scale, 1 + o.scale);
}

/** Thrown by Trainer.run when hooks.shouldStop asked to stop mid-epoch. */
export class TrainingStopped extends Error {
  constructor(readonly epoch: number) {
    super(`training stopped during epoch ${epoch + 1}`);
    this.name = 'TrainingStopped';
  }
}

/** Per-channel mean and standard deviation of the pixels of `images` (0..255 -> scaled by 1/255):
 * the tutorial's mean subtraction, as a model normalisation. */
export function imageNormalisation(images: readonly RgbaImage[]): Normalisation {
  const sum = [0, 0, 0];
  const sq = [0, 0, 0];
  let n = 0;
  for (const im of images) {
    const d = im.data;
    for (let i = 0; i < d.length; i += 4)
      for (let c = 0; c < 3; c++) {
        sum[c] += d[i + c];
        sq[c] += d[i + c] * d[i + c];
      }
    n += d.length / 4;
  }
  if (!n) throw new Error('imageNormalisation: no pixels');
  const mean = sum.map((s) => s / n);
  const std = sq.map((s, c) => Math.sqrt(Math.max(s / n - mean[c] * mean[c], 1)));
  // rounded, so that the model file shows readable numbers (any value works)
  const r = (v: number) => Math.round(v * 1e4) / 1e4;
  return { scale: 1 / 255, mean: [r(mean[0] / 255), r(mean[1] / 255), r(mean[2] / 255)], std: [r(std[0] / 255), r(std[1] / 255), r(std[2] / 255)] };
}

/** A full Model from a training result. */
export function resultModel(base: Omit<Model, 'params'>, params: LayerParams[]): Model {
  return { ...base, params };
}

// The training loop on a tiny learnable task (bright disks on a noisy background, a 9x9 net):
// it learns, it is repeatable bit for bit from a seed, a state saved after any epoch (through the
// checkpoint file format) resumes to exactly the uninterrupted result (SGD and Adagrad), early
// stopping keeps the best validation weights, balanced batches are balanced, and patches from
// several packed image tensors equal those from one.
import { describe, expect, it } from 'vitest';
import type { RgbaImage } from '../src/model/dense.js';
import { initModel, type LayerParams } from '../src/model/model-file.js';
import { Network, readParams, releaseParams } from '../src/model/network.js';
import type { NetSpec } from '../src/model/spec.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/train/checkpoint.js';
import { makeRng, type Sample } from '../src/train/sampling.js';
import { DEFAULT_STAIN_AUGMENT, DEFAULT_TRAIN_OPTIONS, deriveSeed, drawStain, ImageStore, Trainer, trainOptions, type TrainOptions } from '../src/train/trainer.js';
import { useEngine } from './helpers/gpu.js';

const ctx = useEngine();

const spec: NetSpec = {
  name: 'tiny9',
  input: { channels: 3, size: 9 },
  // 9 -C2-> 8 -MP-> 4 -> FC 8 -> FC 2
  layers: [{ type: 'conv', maps: 4, k: 2 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 8 }, { type: 'fc', units: 2 }],
  activation: 'tanh',
};
const norm = { scale: 1 / 255, mean: [0.5, 0.5, 0.5] as const, std: [0.5, 0.5, 0.5] as const };

/** A noisy image with bright disks (radius 2.5) at `centres`. */
function image(w: number, h: number, centres: { x: number; y: number }[], seed: number): RgbaImage {
  const r = makeRng(seed);
  const data = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    const v = 60 + 60 * r();
    data.set([v, v * 0.8, v * 1.1, 255], 4 * i);
  }
  for (const c of centres)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        if ((x - c.x) ** 2 + (y - c.y) ** 2 < 6.25) data.set([230, 200, 240, 255], 4 * (y * w + x));
  return { width: w, height: h, data };
}

function dataset(): { images: RgbaImage[]; train: Sample[]; val: Sample[] } {
  const r = makeRng(5);
  const images: RgbaImage[] = [];
  const train: Sample[] = [];
  const val: Sample[] = [];
  for (let k = 0; k < 3; k++) {
    const centres = Array.from({ length: 4 }, (_, i) => ({ x: 6 + ((i * 11 + k * 5) % 24), y: 6 + ((i * 7 + k * 3) % 24) }));
    images.push(image(36, 36, centres, 10 + k));
    const set = k < 2 ? train : val;
    for (const c of centres) set.push({ image: k, x: c.x, y: c.y, label: 1 }, { image: k, x: c.x + 1, y: c.y, label: 1 });
    for (let n = 0; n < 10; n++) {
      const x = Math.floor(r() * 36), y = Math.floor(r() * 36);
      if (centres.every((c) => (x - c.x) ** 2 + (y - c.y) ** 2 > 30)) set.push({ image: k, x, y, label: 0 });
    }
  }
  return { images, train, val };
}

const OPTS: Partial<TrainOptions> = { batch: 8, lr: 0.05, epochs: 4, patience: 0, seed: 7, progressEvery: 2 };

function bits(ps: LayerParams[]): number[] {
  return ps.flatMap((p) => [...new Uint32Array(p.weight.buffer.slice(p.weight.byteOffset, p.weight.byteOffset + p.weight.byteLength)), ...new Uint32Array(p.bias.slice().buffer)]);
}

async function trainFor(opts: Partial<TrainOptions>, d = dataset()) {
  const store = ImageStore.upload(ctx.e, d.images);
  const t = Trainer.create(ctx.e, { spec, normalisation: norm, params: initModel(spec, 3).params }, store, d.train, d.val, opts);
  try {
    return await t.run();
  } finally {
    t.destroy();
    store.destroy();
  }
}

describe('Trainer', () => {
  it('checks its options and states the defaults', () => {
    expect(trainOptions()).toEqual({ ...DEFAULT_TRAIN_OPTIONS });
    expect(DEFAULT_TRAIN_OPTIONS.lrDecay).toBe(0.95);
    expect(() => trainOptions({ batch: 0 })).toThrow(/batch must be a positive integer/);
    expect(() => trainOptions({ optimizer: 'adam' as 'sgd' })).toThrow(/optimizer must be sgd or adagrad/);
    expect(() => trainOptions({ lrDecay: 1.5 })).toThrow(/lrDecay/);
    expect(deriveSeed(1, 2, 3)).toBe(deriveSeed(1, 2, 3));
    expect(new Set([deriveSeed(1, 1, 0), deriveSeed(1, 1, 1), deriveSeed(2, 1, 0), deriveSeed(1, 0, 1)]).size).toBe(4);
  });

  it('learns the task, reports progress, and repeats bit for bit from a seed', async () => {
    const seen: number[] = [];
    const d = dataset();
    const store = ImageStore.upload(ctx.e, d.images);
    const t = Trainer.create(ctx.e, { spec, normalisation: norm, params: initModel(spec, 3).params }, store, d.train, d.val, { ...OPTS, epochs: 6 });
    const before = await t.validate();
    const r = await t.run({ onBatch: (p) => p.epoch === 1 && seen.push(p.batch) });
    t.destroy();
    store.destroy();
    expect(seen).toEqual(Array.from({ length: Math.floor(d.train.length / 8) }, (_, i) => i + 1));
    expect(r.history).toHaveLength(6);
    expect(r.history[5].trainLoss).toBeLessThan(r.history[0].trainLoss);
    const last = r.history[5];
    expect(last.valLoss!).toBeLessThan(before.loss);
    expect(last.valAccuracy!).toBeGreaterThanOrEqual(0.9);
    expect(last.valAuc!).toBeGreaterThan(0.95);
    expect(r.history.map((h) => h.lr)).toEqual([0, 1, 2, 3, 4, 5].map((k) => 0.05 * 0.95 ** k));
    const again = await trainFor({ ...OPTS, epochs: 6 });
    expect(bits(again.params)).toEqual(bits(r.params));
    expect(again.history.map((h) => h.valLoss)).toEqual(r.history.map((h) => h.valLoss));
    const other = await trainFor({ ...OPTS, epochs: 6, seed: 8 });
    expect(bits(other.params)).not.toEqual(bits(r.params));
  });

  for (const optimizer of ['sgd', 'adagrad'] as const) {
    it(`${optimizer}: a state saved after epoch 1 (run killed in epoch 2), through a checkpoint file, resumes to the uninterrupted result`, async () => {
      const opts = { ...OPTS, optimizer, lr: optimizer === 'sgd' ? 0.05 : 0.02 };
      const full = await trainFor(opts);
      const d = dataset();
      const store = ImageStore.upload(ctx.e, d.images);
      let bytes: Uint8Array | null = null;
      const t1 = Trainer.create(ctx.e, { spec, normalisation: norm, params: initModel(spec, 3).params }, store, d.train, d.val, opts);
      await expect(
        t1.run({
          checkpoint: (s) => {
            bytes = encodeCheckpoint({ run: { note: 'test' }, model: { spec, umPerPixel: 1, normalisation: norm }, options: t1.opts, state: s, train: d.train, val: d.val });
          },
          onEpoch: (r) => {
            if (r.epoch === 2) throw new Error('killed');
          },
        }),
      ).rejects.toThrow('killed');
      t1.destroy();
      // the checkpoint of epoch 1 was written; make the one of epoch 2 as the CLI would
      expect(bytes).not.toBeNull();
      const ck1 = decodeCheckpoint(bytes!, 'ck');
      expect(ck1.state.epoch).toBe(1);
      expect(ck1.state.optimizer?.kind).toBe(optimizer);
      expect(ck1.train).toEqual(d.train);
      expect(ck1.run).toEqual({ note: 'test' });
      const t2 = Trainer.resume(ctx.e, ck1.model, store, ck1.train, ck1.val, ck1.options, ck1.state);
      const resumed = await t2.run();
      t2.destroy();
      store.destroy();
      expect(resumed.history).toHaveLength(4);
      expect(bits(resumed.params)).toEqual(bits(full.params));
      expect(resumed.history.map((h) => [h.trainLoss, h.valLoss])).toEqual(full.history.map((h) => [h.trainLoss, h.valLoss]));
    });
  }

  it('stain options: default none, validated, drawn within their ranges', () => {
    expect(DEFAULT_TRAIN_OPTIONS.stain).toBeNull();
    expect(trainOptions({ stain: DEFAULT_STAIN_AUGMENT }).stain).toEqual(DEFAULT_STAIN_AUGMENT);
    expect(() => trainOptions({ stain: { ...DEFAULT_STAIN_AUGMENT, hed: 1 } })).toThrow(/stain\.hed/);
    expect(() => trainOptions({ stain: { ...DEFAULT_STAIN_AUGMENT, blur: -0.1 } })).toThrow(/stain\.blur/);
    expect(() => trainOptions({ stain: { ...DEFAULT_STAIN_AUGMENT, scale: NaN } })).toThrow(/stain\.scale/);
    const o = DEFAULT_STAIN_AUGMENT;
    const rng = makeRng(3);
    const p = new Float32Array(12 * 50);
    for (let k = 0; k < 50; k++) {
      const z = drawStain(o, rng, p, k);
      expect(Math.abs(z - 1)).toBeLessThanOrEqual(o.scale);
      const q = [...p.subarray(12 * k, 12 * k + 12)];
      for (let c = 0; c < 3; c++) {
        expect(Math.abs(q[c] - 1)).toBeLessThanOrEqual(o.hed + 1e-7);
        expect(Math.abs(q[3 + c])).toBeLessThanOrEqual(o.hed + 1e-7);
      }
      expect(Math.abs(q[6])).toBeLessThanOrEqual(o.brightness * 255 + 1e-4);
      expect(Math.abs(q[7] - 1)).toBeLessThanOrEqual(o.contrast + 1e-7);
      expect(Math.abs(q[8] - 1)).toBeLessThanOrEqual(o.saturation + 1e-7);
      expect(q[9] >= 0 && q[9] <= o.blur).toBe(true);
      expect(q.slice(10)).toEqual([0, 0]);
    }
  });

  it('trains with stain augmentation, repeats bit for bit from its seed, and resumes through a checkpoint', async () => {
    const opts = { ...OPTS, epochs: 4, stain: DEFAULT_STAIN_AUGMENT };
    const full = await trainFor(opts);
    expect(full.history.every((h) => Number.isFinite(h.trainLoss) && Number.isFinite(h.valLoss!))).toBe(true);
    expect(full.history[3].trainLoss).toBeLessThan(full.history[0].trainLoss);
    const again = await trainFor(opts);
    expect(bits(again.params)).toEqual(bits(full.params));
    const plain = await trainFor({ ...opts, stain: null });
    expect(bits(plain.params)).not.toEqual(bits(full.params));
    // killed in epoch 2, resumed from the epoch-1 checkpoint file
    const d = dataset();
    const store = ImageStore.upload(ctx.e, d.images);
    let bytes: Uint8Array | null = null;
    const t1 = Trainer.create(ctx.e, { spec, normalisation: norm, params: initModel(spec, 3).params }, store, d.train, d.val, opts);
    await expect(
      t1.run({
        checkpoint: (s) => {
          bytes = encodeCheckpoint({ run: {}, model: { spec, umPerPixel: 1, normalisation: norm }, options: t1.opts, state: s, train: d.train, val: d.val });
        },
        onEpoch: (r) => {
          if (r.epoch === 2) throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    t1.destroy();
    const ck = decodeCheckpoint(bytes!, 'ck');
    expect(ck.options.stain).toEqual(DEFAULT_STAIN_AUGMENT);
    const t2 = Trainer.resume(ctx.e, ck.model, store, ck.train, ck.val, ck.options, ck.state);
    const resumed = await t2.run();
    t2.destroy();
    store.destroy();
    expect(bits(resumed.params)).toEqual(bits(full.params));
  });

  it('stops early after `patience` epochs without a lower validation loss and returns the best weights', async () => {
    // validation = the training samples with flipped labels: its loss rises as training succeeds
    const d = dataset();
    const flipped = d.train.map((s) => ({ ...s, label: (1 - s.label) as 0 | 1 }));
    const r = await trainFor({ ...OPTS, epochs: 10, patience: 2 }, { ...d, val: flipped });
    expect(r.stoppedEarly).toBe(true);
    expect(r.history.length).toBeLessThan(10);
    const best = r.history.reduce((a, h) => (h.valLoss! < a.valLoss! ? h : a));
    expect(r.bestEpoch).toBe(best.epoch);
    expect(r.history.length).toBe(r.bestEpoch + 2);
    const upTo = await trainFor({ ...OPTS, epochs: r.bestEpoch, patience: 0 }, { ...d, val: flipped });
    expect(bits(r.params)).toEqual(bits(upTo.params));
  });

  it('balanced batches hold half positives; plain ones follow the set', async () => {
    const d = dataset();
    const store = ImageStore.upload(ctx.e, d.images);
    const mk = (balance: 'plain' | 'balanced') =>
      Trainer.create(ctx.e, { spec, normalisation: norm, params: initModel(spec, 3).params }, store, d.train, [], { ...OPTS, balance });
    const bal = mk('balanced');
    const plain = mk('plain');
    for (const ep of [0, 1, 2]) {
      const o = bal.batchOrder(ep);
      expect(o).toHaveLength(bal.batchesPerEpoch * 8);
      for (let b = 0; b < bal.batchesPerEpoch; b++) expect(o.slice(8 * b, 8 * b + 8).filter((i) => d.train[i].label === 1)).toHaveLength(4);
      const p = plain.batchOrder(ep);
      expect(new Set(p).size).toBe(p.length);
    }
    expect(plain.batchOrder(0)).not.toEqual(plain.batchOrder(1));
    bal.destroy();
    plain.destroy();
    store.destroy();
  });

  it('gathers the same patches from several packed tensors as from one', async () => {
    const d = dataset();
    const one = ImageStore.upload(ctx.e, d.images);
    const many = ImageStore.upload(ctx.e, d.images, { maxPixelsPerTensor: 36 * 36 });
    expect(one.groups).toHaveLength(1);
    expect(many.groups).toHaveLength(3);
    const samples = [...d.val, ...d.train].slice(0, 20);
    const angle = Float64Array.from(samples, (_, i) => i * 0.7);
    const mirror = Uint8Array.from(samples, (_, i) => i % 2);
    const a = one.gather(samples, 9, norm, { angle, mirror });
    const b = many.gather(samples, 9, norm, { angle, mirror });
    expect([...(await b.read())]).toEqual([...(await a.read())]);
    a.release();
    b.release();
    one.destroy();
    many.destroy();
    expect(() => ImageStore.upload(ctx.e, d.images, { maxPixelsPerTensor: 100 })).toThrow(/larger than this adapter's buffer limit/);
  });

  it('Network.adagradStep follows h += q^2, w -= lr q / (sqrt(h) + eps); optimizer state reads back and restores', async () => {
    const e = ctx.e;
    const d = dataset();
    const store = ImageStore.upload(e, d.images);
    const x = store.gather(d.train.slice(0, 6), 9, norm);
    const labels = e.tensor([6], Uint32Array.from(d.train.slice(0, 6), (s) => s.label));
    const net = new Network(e, spec, initModel(spec, 3).params);
    const p = { lr: 0.05, eps: 1e-8, weightDecay: 0.01 };
    // float64 reference over two steps
    const w = (await net.readWeights()).map((q) => [Float64Array.from(q.weight), Float64Array.from(q.bias)]);
    const h = w.map((q) => q.map((a) => new Float64Array(a.length)));
    for (let step = 0; step < 2; step++) {
      const r = net.lossAndGradients(x, labels);
      const g = await readParams(r.grads);
      net.adagradStep(r.grads, p);
      releaseParams(r.grads);
      r.loss.release();
      r.probs.release();
      g.forEach((gp, i) =>
        [gp.weight, gp.bias].forEach((ga, j) => {
          for (let k = 0; k < ga.length; k++) {
            const q = ga[k] + p.weightDecay * w[i][j][k];
            h[i][j][k] += q * q;
            w[i][j][k] -= (p.lr * q) / (Math.sqrt(h[i][j][k]) + p.eps);
          }
        }),
      );
      // compare against the GPU weights (the reference follows the GPU's own gradients)
      const got = await net.readWeights();
      got.forEach((q, i) => {
        for (let k = 0; k < q.weight.length; k++) expect(Math.abs(q.weight[k] - w[i][0][k])).toBeLessThan(1e-5 + 1e-5 * Math.abs(w[i][0][k]));
        for (let k = 0; k < q.bias.length; k++) expect(Math.abs(q.bias[k] - w[i][1][k])).toBeLessThan(1e-5 + 1e-5 * Math.abs(w[i][1][k]));
      });
      // reset the reference to the GPU's float32 weights so that rounding does not accumulate
      got.forEach((q, i) => ((w[i][0] = Float64Array.from(q.weight)), (w[i][1] = Float64Array.from(q.bias))));
    }
    const st = await net.readOptimizerState();
    expect(st?.kind).toBe('adagrad');
    st!.params.forEach((q, i) => {
      for (let k = 0; k < q.weight.length; k++) expect(Math.abs(q.weight[k] - h[i][0][k])).toBeLessThan(1e-5 + 1e-4 * h[i][0][k]);
    });
    expect(() => net.sgdStep([], { lr: 0.1, momentum: 0.9, weightDecay: 0 })).toThrow(/sgdStep after adagradStep/);
    // a second net with the same weights and the restored state takes the same next step, bit for bit
    const twin = new Network(e, spec, await net.readWeights());
    twin.writeOptimizerState(st);
    for (const n of [net, twin]) {
      const r = n.lossAndGradients(x, labels);
      n.adagradStep(r.grads, p);
      releaseParams(r.grads);
      r.loss.release();
      r.probs.release();
    }
    expect(bits(await twin.readWeights())).toEqual(bits(await net.readWeights()));
    expect(bits((await twin.readOptimizerState())!.params)).toEqual(bits((await net.readOptimizerState())!.params));
    twin.resetOptimizer();
    expect(await twin.readOptimizerState()).toBeNull();
    expect(() => twin.writeOptimizerState({ kind: 'sgd', params: [] })).toThrow(/0 parameter layers given/);
    for (const t of [x, labels]) t.release();
    net.destroy();
    twin.destroy();
    store.destroy();
  });
});

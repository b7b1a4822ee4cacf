// The library's training flow (src/train/flow.ts), called directly as a browser would: 3 tiny
// procedural fields (96x96 at 0.9824 µm/px), a 15x15 net, checkpoints in memory. The hooks see
// every phase, the model carries its provenance with the threshold chosen on the validation field,
// and a run stopped during epoch 2 and resumed from the in-memory checkpoint gives the same model,
// byte for byte.
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../src/model/model-file.js';
import type { NetSpec } from '../src/model/spec.js';
import { decodeCheckpoint } from '../src/train/checkpoint.js';
import { CANDIDATE_THRESHOLD, trainOnImages, type CheckpointStore, type TrainFlowHooks, type TrainFlowJob, type TrainFlowSettings } from '../src/index.js';
import { syntheticImages } from '../src/train/synthetic.js';
import { trainOptions, TrainingStopped } from '../src/train/trainer.js';
import { useEngine } from './helpers/gpu.js';

const ctx = useEngine();

const spec: NetSpec = {
  name: 'tiny15',
  input: { channels: 3, size: 15 },
  layers: [{ type: 'conv', maps: 4, k: 4 }, { type: 'maxpool', k: 2 }, { type: 'conv', maps: 6, k: 3 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 8 }, { type: 'fc', units: 2 }],
  activation: 'tanh',
};
const MPP = 0.9824;
const settings: TrainFlowSettings = {
  spec,
  trainMpp: MPP,
  samples: 600,
  stage1Epochs: 1,
  stage1Samples: 200,
  valFraction: 0.34,
  blueRatio: false,
  chooseThreshold: true,
  opts: trainOptions({ epochs: 3, batch: 32, patience: 0, seed: 3, progressEvery: 5 }),
};

/** A checkpoint store in memory, counting its saves. */
function memoryStore(): CheckpointStore & { bytes: Uint8Array | null; saves: number } {
  const s = {
    name: 'memory',
    bytes: null as Uint8Array | null,
    saves: 0,
    load: async () => s.bytes,
    save: async (b: Uint8Array) => {
      s.bytes = b.slice();
      s.saves++;
    },
  };
  return s;
}

const job = (checkpoint: CheckpointStore, extra: Partial<TrainFlowJob> = {}): TrainFlowJob => ({
  checkpoint, resume: false, command: 'test', dataset: 'synthetic: 3 fields', fingerprint: { synthetic: 3 }, date: '2023-11-14T22:13:20.000Z', ...extra,
});

describe('trainOnImages (src/train/flow.ts)', () => {
  it('reports through its hooks, records the threshold, and resumes from an in-memory checkpoint to the same model', async () => {
    const images = syntheticImages(3, 96, MPP);
    expect(images.reduce((a, im) => a + im.mitoses.length, 0)).toBeGreaterThan(0);

    // ---- an uninterrupted run, every hook recorded ----
    const calls: Record<string, number> = {};
    const logs: string[] = [];
    const phases = new Set<string>();
    const detects: [number, number, string][] = [];
    const denseDone: number[] = [];
    const count = (k: string) => (calls[k] = (calls[k] ?? 0) + 1);
    const hooks: TrainFlowHooks = {
      onLog: (m) => (count('log'), logs.push(m)),
      onStage: (m) => (count('stage'), logs.push(m)),
      onBatch: (p, phase) => (count('batch'), phases.add(`batch:${phase}`), expect(p.batch).toBeLessThanOrEqual(p.batches)),
      onEpoch: (r, phase, info) => (count('epoch'), phases.add(`epoch:${phase}`), expect(info.epochs).toBe(phase === 'cd' ? 1 : 3)),
      onDense: (d, t) => (count('dense'), denseDone.push(d), expect(t).toBe(3), expect(d).toBeLessThanOrEqual(t)),
      onDetect: (d, t, id) => detects.push([d, t, id]),
    };
    const storeA = memoryStore();
    const a = await trainOnImages(ctx.e, images, settings, job(storeA), hooks);
    expect(phases).toEqual(new Set(['batch:cd', 'epoch:cd', 'batch:train', 'epoch:train']));
    expect(calls.epoch).toBe(1 + 3);
    // D(p) is batched (denseMaps): the three same-sized images take one pass, reported once with all done
    expect(calls.dense).toBeGreaterThanOrEqual(1);
    expect(denseDone[denseDone.length - 1]).toBe(3);
    expect(logs.some((m) => /^stage 1: training Cd/.test(m))).toBe(true);
    expect(logs.some((m) => /^training set \d+ samples/.test(m))).toBe(true);
    expect(logs.some((m) => /^detection on 1 validation image\(s\): best F1/.test(m))).toBe(true);
    // the threshold choice: 0 before the one validation field, then 1 with its id
    expect(detects.map(([d, t]) => [d, t])).toEqual([[0, 1], [1, 1]]);
    expect(detects[1][2]).toMatch(/^synthetic-/);
    // one checkpoint after the training set, one per epoch
    expect(storeA.saves).toBe(1 + 3);
    expect(decodeCheckpoint(storeA.bytes!, 'memory').state.finished).toBe(true);

    const p = a.model.provenance;
    expect(p.threshold).toBeGreaterThanOrEqual(CANDIDATE_THRESHOLD);
    expect(p.threshold).toBeLessThan(1);
    expect(a.chosen?.threshold).toBe(p.threshold);
    expect(p.date).toBe('2023-11-14T22:13:20.000Z');
    expect(p.command).toBe('test');
    expect(p.epochs).toBe(3);
    expect(p.seed).toBe(3);
    expect(p.metrics?.valLoss).toBeGreaterThan(0);
    expect(p.metrics?.valF1).toBe(a.chosen?.f1);
    expect((p.trainingSet as { valImages: string[] }).valImages).toHaveLength(1);
    expect(a.model.umPerPixel).toBe(MPP);
    expect(a.summary).toMatch(/^tiny15 at 0.9824 µm\/px, best epoch \d of 3 .*; detection threshold/);
    const bytesA = encodeModel(a.model);

    // ---- the same run stopped during epoch 2, then resumed from the store ----
    const storeB = memoryStore();
    let epochsDone = 0;
    let batchesAfter = 0;
    const stopped = trainOnImages(ctx.e, images, settings, job(storeB, {
      shouldStop: () => epochsDone >= 1 && ++batchesAfter > 2,
    }), { onEpoch: (_, phase) => phase === 'train' && epochsDone++ });
    await expect(stopped).rejects.toBeInstanceOf(TrainingStopped);
    expect(decodeCheckpoint(storeB.bytes!, 'memory').state.epoch).toBe(1);

    const resumedLogs: string[] = [];
    const b = await trainOnImages(ctx.e, images, settings, job(storeB, { resume: true }), { onLog: (m) => resumedLogs.push(m), onStage: (m) => resumedLogs.push(m) });
    expect(resumedLogs).toContain('resuming from memory after epoch 1');
    expect(resumedLogs.some((m) => /^stage 1/.test(m))).toBe(false);
    expect(Buffer.from(encodeModel(b.model)).equals(Buffer.from(bytesA))).toBe(true);

    // other settings are refused, naming the difference
    await expect(trainOnImages(ctx.e, images, { ...settings, samples: 700 }, job(storeB, { resume: true }))).rejects.toThrow(/memory: this checkpoint was made with other settings[\s\S]*samples: 600 \(checkpoint\) vs 700 \(now\)/);
    // a resume without a store is an error, and so are images without mitoses
    await expect(trainOnImages(ctx.e, images, settings, { ...job(storeB), checkpoint: undefined, resume: true })).rejects.toThrow(/resume needs a checkpoint store/);
    await expect(trainOnImages(ctx.e, images.map((im) => ({ ...im, mitoses: [] })), settings, job(memoryStore()))).rejects.toThrow(/no mitoses/);
  }, 120_000);

  it('valSeed fixes the validation draw apart from the seed, so a second net for an ensemble validates on the first one\'s images', async () => {
    const images = syntheticImages(6, 48, MPP);
    const quick: TrainFlowSettings = { ...settings, samples: 200, stage1Epochs: 0, chooseThreshold: false, valFraction: 0.5 };
    const valOf = async (seed: number, valSeed?: number) => {
      const r = await trainOnImages(ctx.e, images, { ...quick, ...(valSeed !== undefined ? { valSeed } : {}), opts: trainOptions({ ...quick.opts, epochs: 1, seed }) }, job(memoryStore()));
      return (r.model.provenance.trainingSet as { valImages: string[] }).valImages;
    };
    const first = await valOf(3);
    expect(first.length).toBeGreaterThan(0);
    expect(await valOf(5)).not.toEqual(first); // the draw follows the seed by default
    expect(await valOf(5, 3)).toEqual(first);
  }, 120_000);
});

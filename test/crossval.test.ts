// `mitoscan crossval` end to end on tiny synthetic data (96x96 fields at 0.9824 µm/px, a 15x15 net):
// every patient is held out exactly once and never trained on, the summary's numbers follow from the
// held-out detections written per step, a resumed run skips finished folds and gives the same
// result, and the T1/T2/T3 protocol retrains for the first run's best epoch count at its threshold.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../pipelines/args.js';
import { run } from '../pipelines/crossval.js';
import { contestRadiusPx, scoresAt } from '../src/eval/score.js';
import { encodePng } from '../src/io/image.js';
import { decodeModel } from '../src/model/model-file.js';
import { generateField } from '../src/synth/tissue.js';
import { quiet } from './helpers/quiet.js';

const MPP = 0.9824;
const TMP = mkdtempSync(join(tmpdir(), 'mitoscan-crossval-'));
const DATA = join(TMP, 'data');
const SPEC = join(TMP, 'spec.json');
const PATIENTS = ['01', '02', '03', '04'];

const TRAIN = [
  '--layout', 'tutorial', '--mpp', String(MPP), '--train-mpp', String(MPP), '--spec', SPEC, '--samples', '600', '--stage1-epochs', '1',
  '--stage1-samples', '200', '--epochs', '2', '--batch', '32', '--val-fraction', '0.34', '--seed', '5',
];

beforeAll(() => {
  mkdirSync(DATA, { recursive: true });
  writeFileSync(SPEC, JSON.stringify({
    name: 'tiny15',
    input: { channels: 3, size: 15 },
    layers: [{ type: 'conv', maps: 4, k: 4 }, { type: 'maxpool', k: 2 }, { type: 'conv', maps: 6, k: 3 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 8 }, { type: 'fc', units: 2 }],
    activation: 'tanh',
  }));
  // Four patients, two fields each; patient 04's second field has no mitosis (so image AUC exists).
  let seed = 40;
  for (const p of PATIENTS) {
    for (const k of [1, 2]) {
      const f = generateField({ width: 96, height: 96, seed: seed++, mpp: MPP, mitoses: p === '04' && k === 2 ? 0 : 2 });
      writeFileSync(join(DATA, `${p}_0${k}.png`), encodePng(f.image));
      writeFileSync(join(DATA, `${p}_0${k}.csv`), f.mitoses.map((m) => `${m.x.toFixed(1)},${m.y.toFixed(1)}`).join('\n') + (f.mitoses.length ? '\n' : ''));
    }
  }
});
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

interface Step {
  name: string;
  model: string;
  threshold: number;
  trainPatients: string[];
  testPatients: string[];
  scores: { tp: number; fp: number; fn: number; f1: number };
  bestEpoch: number;
  heldOut: { id: string; patient: string; truth: { x: number; y: number }[]; dets: { x: number; y: number; score: number }[] }[];
}
interface Summary {
  protocol: string;
  steps: (Omit<Step, 'heldOut'> & { heldOutImages: number; heldOutMitoses: number })[];
  pooled: { scores: { tp: number; fp: number; fn: number }; imageAuc: number | null };
}
const readJson = <T>(p: string) => JSON.parse(readFileSync(p, 'utf8')) as T;

describe('mitoscan crossval --protocol kfold', () => {
  const out = join(TMP, 'kfold');

  it('holds every patient out once, never trains on it, and scores what it wrote', async () => {
    const { stdout } = await quiet(() => run([DATA, ...TRAIN, '--folds', '2', '--out', out]));
    for (const f of ['crossval.json', 'fold-1.json', 'fold-2.json', 'fold-1.mitoscan', 'fold-2.mitoscan', 'summary.json', 'summary.csv', 'pr.svg', 'f1.svg']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    // Checkpoints are removed once their fold is done.
    expect(existsSync(join(out, 'fold-1.mitoscan.ckpt'))).toBe(false);
    const steps = [1, 2].map((k) => readJson<Step>(join(out, `fold-${k}.json`)));
    expect(steps.flatMap((s) => s.testPatients).sort()).toEqual(PATIENTS);
    const radius = contestRadiusPx(MPP);
    for (const s of steps) {
      expect(s.trainPatients.filter((p) => s.testPatients.includes(p))).toEqual([]);
      expect(s.heldOut.every((h) => s.testPatients.includes(h.patient))).toBe(true);
      // The fold's threshold is the one its model file records (chosen on its own validation patients).
      const model = decodeModel(readFileSync(s.model), s.model);
      expect(model.provenance?.threshold).toBe(s.threshold);
      const again = scoresAt(s.heldOut, radius, s.threshold);
      expect([again.tp, again.fp, again.fn]).toEqual([s.scores.tp, s.scores.fp, s.scores.fn]);
      expect(s.scores.tp + s.scores.fn).toBe(s.heldOut.reduce((a, h) => a + h.truth.length, 0));
    }
    const sum = readJson<Summary>(join(out, 'summary.json'));
    expect(sum.steps.map((s) => s.name)).toEqual(['fold-1', 'fold-2']);
    const total = (k: 'tp' | 'fp' | 'fn') => steps.reduce((a, s) => a + s.scores[k], 0);
    expect([sum.pooled.scores.tp, sum.pooled.scores.fp, sum.pooled.scores.fn]).toEqual([total('tp'), total('fp'), total('fn')]);
    expect(sum.pooled.imageAuc).not.toBeNull();
    expect(readFileSync(join(out, 'summary.csv'), 'utf8').trim().split('\n')).toHaveLength(4); // header, 2 folds, pooled
    expect(stdout).toMatch(/^fold-1\s/m);
    expect(stdout).toMatch(/^pooled\s/m);
  });

  it('refuses to overwrite a run, and --resume skips finished folds with the same result', async () => {
    await expect(quiet(() => run([DATA, ...TRAIN, '--folds', '2', '--out', out]))).rejects.toThrow(/--resume/);
    await expect(quiet(() => run([DATA, ...TRAIN, '--folds', '3', '--out', out, '--resume']))).rejects.toThrow(/other settings[\s\S]*folds/);
    const before = readJson<Summary>(join(out, 'summary.json'));
    rmSync(join(out, 'fold-2.json'));
    const { stderr } = await quiet(() => run([DATA, ...TRAIN, '--folds', '2', '--out', out, '--resume']));
    expect(stderr).toMatch(/fold-1 was finished/);
    expect(stderr).not.toMatch(/fold-2 was finished/);
    const after = readJson<Summary>(join(out, 'summary.json'));
    expect(after.steps.map((s) => [s.threshold, s.scores])).toEqual(before.steps.map((s) => [s.threshold, s.scores]));
  });

  it('rejects bad options', async () => {
    await expect(run([DATA, ...TRAIN, '--folds', '2'])).rejects.toThrow(UsageError);
    await expect(run([DATA, ...TRAIN, '--folds', '1', '--out', join(TMP, 'x')])).rejects.toThrow(UsageError);
    await expect(run([DATA, ...TRAIN, '--protocol', 'loo', '--out', join(TMP, 'x')])).rejects.toThrow(/kfold or t1t2t3/);
    await expect(run([DATA, ...TRAIN, '--protocol', 't1t2t3', '--sizes', '1:0:1', '--out', join(TMP, 'x')])).rejects.toThrow(/--sizes/);
    await expect(quiet(() => run([DATA, ...TRAIN, '--folds', '5', '--out', join(TMP, 'x5')]))).rejects.toThrow(/5 folds need at least 5 patients/);
    // the split fails before the folder is marked as holding a run: the corrected command may use it
    expect(existsSync(join(TMP, 'x5', 'crossval.json'))).toBe(false);
  });
});

describe('mitoscan crossval --protocol t1t2t3', () => {
  it('chooses t on T2, retrains on T1+T2 for the best epoch count, scores T3 once', async () => {
    const out = join(TMP, 't123');
    await quiet(() => run([DATA, ...TRAIN, '--epochs', '3', '--protocol', 't1t2t3', '--sizes', '2:1:1', '--out', out]));
    const t1 = readJson<Step>(join(out, 't1.json'));
    const fin = readJson<Step>(join(out, 'final.json'));
    expect(t1.heldOut).toEqual([]);
    const t1Model = decodeModel(readFileSync(join(out, 't1.mitoscan')), 't1');
    const finModel = decodeModel(readFileSync(join(out, 'final.mitoscan')), 'final');
    // T2 = the first run's validation images; t chosen there is what T3 is scored at.
    expect(t1Model.provenance?.threshold).toBe(t1.threshold);
    expect(fin.threshold).toBe(t1.threshold);
    expect(finModel.provenance?.threshold).toBe(t1.threshold);
    expect(finModel.provenance?.epochs).toBe(t1.bestEpoch);
    expect((finModel.provenance?.trainingSet as { valImages: string[] }).valImages).toEqual([]);
    const t2 = (t1Model.provenance?.trainingSet as { valImages: string[] }).valImages;
    expect(t2.length).toBeGreaterThan(0);
    // T3 is disjoint from T1 and T2 by patient (default --split patient).
    expect(fin.testPatients.filter((p) => fin.trainPatients.includes(p))).toEqual([]);
    expect(fin.trainPatients.length + fin.testPatients.length).toBe(PATIENTS.length);
    const sum = readJson<Summary>(join(out, 'summary.json'));
    expect(sum.protocol).toBe('t1t2t3');
    expect(sum.steps.map((s) => s.name)).toEqual(['final']);
    expect(sum.steps[0].heldOutImages).toBe(fin.heldOut.length);
  });
});

// `mitoscan train-patches` on tiny synthetic patch folders (crops of procedural H&E fields around
// mitoses vs around ordinary nuclei, written as PNGs to a temp dir, 4 "patients"): a 2-fold run of
// 2 epochs with a tiny 9x9 net writes the model and the results JSON, the folds are patient-disjoint
// and score every patch once, and the reported per-fold and pooled AUC / accuracy are those computed
// from the written scores. Also: the split helpers, the pooled AUC on a hand-checked case, usage errors.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../pipelines/args.js';
import { run } from '../pipelines/patches.js';
import { aucRoc } from '../src/eval/score.js';
import { cropImage, encodePng } from '../src/io/image.js';
import type { NetSpec } from '../src/model/spec.js';
import { loadModel } from '../src/node/model-io.js';
import { generateField } from '../src/synth/tissue.js';
import { patchFolds, pooledScores } from '../src/train/patch-folders.js';

const P = 40; // patch side, pixels at 0.2456 µm/px
let dir: string;

const tiny: NetSpec = {
  name: 'tiny9',
  input: { channels: 3, size: 9 },
  layers: [{ type: 'conv', maps: 4, k: 2 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 8 }, { type: 'fc', units: 2 }],
  activation: 'tanh',
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mitoscan-patches-'));
  const root = join(dir, 'patches');
  mkdirSync(join(root, 'mitosis'), { recursive: true });
  mkdirSync(join(root, 'non-mitosis'), { recursive: true });
  for (let p = 0; p < 4; p++) {
    const f = generateField({ width: 256, height: 256, seed: 100 + p, mitoses: 3 });
    const crop = (x: number, y: number) => encodePng(cropImage(f.image, Math.round(x) - P / 2, Math.round(y) - P / 2, P, P));
    f.mitoses.forEach((m, k) => writeFileSync(join(root, 'mitosis', `${30 + p}_01_${k}.png`), crop(m.x, m.y)));
    const far = f.nuclei.filter((n) => f.mitoses.every((m) => Math.hypot(n.x - m.x, n.y - m.y) > 30));
    far.slice(0, 5).forEach((n, k) => writeFileSync(join(root, 'non-mitosis', `${30 + p}_01_${k}.png`), crop(n.x, n.y)));
  }
  writeFileSync(join(dir, 'tiny.json'), JSON.stringify(tiny));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('split helpers', () => {
  const items = ['a', 'a', 'b', 'c', 'c', 'c', 'd', 'e'].map((patient) => ({ patient }));
  it('k-fold and hold-out splits keep each patient in one fold', () => {
    for (const opts of [{ folds: 3 }, { valFraction: 0.25 }, { valFraction: 0.5, seed: 7 }]) {
      const { k, fold } = patchFolds(items, opts);
      const of = new Map<string, number>();
      items.forEach((it, i) => {
        expect(fold[i]).toBeGreaterThanOrEqual(0);
        expect(fold[i]).toBeLessThan(k);
        if (of.has(it.patient)) expect(fold[i]).toBe(of.get(it.patient));
        of.set(it.patient, fold[i]);
      });
      for (let f = 0; f < k; f++) expect(fold).toContain(f);
    }
    expect(() => patchFolds(items, { folds: 6 })).toThrow(/at least 6 patients/);
    expect(() => patchFolds(items, { valFraction: 1 })).toThrow(/fraction/);
  });
  it('pooled AUC and accuracy over held-out scores', () => {
    const patches = [1, 0, 0, 1].map((l) => ({ label: l as 0 | 1 }));
    // positives 0.9, 0.4; negatives 0.2, 0.6: 3 of the 4 pairs ordered right
    const r = pooledScores(patches, [{ index: 0, score: 0.9 }, { index: 1, score: 0.2 }, { index: 2, score: 0.6 }, { index: 3, score: 0.4 }]);
    expect(r.auc).toBeCloseTo(0.75, 12);
    expect(r.accuracy).toBeCloseTo(0.5, 12); // right: 0.9 (pos), 0.2 (neg)
    expect(r.n).toBe(4);
  });
});

describe('mitoscan train-patches', () => {
  it('rejects bad command lines with usage errors', async () => {
    await expect(run([join(dir, 'patches')])).rejects.toBeInstanceOf(UsageError); // no --out
    await expect(run([join(dir, 'patches'), '--out', 'x', '--bogus', '1'])).rejects.toThrow(/unknown option --bogus/);
    await expect(run([join(dir, 'patches'), '--out', 'x', '--folds', '3', '--val-fraction', '0.2'])).rejects.toBeInstanceOf(UsageError);
    await expect(run([join(dir, 'patches'), '--out', 'x', '--spec', 'nope'])).rejects.toThrow(/--spec/);
    await expect(run([dir, '--out', join(dir, 'x.mitoscan')])).rejects.toThrow(/no class folders/);
  });

  it('cross-validates by patient, writes the model and results, AUC from the written scores', async () => {
    const out = join(dir, 'out', 'm.mitoscan');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await run([join(dir, 'patches'), '--out', out, '--folds', '2', '--epochs', '2', '--batch', '8', '--spec', join(dir, 'tiny.json'), '--mpp', '0.2456', '--train-mpp', '0.9824', '--seed', '3']);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    expect(existsSync(out)).toBe(true);
    const model = await loadModel(out);
    expect(model.spec.name).toBe('tiny9');
    expect(model.umPerPixel).toBe(0.9824);
    const res = JSON.parse(readFileSync(`${out}.results.json`, 'utf8'));
    expect(res.folds).toHaveLength(2);
    // every patch scored once, by the one fold that held its patient out
    expect(res.scores).toHaveLength(res.patches);
    expect(new Set(res.scores.map((s: { path: string }) => s.path)).size).toBe(res.patches);
    const foldOf = new Map<string, number>();
    for (const s of res.scores) {
      if (foldOf.has(s.patient)) expect(s.fold).toBe(foldOf.get(s.patient));
      foldOf.set(s.patient, s.fold);
      expect(s.score).toBeGreaterThanOrEqual(0);
      expect(s.score).toBeLessThanOrEqual(1);
    }
    expect(foldOf.size).toBe(4);
    const [a, b] = res.folds.map((f: { testPatients: string[] }) => new Set(f.testPatients));
    for (const p of a) expect(b.has(p)).toBe(false);
    // reported numbers = those computed from the written scores
    const scores = res.scores.map((s: { score: number }) => s.score);
    const labels = res.scores.map((s: { label: number }) => s.label);
    expect(res.pooled.auc).toBeCloseTo(aucRoc(scores, labels), 12);
    const acc = res.scores.filter((s: { score: number; label: number }) => (s.score > 0.5 ? 1 : 0) === s.label).length / res.scores.length;
    expect(res.pooled.accuracy).toBeCloseTo(acc, 12);
    for (const f of res.folds) {
      const mine = res.scores.filter((s: { fold: number }) => s.fold === f.fold);
      expect(mine).toHaveLength(f.nTest);
      expect(f.nTrain + f.nTest).toBe(res.patches);
      const auc = aucRoc(mine.map((s: { score: number }) => s.score), mine.map((s: { label: number }) => s.label));
      if (Number.isNaN(auc)) expect(f.auc).toBeNull();
      else expect(f.auc).toBeCloseTo(auc, 5); // the trainer's AUC from float32 probabilities
    }
  });
});

// `mitoscan train` then `mitoscan eval` end to end on real tissue from ../shared/data (skipped, with
// a warning, where absent): TUPAC16 patches written as small labelled fields, a short training run
// of a small net on four cases at 0.9824 µm/px (10x: quick to compile and run on a software GPU),
// then the contest scoring of a held-out case.
// Checks the files and their agreement, not the quality (docs/RESULTS.md has the measured runs).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run as evaluate } from '../pipelines/eval.js';
import { run as train } from '../pipelines/train.js';
import { decodeModel } from '../src/model/model-file.js';
import { writePatchesAsFields } from '../src/node/datasets.js';
import { quiet } from './helpers/quiet.js';

const PATCHES = resolve(import.meta.dirname, '../../shared/data/tupac16-aux-patches');
if (!existsSync(PATCHES)) console.warn(`real-data-pipeline.test: ${PATCHES} is absent; the real-data train + eval test is skipped`);
const TMP = mkdtempSync(join(tmpdir(), 'mitoscan-real-'));
const SPEC = join(TMP, 'tiny15.json');
writeFileSync(SPEC, JSON.stringify({
  name: 'tiny15',
  input: { channels: 3, size: 15 },
  layers: [{ type: 'conv', maps: 6, k: 4 }, { type: 'maxpool', k: 2 }, { type: 'conv', maps: 8, k: 3 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 16 }, { type: 'fc', units: 2 }],
  activation: 'tanh',
}));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

describe('train + eval on real TUPAC16 patches', () => {
  it.runIf(existsSync(PATCHES))('writes the model, the scores, the two plots and the gallery', async () => {
    // Train on cases 30, 41, 60, 62 (16 mitoses, 20 non-mitoses); case 36 (3 + 33) is held out.
    const counts = await writePatchesAsFields(PATCHES, join(TMP, 'fields'), { cases: ['30', '36', '41', '60', '62'], test: ['36'] });
    expect(counts).toEqual({ train: { mitoses: 16, others: 20 }, test: { mitoses: 3, others: 33 } });
    const model = join(TMP, 'real.mitoscan');
    const trained = await quiet(() =>
      train([
        join(TMP, 'fields', 'train'), '--layout', 'tutorial', '--mpp', '0.25', '--train-mpp', '0.9824', '--spec', SPEC,
        '--samples', '800', '--stage1-epochs', '1', '--stage1-samples', '300', '--val-samples', '300', '--epochs', '2',
        '--batch', '32', '--val-fraction', '0.25', '--seed', '2', '--out', model,
      ]),
    );
    expect(trained.stdout).toMatch(/^wrote .*real\.mitoscan: tiny15 at 0\.9824 µm\/px/);
    const m = decodeModel(readFileSync(model), model);
    expect(m.umPerPixel).toBe(0.9824);
    expect(m.provenance?.epochs).toBe(2);
    const out = join(TMP, 'eval');
    const table = await quiet(() => evaluate([join(TMP, 'fields', 'test'), '--layout', 'tutorial', '--mpp', '0.25', '--model', model, '--out', out]));
    for (const f of ['scores.json', 'counts.csv', 'detections.csv', 'pr.svg', 'f1.svg', 'gallery.png']) expect(existsSync(join(out, f)), f).toBe(true);
    const s = JSON.parse(readFileSync(join(out, 'scores.json'), 'utf8')) as {
      images: number; threshold: number; thresholdSource: string; scores: { tp: number; fn: number; fp: number }; perImage: { tp: number; fp: number }[];
    };
    expect(s.images).toBe(36);
    expect(s.scores.tp + s.scores.fn).toBe(3);
    expect(s.scores.fp).toBe(s.perImage.reduce((a, p) => a + p.fp, 0));
    const recorded = m.provenance?.threshold;
    if (typeof recorded === 'number') expect([s.thresholdSource, s.threshold]).toEqual(['model', Math.max(recorded, 0.1)]);
    else expect(s.thresholdSource).toBe('default');
    expect(table.stdout).toMatch(/36 image\(s\), 3 labelled mitoses/);
  }, 300_000); // a cold shader cache on a software GPU costs about a minute
});

// `mitoscan train` on mitotic-figure crops (the AMi-Br layout: AMI-BR.csv + patches/<class>/<dataset>_<uid>.png)
// and class patch folders, with slides held out as a test set: a miniature of how the shipped
// real-tissue model is made. The crops are cut from procedural fields around their mitoses, so a
// crop can hold a neighbour of its own figure; slides are fields.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../pipelines/train.js';
import { cropImage, encodePng } from '../src/io/image.js';
import { decodeModel } from '../src/model/model-file.js';
import { generateField } from '../src/synth/tissue.js';
import { heldOutPatients } from '../src/train/training-set.js';
import { captured } from './helpers/quiet.js';

const ROOT = resolve(import.meta.dirname, '..');
const TMP = join(ROOT, 'dist', `test-train-crops-${process.pid}`);
const SPEC = {
  name: 'tiny15',
  input: { channels: 3, size: 15 },
  layers: [{ type: 'conv', maps: 4, k: 4 }, { type: 'maxpool', k: 2 }, { type: 'conv', maps: 6, k: 3 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 8 }, { type: 'fc', units: 2 }],
  activation: 'tanh',
};
const SLIDES = 5;

beforeAll(() => {
  const crops = join(TMP, 'amibr');
  mkdirSync(join(crops, 'patches/normal'), { recursive: true });
  const rows = [',slide,dataset,uid,x,y,expert1_label,expert2_label,expert1_atypical,expert2_atypical,expert3_atypical,majority_atypical'];
  let uid = 0;
  for (let s = 0; s < SLIDES; s++) {
    // 0.25 µm/px fields, as AMi-Br's 40x crops
    const f = generateField({ width: 384, height: 384, seed: 500 + s, mpp: 0.25, mitoses: 4 });
    for (const m of f.mitoses) {
      const x = Math.round(m.x), y = Math.round(m.y);
      // AMi-Br convention: the crop covers [x - 64, x + 64) (cropImage mirrors outside the field)
      const crop = cropImage(f.image, x - 64, y - 64, 128, 128);
      writeFileSync(join(crops, 'patches/normal', `MIDOG21_${uid}.png`), encodePng(crop));
      rows.push(`${uid},${String(s).padStart(3, '0')}.tiff,MIDOG21,${uid},${x},${y},NMF metaphase,NMF metaphase,False,False,False,False`);
      uid++;
    }
  }
  writeFileSync(join(crops, 'AMI-BR.csv'), rows.join('\n') + '\n');
  writeFileSync(join(TMP, 'spec.json'), JSON.stringify(SPEC));
});

afterAll(() => rmSync(TMP, { recursive: true, force: true }));

describe('mitoscan train on crops', () => {
  it('trains on AMi-Br-style crops, keeps the held-out slides out of training and validation, records them', async () => {
    const out = join(TMP, 'crops.mitoscan');
    const r = await captured(() =>
      run([
        join(TMP, 'amibr'), '--spec', join(TMP, 'spec.json'), '--train-mpp', '0.5', '--hold-out-patients', 'MIDOG21:004',
        '--exclusion-um', '5', '--field-density', '12', '--stain-augment', 'default', '--samples', '600', '--stage1-epochs', '1',
        '--stage1-samples', '200', '--epochs', '1', '--batch', '32', '--val-fraction', '0.25', '--patience', '0', '--seed', '2',
        '--out', out,
      ]),
    );
    expect(r.error).toBeUndefined();
    expect(r.stderr).toMatch(/AMi-Br crops at 0.25 µm\/px/);
    expect(r.stderr).toMatch(/held out as a test set: 1 patient\(s\)/);
    expect(r.stderr).toMatch(/false alarms weighted x/);
    // 600 samples in batches of 32: the 24 of the incomplete last batch are said to be left out
    expect(r.stderr).toMatch(/24 of the 600 samples are left out of each epoch/);
    const m = decodeModel(readFileSync(out), out);
    const held = m.provenance.heldOut as { patients: string[]; images: number };
    expect(held.patients).toEqual(['MIDOG21:004']);
    expect(held.images).toBeGreaterThan(0);
    const set = m.provenance.trainingSet as { valImages: string[]; positives: number; negatives: number };
    // slide 004's crops are neither trained on nor used for validation
    const heldIds = new Set<string>();
    const csv = readFileSync(join(TMP, 'amibr/AMI-BR.csv'), 'utf8').trim().split('\n').slice(1);
    for (const line of csv) {
      const [, slide, ds, id] = line.split(',');
      if (slide === '004.tiff') heldIds.add(`${ds}_${id}.png`);
    }
    expect(heldIds.size).toBeGreaterThan(0);
    for (const id of set.valImages) expect(heldIds.has(id), `${id} is held out but validates`).toBe(false);
    expect(set.positives + set.negatives).toBe(600);
    expect((m.provenance.training as { stain: unknown }).stain).toMatchObject({ hed: 0.05 });
    expect(typeof m.provenance.threshold).toBe('number');
  }, 180_000);

  it('--keep-patients takes a drawn slide back from the test set (the rest of the draw unchanged); --val-patients validates on named slides', async () => {
    const patients = Array.from({ length: SLIDES }, (_, s) => `MIDOG21:${String(s).padStart(3, '0')}`);
    const drawn = heldOutPatients(patients, 0.4, 3);
    expect(drawn.length).toBe(2);
    const [kept, still] = drawn;
    const val = patients.find((p) => !drawn.includes(p))!;
    const out = join(TMP, 'keep.mitoscan');
    const r = await captured(() =>
      run([
        join(TMP, 'amibr'), '--spec', join(TMP, 'spec.json'), '--train-mpp', '0.5', '--hold-out', '0.4', '--hold-out-seed', '3',
        '--keep-patients', kept, '--val-patients', val, '--val-fraction', '0', '--samples', '200', '--stage1-epochs', '0',
        '--epochs', '1', '--batch', '32', '--patience', '0', '--no-threshold', '--out', out,
      ]),
    );
    expect(r.error).toBeUndefined();
    const m = decodeModel(readFileSync(out), out);
    const held = m.provenance.heldOut as { patients: string[]; rule: string };
    expect(held.patients).toEqual([still]);
    expect(held.rule).toContain(`except ${kept}`);
    // the validation images are exactly the named slide's crops
    const csv = readFileSync(join(TMP, 'amibr/AMI-BR.csv'), 'utf8').trim().split('\n').slice(1);
    const valIds = csv.filter((l) => `MIDOG21:${l.split(',')[1].replace('.tiff', '')}` === val).map((l) => `MIDOG21_${l.split(',')[3]}.png`);
    const set = m.provenance.trainingSet as { valImages: string[] };
    expect([...set.valImages].sort()).toEqual(valIds.sort());
    expect(valIds.length).toBeGreaterThan(0);
    // a patient cannot be both held out and kept
    const bad = await captured(() => run([join(TMP, 'amibr'), '--spec', join(TMP, 'spec.json'), '--hold-out-patients', still, '--keep-patients', still, '--out', join(TMP, 'y.mitoscan')]));
    expect(String(bad.error)).toMatch(/both --hold-out-patients and --keep-patients/);
  }, 180_000);

  it('refuses a held-out patient that no image has, and bad --stain-augment values', async () => {
    const base = [join(TMP, 'amibr'), '--spec', join(TMP, 'spec.json'), '--train-mpp', '0.5', '--out', join(TMP, 'x.mitoscan')];
    const a = await captured(() => run([...base, '--hold-out-patients', 'MIDOG21:999']));
    expect(String(a.error)).toMatch(/no image of patient 'MIDOG21:999'/);
    const b = await captured(() => run([...base, '--stain-augment', 'hue=0.1']));
    expect(String(b.error)).toMatch(/--stain-augment: 'hue=0.1'/);
  });
});

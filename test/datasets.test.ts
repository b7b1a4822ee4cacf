// Folder layouts (src/node/datasets.ts) on small temporary folders (images are empty placeholder
// files: loadDataset does not decode them) and on the real label files and patches in
// ../shared/data (skipped, with a warning, where absent); data splits (src/eval/folds.ts).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { assignPatientFolds, patientKFold, splitT1T2T3 } from '../src/eval/folds.js';
import { detectLayout, loadDataset, loadPatchFolders, MITOS2012_H_UM_PER_PIXEL } from '../src/node/datasets.js';

const DATA = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const MITOS = join(DATA, 'mitos2012-labels');
const TUPAC = join(DATA, 'tupac16-alt-labels');
const MIDOG_DIR = join(DATA, 'midog2021-labels');
const PATCHES = join(DATA, 'tupac16-aux-patches');
for (const d of [MITOS, TUPAC, MIDOG_DIR, PATCHES]) if (!existsSync(d)) console.warn(`datasets.test: ${d} is absent; its real-data tests are skipped`);

const TMP = mkdtempSync(join(tmpdir(), 'mitoscan-datasets-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));
let n = 0;
/** A fresh folder with the given files (path -> content; images are empty placeholders). */
function folder(files: Record<string, string>): string {
  const root = join(TMP, `d${n++}`);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  mkdirSync(root, { recursive: true });
  return root;
}

describe('mitos2012 layout', () => {
  const root = folder({
    'A00_v2/A00_01.bmp': '',
    'A00_v2/A00_01.csv': '10,20,12,20,11,23\n100,100\n',
    'A01_v2/A01_02.bmp': '',
    'A01_v2/A01_02.csv': '',
    'H00_v2/H00_01.tiff': '',
    'H00_v2/H00_01.csv': '5,6\n',
    'DERIVED_centroids.csv': 'image,x\nA00_01,3\n',
    'notes.txt': 'x',
  });
  it('finds frames and their labels, patient = slide, resolution per scanner', async () => {
    expect(await detectLayout(root)).toBe('mitos2012');
    const ds = await loadDataset(root);
    expect(ds.map((d) => d.id)).toEqual(['A00_01', 'A01_02', 'H00_01']);
    expect(ds[0]).toEqual({ id: 'A00_01', imagePath: join(root, 'A00_v2/A00_01.bmp'), patient: 'A00', umPerPixel: 0.2456, mitoses: [{ x: 11, y: 21 }, { x: 100, y: 100 }] });
    expect(ds[1].mitoses).toEqual([]);
    expect(ds[2].umPerPixel).toBe(MITOS2012_H_UM_PER_PIXEL);
    expect((await loadDataset(root, { layout: 'mitos2012', umPerPixel: 0.3 })).every((d) => d.umPerPixel === 0.3)).toBe(true);
  });
  it('rejects a label file without its image, naming it', async () => {
    const bad = folder({ 'A00_01.bmp': '', 'A00_01.csv': '', 'A00_02.csv': '1,2\n' });
    await expect(loadDataset(bad)).rejects.toThrow(/A00_02\.csv: label file without an image/);
  });
  it('reports malformed label files with file and line', async () => {
    const bad = folder({ 'A00_01.bmp': '', 'A00_01.csv': '1,2\n3,4,5\n' });
    await expect(loadDataset(bad)).rejects.toThrow(/A00_01\.csv:2: 3 coordinates/);
  });
  it.runIf(existsSync(MITOS))('reads the 35 real label files from a separate label folder (226 mitoses)', async () => {
    const names = readdirSync(MITOS).filter((f) => /^A\d\d_\d\d\.csv$/.test(f));
    const imgs = folder(Object.fromEntries(names.map((f) => [`${f.slice(0, 3)}_v2/${f.replace('.csv', '.bmp')}`, ''])));
    const ds = await loadDataset(imgs, { labelsRoot: MITOS });
    expect(ds).toHaveLength(35);
    expect(ds.reduce((a, d) => a + d.mitoses.length, 0)).toBe(226);
    expect(new Set(ds.map((d) => d.patient))).toEqual(new Set(['A00', 'A01', 'A02', 'A03', 'A04']));
    expect(ds[0].mitoses[0].x).toBeCloseTo(608.502, 3);
  });
});

describe('amida13 / tupac16 layout', () => {
  it('reads images with labels in a parallel tree, beside them, or none; hard negatives from non-mitoses/', async () => {
    const root = folder({
      'mitoses_image_data/01/01.tif': '',
      'mitoses_image_data/01/02.tif': '',
      'mitoses_image_data/02/01.tif': '',
      'mitoses_image_data/02/01.csv': '7,8\n',
      'mitoses_ground_truth/01/01.csv': '100,200\n300,400,0.9\n',
      'alt/non-mitoses/01/01.csv': '5,6\n',
      'alt/non-mitoses/01/02.csv': '',
      'mitoses_ground_truth/05/01.csv': '1,1\n',
      'mitoses_image_data/01/01_mask_nuclei.png': '',
    });
    expect(await detectLayout(root)).toBe('amida13');
    const warnings: string[] = [];
    const ds = await loadDataset(root, { onWarning: (w) => warnings.push(w) });
    expect(ds.map((d) => d.id)).toEqual(['01/01', '01/02', '02/01']);
    expect(ds[0]).toEqual({
      id: '01/01',
      imagePath: join(root, 'mitoses_image_data/01/01.tif'),
      patient: '01',
      umPerPixel: 0.25,
      mitoses: [{ x: 200, y: 100 }, { x: 400, y: 300 }],
      hardNegatives: [{ x: 6, y: 5 }],
    });
    expect(ds[1]).toMatchObject({ mitoses: [], hardNegatives: [] });
    expect(ds[2]).toMatchObject({ patient: '02', mitoses: [{ x: 8, y: 7 }] });
    expect(ds[2].hardNegatives).toBeUndefined();
    expect(warnings.join('\n')).toMatch(/1 case\(s\) without images were ignored: 05/);
    expect((await loadDataset(root, { layout: 'tupac16' })).length).toBe(3);
  });
  it('rejects a label file whose case has images but not this one, and ambiguous duplicates', async () => {
    const a = folder({ 'img/01/01.tif': '', 'gt/01/01.csv': '', 'gt/01/07.csv': '1,2\n' });
    await expect(loadDataset(a)).rejects.toThrow(/gt[/\\]01[/\\]07\.csv: label file without an image/);
    const b = folder({ 'img/01/01.tif': '', 'gt/01/01.csv': '', 'gt2/01/01.csv': '' });
    await expect(loadDataset(b)).rejects.toThrow(/two label files for 01\/01/);
    const c = folder({ 'img/01/01.tif': '', 'img/01/01.csv': '3,4\n', 'gt/01/01.csv': '1,2\n' });
    expect((await loadDataset(c))[0].mitoses).toEqual([{ x: 4, y: 3 }]); // beside the image wins
    const d = folder({ 'img/01/01.tif': '' });
    await expect(loadDataset(d)).rejects.toThrow(/no mitosis label file found/);
  });
  it.runIf(existsSync(TUPAC))('reads the real alternative labels for the 311 AMIDA13 images (cases 01-12)', async () => {
    const files: Record<string, string> = {};
    for (let c = 1; c <= 12; c++) {
      const kase = String(c).padStart(2, '0');
      for (const f of readdirSync(join(TUPAC, 'mitoses', kase))) files[`images/${kase}/${f.replace('.csv', '.tif')}`] = '';
    }
    const imgs = folder(files);
    const warnings: string[] = [];
    const ds = await loadDataset(imgs, { labelsRoot: TUPAC, onWarning: (w) => warnings.push(w) });
    expect(ds).toHaveLength(311);
    expect(new Set(ds.map((d) => d.patient)).size).toBe(12);
    expect(ds.reduce((a, d) => a + d.mitoses.length, 0)).toBe(721);
    expect(ds.reduce((a, d) => a + (d.hardNegatives?.length ?? 0), 0)).toBe(2066);
    expect(warnings.join('\n')).toMatch(/61 case\(s\) without images/);
  });
});

describe('tutorial layout', () => {
  it('pairs 01_01.tif with 01_01.csv (x,y), patient = prefix; missing CSV = no mitoses', async () => {
    const root = folder({ '01_01.tif': '', '01_01.csv': '30,40\n', '01_02.tif': '', '02_01.tif': '', '02_01.csv': 'x,y\n1,2\n3,4\n' });
    expect(await detectLayout(root)).toBe('tutorial');
    const warnings: string[] = [];
    const ds = await loadDataset(root, { onWarning: (w) => warnings.push(w) });
    expect(ds.map((d) => [d.id, d.patient, d.mitoses.length])).toEqual([['01_01', '01', 1], ['01_02', '01', 0], ['02_01', '02', 2]]);
    expect(ds[0].mitoses).toEqual([{ x: 30, y: 40 }]);
    expect(ds[0].umPerPixel).toBe(0.25);
    expect(warnings.join()).toMatch(/1 image\(s\) have no label file.*01_02/);
    const rc = await loadDataset(root, { layout: 'tutorial', tutorialOrder: 'rowcol', umPerPixel: 0.5 });
    expect(rc[0]).toMatchObject({ umPerPixel: 0.5, mitoses: [{ x: 40, y: 30 }] });
  });
});

describe('midog layout', () => {
  const coco = JSON.stringify({
    images: [
      { id: 1, file_name: '001.tiff', width: 500, height: 400 },
      { id: 2, file_name: '002.tiff', width: 500, height: 400 },
      { id: 3, file_name: '003.tiff', width: 500, height: 400 },
    ],
    categories: [{ id: 1, name: 'mitotic figure' }, { id: 2, name: 'not mitotic figure' }],
    annotations: [
      { id: 1, image_id: 1, category_id: 1, bbox: [100, 100, 150, 150] },
      { id: 2, image_id: 1, category_id: 2, bbox: [10, 20, 60, 70] },
      { id: 3, image_id: 2, category_id: 2, bbox: [200, 200, 250, 250] },
    ],
  });
  it('reads TIFFs with the COCO json; leaves out unlabelled and absent images', async () => {
    const root = folder({ 'images/001.tiff': '', 'images/002.tiff': '', 'images/003.tiff': '', 'MIDOG.json': coco });
    expect(await detectLayout(root)).toBe('midog');
    const warnings: string[] = [];
    const ds = await loadDataset(root, { onWarning: (w) => warnings.push(w) });
    expect(ds).toEqual([
      { id: '001', imagePath: join(root, 'images/001.tiff'), patient: '001', umPerPixel: 0.25, mitoses: [{ x: 125, y: 125 }], hardNegatives: [{ x: 35, y: 45 }] },
      { id: '002', imagePath: join(root, 'images/002.tiff'), patient: '002', umPerPixel: 0.25, mitoses: [], hardNegatives: [{ x: 225, y: 225 }] },
    ]);
    expect(warnings.join()).toMatch(/1 image\(s\) have no annotation/);
  });
  it.runIf(existsSync(MIDOG_DIR))('reads the real MIDOG.json for the images present', async () => {
    const imgs = folder({ '001.tiff': '', '002.tiff': '', '160.tiff': '' });
    const warnings: string[] = [];
    const ds = await loadDataset(imgs, { labelsRoot: MIDOG_DIR, onWarning: (w) => warnings.push(w) });
    expect(ds.map((d) => d.id)).toEqual(['001', '002']);
    expect(ds[0].hardNegatives![0]).toEqual({ x: 4361, y: 371 });
    expect(warnings.join('\n')).toMatch(/197 image\(s\) listed in MIDOG\.json are not under/);
  });
});

describe('errors', () => {
  it('names a missing root, a file given as root, an unknown layout', async () => {
    await expect(loadDataset(join(TMP, 'nope'))).rejects.toThrow(/nope: no such folder/);
    const f = join(TMP, 'file.txt');
    writeFileSync(f, '');
    await expect(loadDataset(f)).rejects.toThrow(/file\.txt: is a file/);
    const r = folder({ 'a.tif': '' });
    await expect(loadDataset(r, { layout: 'foo' as 'auto' })).rejects.toThrow(/unknown layout 'foo'/);
  });
  it('lists the layouts it tried when nothing fits', async () => {
    const r = folder({ 'x/slide.svs': '', 'readme.csv': 'a\n', 'photo.png': '' });
    await expect(loadDataset(r)).rejects.toThrow(/no labelled images found \(1 image file\(s\) and 1 CSV file\(s\) here\); tried the layouts mitos2012.*amida13.*tutorial.*midog/);
    await expect(loadDataset(r, { layout: 'tutorial' })).rejects.toThrow(/no images of the tutorial/);
  });

  it('says why a json beside MIDOG TIFFs was passed over', async () => {
    const r = folder({ '001.tiff': '', 'MIDOG.json': '{"images": [, "annotations": []}' });
    await expect(loadDataset(r)).rejects.toThrow(/MIDOG\.json: not valid JSON/);
    await expect(loadDataset(r, { layout: 'midog' })).rejects.toThrow(/no COCO json .*MIDOG\.json: not valid JSON/);
    const other = folder({ '001.tiff': '', 'MIDOG.json': '{"images": [{"id": 1, "file_name": "002.tiff"}], "annotations": []}' });
    await expect(loadDataset(other, { layout: 'midog' })).rejects.toThrow(/MIDOG\.json: lists none of the 1 TIFF image\(s\) found/);
    await expect(loadDataset(other, { labelsRoot: join(other, 'nowhere') })).rejects.toThrow(/nowhere: no such folder \(the label files\)/);
  });
});

describe('loadPatchFolders', () => {
  it('reads class folders, patient = name prefix', async () => {
    const root = folder({ 'mitoses/27_01_0.jpg': '', 'negative/30_02_1.png': '', 'negative/x.jpg': '', 'negative/notes.txt': '', 'other/1_1_1.jpg': '' });
    const ps = await loadPatchFolders(root);
    expect(ps).toEqual([
      { path: join(root, 'mitoses/27_01_0.jpg'), label: 1, patient: '27' },
      { path: join(root, 'negative/30_02_1.png'), label: 0, patient: '30' },
      { path: join(root, 'negative/x.jpg'), label: 0, patient: 'x' },
    ]);
    await expect(loadPatchFolders(folder({ 'a/b.jpg': '' }))).rejects.toThrow(/no class folders found; expected mitosis\/ and non-mitosis\/ \(found a\/\)/);
    await expect(loadPatchFolders(folder({ 'mitosis/x.txt': '' }))).rejects.toThrow(/hold no images/);
  });
  it.runIf(existsSync(PATCHES))('reads the real TUPAC16 patches: 65 mitosis + 178 non-mitosis, cases 27-71', async () => {
    const ps = await loadPatchFolders(PATCHES);
    expect(ps.filter((p) => p.label === 1)).toHaveLength(65);
    expect(ps.filter((p) => p.label === 0)).toHaveLength(178);
    const cases = [...new Set(ps.map((p) => Number(p.patient)))].sort((a, b) => a - b);
    expect(cases[0]).toBe(27);
    expect(cases[cases.length - 1]).toBe(71);
    expect(new Set(ps.filter((p) => p.label === 0).map((p) => p.patient))).toEqual(new Set(['27', '30', '32', '36']));
  });
});

describe('folds', () => {
  // 9 patients with 1..9 images each (45 items).
  const items = Array.from({ length: 9 }, (_, p) => Array.from({ length: p + 1 }, (_, i) => ({ patient: `P${p}`, i }))).flat();
  it('puts every patient in exactly one fold, balanced by image count, deterministically', () => {
    const f = assignPatientFolds(items, 5, 1);
    expect(f).toHaveLength(45);
    const foldOf = new Map<string, Set<number>>();
    items.forEach((it, i) => foldOf.set(it.patient, (foldOf.get(it.patient) ?? new Set()).add(f[i])));
    for (const s of foldOf.values()) expect(s.size).toBe(1);
    const load = [0, 1, 2, 3, 4].map((k) => f.filter((x) => x === k).length);
    expect(Math.max(...load) - Math.min(...load)).toBeLessThanOrEqual(1); // 45 / 5 = 9 each is reachable
    expect(assignPatientFolds(items, 5, 1)).toEqual(f);
    // Input order does not matter (same fold per patient).
    const rev = items.slice().reverse();
    const fr = assignPatientFolds(rev, 5, 1);
    rev.forEach((it, i) => expect(fr[i]).toBe(f[items.indexOf(it)]));
  });
  it('changes with the seed among equal-sized patients and rejects too few patients', () => {
    const eq = Array.from({ length: 12 }, (_, p) => ({ patient: `Q${p}` }));
    const seeds = new Set([0, 1, 2, 3, 4].map((s) => assignPatientFolds(eq, 3, s).join()));
    expect(seeds.size).toBeGreaterThan(1);
    expect(() => assignPatientFolds(eq.slice(0, 2), 3)).toThrow(/3 folds need at least 3 patients, the data have 2 \(Q0, Q1\)/);
    expect(() => assignPatientFolds(eq, 1)).toThrow(/k must be/);
  });
  it('patientKFold: test sets partition the items, train = the rest', () => {
    const folds = patientKFold(items, 3, 7);
    expect(folds.reduce((a, f) => a + f.test.length, 0)).toBe(45);
    for (const f of folds) {
      expect(f.train.length + f.test.length).toBe(45);
      const testPatients = new Set(f.test.map((x) => x.patient));
      expect(f.train.some((x) => testPatients.has(x.patient))).toBe(false);
    }
  });
  it('splitT1T2T3: 26/9/15 of 50 images by default; byPatient keeps patients whole', () => {
    const fifty = Array.from({ length: 50 }, (_, i) => ({ patient: `A0${i % 5}`, i }));
    const s = splitT1T2T3(fifty, { seed: 3 });
    expect([s.T1.length, s.T2.length, s.T3.length]).toEqual([26, 9, 15]);
    expect(new Set([...s.T1, ...s.T2, ...s.T3].map((x) => x.i)).size).toBe(50);
    expect(splitT1T2T3(fifty, { seed: 3 })).toEqual(s);
    expect(splitT1T2T3(fifty, { seed: 4 })).not.toEqual(s);
    const p = splitT1T2T3(items, { sizes: [3, 1, 1], byPatient: true, seed: 2 });
    const sets = [p.T1, p.T2, p.T3].map((xs) => new Set(xs.map((x) => x.patient)));
    for (let a = 0; a < 3; a++) for (let b = a + 1; b < 3; b++) for (const x of sets[a]) expect(sets[b].has(x)).toBe(false);
    expect(p.T1.length + p.T2.length + p.T3.length).toBe(45);
    expect(Math.abs(p.T1.length - 27)).toBeLessThanOrEqual(4);
    expect(() => splitT1T2T3(items, { sizes: [0, 0, 0] })).toThrow(/sizes/);
  });
});

describe('hostile data set folders', () => {
  const base = mkdtempSync(join(tmpdir(), 'mitoscan-ds-hostile-'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

  it('does not follow symlinks out of the folder, and says so', async () => {
    const root = join(base, 'tut'), foreign = join(base, 'foreign');
    mkdirSync(root, { recursive: true });
    mkdirSync(foreign, { recursive: true });
    writeFileSync(join(root, '01_01.tif'), png);
    writeFileSync(join(root, '01_01.csv'), '1,2\n');
    writeFileSync(join(foreign, '02_01.tif'), png);
    writeFileSync(join(foreign, '02_01.csv'), '3,4\n');
    symlinkSync(foreign, join(root, 'elsewhere'));
    symlinkSync(root, join(root, 'loop'));
    const warnings: string[] = [];
    const ds = await loadDataset(root, { layout: 'tutorial', onWarning: (w) => warnings.push(w) });
    expect(ds.map((d) => d.id)).toEqual(['01_01']);
    expect(warnings.join('\n')).toMatch(/1 symbolic link\(s\) pointing outside the data set folder.*elsewhere/);
  });

  it('reports the image files each layout skips, with a count and the reason', async () => {
    const root = join(base, 'tut2');
    mkdirSync(root, { recursive: true });
    for (const n of ['01_01', 'scan-A', 'notes_x']) writeFileSync(join(root, `${n}.tif`), png);
    writeFileSync(join(root, '01_01.csv'), '1,2\n');
    const warnings: string[] = [];
    await loadDataset(root, { layout: 'tutorial', onWarning: (w) => warnings.push(w) });
    expect(warnings.join('\n')).toMatch(/2 image file\(s\) skipped by the tutorial layout, names not of the form <digits>_<digits>.*notes_x\.tif, scan-A\.tif/);
  });

  it('warns about AMIDA13 images without a label file', async () => {
    const root = join(base, 'amida');
    mkdirSync(join(root, '01'), { recursive: true });
    for (const n of ['01', '02', '03']) writeFileSync(join(root, '01', `${n}.tif`), png);
    writeFileSync(join(root, '01', '01.csv'), '5,6\n');
    const warnings: string[] = [];
    const ds = await loadDataset(root, { layout: 'amida13', onWarning: (w) => warnings.push(w) });
    expect(ds.length).toBe(3);
    expect(warnings.join('\n')).toMatch(/2 image\(s\) have no label file and count as having no mitoses: 01\/02, 01\/03/);
  });

  it('refuses a label CSV that holds binary data without echoing it', async () => {
    const root = join(base, 'bin');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, '01_01.tif'), png);
    writeFileSync(join(root, '01_01.csv'), new Uint8Array([0x31, 0x2c, 0x00, 0x01, 0x1b, 0x5b, 0x32, 0x4a, 0xff, 0x0a]));
    const err = await loadDataset(root, { layout: 'tutorial' }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/01_01\.csv:1: holds binary data, not text \(1,\\x00\\x01\\x1b\[2J\\ufffd\\x0a\)/);
    expect((err as Error).message).not.toMatch(/[\x00-\x08\x1b]/);
  });
});

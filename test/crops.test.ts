// Crops around mitotic figures as training images: the AMi-Br table (src/datasets/crops.ts), crop
// sampling with a labelled region and an exclusion ring (buildTrainingSet with region /
// exclusionPx, on tiny in-memory crops), slide-level splits, and the real AMi-Br crops and TUPAC16
// auxiliary patches from ../shared/data (skipped, with a warning, where absent).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { amiBrFileName, contentBounds, cropCentroids, parseAmiBrCsv, scaleBounds, slidePatient, tupacAuxPatient } from '../src/datasets/crops.js';
import type { RgbaImage } from '../src/model/dense.js';
import type { NetSpec } from '../src/model/spec.js';
import { loadAmiBrCrops, loadPatchFolderImages } from '../src/node/crops.js';
import { cropRegion, labelMasks, makeRng, type Point } from '../src/train/sampling.js';
import { ImageStore, imageNormalisation } from '../src/train/trainer.js';
import { buildTrainingSet, heldOutPatients, patientGroup, splitBySlide, type TrainingImage } from '../src/train/training-set.js';
import { useEngine } from './helpers/gpu.js';

const DATA = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const AMIBR = `${DATA}amibr-figures`;
const AUX = `${DATA}tupac16-aux-patches`;
for (const d of [AMIBR, AUX]) if (!existsSync(d)) console.warn(`crops.test: ${d} is absent; its real-data tests are skipped`);

const ctx = useEngine();

function noise(w: number, h: number, seed: number): RgbaImage {
  const r = makeRng(seed);
  const data = new Uint8ClampedArray(4 * w * h);
  for (let i = 0; i < w * h; i++) {
    data[4 * i] = 100 + 100 * r();
    data[4 * i + 1] = 60 + 100 * r();
    data[4 * i + 2] = 120 + 100 * r();
    data[4 * i + 3] = 255;
  }
  return { width: w, height: h, data };
}

const dist2 = (p: { x: number; y: number }, c: Point) => (p.x - c.x) ** 2 + (p.y - c.y) ** 2;

const CSV = [
  ',slide,dataset,uid,x,y,expert1_label,majority_atypical',
  '0,002.tiff,MIDOG21,6,1000,2000,NMF prometaphase,False',
  '1,002.tiff,MIDOG21,7,1030,1960,"AMF, segregation",True', // 30 right, 40 up: inside 6's crop
  '2,002.tiff,MIDOG21,8,1064,2000,NMF metaphase,False', // x = cx + 64: just outside (half-open)
  '3,003.tiff,MIDOG21,9,1001,2001,NMF metaphase,False', // another slide
  '4,04_stitched1.tif,TUPAC16,10,5,6,NMF metaphase,False',
  '5,27.tif,TUPAC16,11,5,6,NMF metaphase,False',
].join('\r\n');

describe('the AMi-Br table', () => {
  it('parses rows, patients and file names', () => {
    const rows = parseAmiBrCsv(CSV, 'AMI-BR.csv');
    expect(rows).toHaveLength(6);
    expect(rows[1]).toMatchObject({ line: 3, index: 1, slide: '002.tiff', dataset: 'MIDOG21', uid: '7', x: 1030, y: 1960, atypical: true, patient: 'MIDOG21:002' });
    expect(rows[1].fields.expert1_label).toBe('AMF, segregation');
    expect(amiBrFileName(rows[1])).toBe('MIDOG21_7.png');
    expect(rows.map((r) => r.patient)).toEqual(['MIDOG21:002', 'MIDOG21:002', 'MIDOG21:002', 'MIDOG21:003', 'TUPAC16:4', 'TUPAC16:27']);
    expect(slidePatient('TUPAC16', '07.tif')).toBe('TUPAC16:7');
    expect(tupacAuxPatient('027_01_14.jpg')).toBe('TUPAC16:27');
    expect(tupacAuxPatient('/a/b/27_01_14.jpg')).toBe(slidePatient('TUPAC16', '27.tif'));
    expect(() => tupacAuxPatient('foo.jpg')).toThrow(/foo\.jpg: not a TUPAC16 auxiliary patch name/);
  });

  it('names the file and the line of a bad row', () => {
    expect(() => parseAmiBrCsv(',slide,dataset,uid,x\n0,a,b,c,1\n', 'T.csv')).toThrow(/^T\.csv:1: the header lacks the column\(s\) y/);
    expect(() => parseAmiBrCsv(',slide,dataset,uid,x,y\n0,a,MIDOG21,1,2,3\n\n1,a,MIDOG21,2,zz,3\n', 'T.csv')).toThrow(/^T\.csv:4: x is not a number: "zz"/);
    expect(() => parseAmiBrCsv(',slide,dataset,uid,x,y\n0,a,MIDOG21,1,2\n', 'T.csv')).toThrow(/^T\.csv:2: 5 fields, the header has 6/);
    expect(() => parseAmiBrCsv(',slide,dataset,uid,x,y\n0,a,MIDOG21,1,2,3\n1,b,MIDOG21,1,5,6\n', 'T.csv')).toThrow(/^T\.csv:3: duplicate figure MIDOG21_1 \(first on line 2\)/);
    expect(() => parseAmiBrCsv('', 'T.csv')).toThrow(/^T\.csv: empty file/);
  });

  it('labels every figure of the slide inside a crop, its own at the centre', () => {
    const rows = parseAmiBrCsv(CSV);
    expect(cropCentroids(rows, '002.tiff', 1000, 2000, 64)).toEqual([{ x: 64, y: 64 }, { x: 94, y: 24 }]);
    // from the neighbour's crop, figure 6 is 30 left and 40 down; 8 is at 34 right and 40 down
    expect(cropCentroids(rows, '002.tiff', 1030, 1960, 64)).toEqual([{ x: 64, y: 64 }, { x: 34, y: 104 }, { x: 98, y: 104 }]);
    expect(cropCentroids(rows, '003.tiff', 1000, 2000, 64)).toEqual([{ x: 65, y: 65 }]);
  });

  it('finds the tissue inside black padding and maps it to another resolution', () => {
    const im = noise(20, 16, 1);
    for (let y = 0; y < 16; y++) for (let x = 0; x < 20; x++) if (y < 5 || x >= 17) im.data.fill(0, 4 * (y * 20 + x), 4 * (y * 20 + x) + 3);
    expect(contentBounds(im)).toEqual({ x0: 0, y0: 5, x1: 17, y1: 16 });
    expect(contentBounds(noise(4, 4, 2))).toEqual({ x0: 0, y0: 0, x1: 4, y1: 4 });
    // halving: pixel i' covers [2i', 2i' + 2): rows 3.. (from 5: ceil(2.5)), columns ..8 (17/2 = 8.5)
    expect(scaleBounds({ x0: 0, y0: 5, x1: 17, y1: 16 }, 20, 16, 10, 8)).toEqual({ x0: 0, y0: 3, x1: 8, y1: 8 });
  });
});

describe('cropRegion', () => {
  it('holds exactly the centres whose whole window lies inside the crop', () => {
    for (const [W, H, S] of [[40, 31, 15], [30, 30, 10], [12, 20, 13], [5, 5, 1]]) {
      const r = cropRegion(W, H, S);
      const R = Math.floor(S / 2);
      for (let y = -1; y <= H; y++)
        for (let x = -1; x <= W; x++) {
          const fits = x - R >= 0 && x - R + S - 1 <= W - 1 && y - R >= 0 && y - R + S - 1 <= H - 1;
          expect(x >= r.x0 && x < r.x1 && y >= r.y0 && y < r.y1, `${W}x${H} S=${S} (${x}, ${y})`).toBe(fits);
        }
    }
    expect(cropRegion(12, 20, 13)).toMatchObject({ x0: 6, x1: 6 }); // empty: narrower than the window
    expect(cropRegion(40, 40, 15, 3)).toEqual({ x0: 10, y0: 10, x1: 30, y1: 30 });
  });
});

describe('crop sampling', () => {
  const S = 15, d = 3, excl = 6;
  const spec: NetSpec = {
    name: 'tiny15',
    input: { channels: 3, size: S },
    layers: [{ type: 'conv', maps: 4, k: 4 }, { type: 'maxpool', k: 2 }, { type: 'conv', maps: 6, k: 3 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 8 }, { type: 'fc', units: 2 }],
    activation: 'tanh',
  };
  // a 40x40 crop with its figure at the centre, a neighbour near the edge of the region and one
  // outside it; a 20x20 crop whose region is all within the exclusion ring (no negatives)
  const images: TrainingImage[] = [
    { id: 'a', patient: 'MIDOG21:1', image: noise(40, 40, 3), mitoses: [{ x: 20, y: 20 }, { x: 31, y: 9.5 }, { x: 2, y: 3 }], region: cropRegion(40, 40, S) },
    { id: 'b', patient: 'MIDOG21:1', image: noise(20, 20, 4), mitoses: [{ x: 10, y: 10 }], region: cropRegion(20, 20, S) },
    { id: 'v', patient: 'MIDOG21:2', image: noise(20, 20, 5), mitoses: [{ x: 10, y: 10 }], region: cropRegion(20, 20, S) },
  ];
  const isVal = [false, false, true];
  const model = { spec, normalisation: imageNormalisation(images.map((im) => im.image)), umPerPixel: 1 };

  it('labels only inside the region: positives within d, negatives beyond the exclusion radius', async () => {
    const e = ctx.e;
    const store = ImageStore.upload(e, images.map((im) => im.image));
    const set = await buildTrainingSet(e, store, images, isVal, model, { radiusPx: d, exclusionPx: excl, samples: 600, stage1Epochs: 0, seed: 3 });
    store.destroy();
    const all = [...set.train, ...set.val];
    expect(set.train.length).toBe(600);
    for (const s of all) {
      const im = images[s.image];
      const R = Math.floor(S / 2);
      // the whole window inside the crop
      expect(s.x - R >= 0 && s.x - R + S - 1 < im.image.width && s.y - R >= 0 && s.y - R + S - 1 < im.image.height, `${im.id} (${s.x}, ${s.y})`).toBe(true);
      const nearest = Math.min(...im.mitoses.map((c) => dist2(s, c)));
      if (s.label === 1) expect(nearest).toBeLessThan(d * d);
      else expect(nearest).toBeGreaterThanOrEqual(excl * excl);
    }
    // every in-region disk pixel is a positive, the neighbour's included; none of the outside one
    const masks = images.map((im) => labelMasks(im.image.width, im.image.height, im.mitoses, { radius: d, region: im.region }).positive);
    const count = (i: number) => masks[i].reduce((a, b) => a + b, 0);
    expect(set.stats.trainPositives).toBe(count(0) + count(1));
    expect(count(0)).toBeGreaterThan(25 + 5); // the centre's disk (25 px) and part of the neighbour's
    const pos = set.train.filter((s) => s.label === 1 && s.image === 0);
    expect(pos.some((s) => dist2(s, images[0].mitoses[1]) < d * d)).toBe(true);
    expect(pos.some((s) => dist2(s, images[0].mitoses[2]) < d * d)).toBe(false);
    // crop b (and v) have no pixel at least 6 px from their figure inside their 6x6 region
    expect(set.train.filter((s) => s.image === 1 && s.label === 0)).toHaveLength(0);
    expect(set.stats.trainImagesWithoutNegatives).toBe(1);
    expect(set.stats.valImagesWithoutNegatives).toBe(1);
    expect(set.val.length).toBeGreaterThan(0);
    expect(set.val.every((s) => s.image === 2 && s.label === 1)).toBe(true);
    // the negatives of crop a spread over its eligible pixels
    const neg = set.train.filter((s) => s.label === 0);
    expect(neg.length).toBe(600 - set.stats.trainPositives);
    expect(new Set(neg.map((s) => `${s.x},${s.y}`)).size).toBeGreaterThan(100);
  });

  it('explains a training set without any eligible negative, and a bad exclusion radius', async () => {
    const e = ctx.e;
    const tight = [images[1], images[2]];
    const store = ImageStore.upload(e, tight.map((im) => im.image));
    await expect(buildTrainingSet(e, store, tight, [false, false], model, { radiusPx: d, exclusionPx: excl, samples: 100, stage1Epochs: 0, seed: 1 })).rejects.toThrow(/none of the 2 training image\(s\) has a pixel eligible as a negative/);
    await expect(buildTrainingSet(e, store, tight, [false, false], model, { radiusPx: d, exclusionPx: 2, samples: 100, stage1Epochs: 0, seed: 1 })).rejects.toThrow(/exclusion radius must be >= the mitosis radius/);
    const bad = [{ ...tight[0], region: { x0: 0, y0: 0, x1: 21, y1: 5 } }, tight[1]];
    await expect(buildTrainingSet(e, store, bad, [false, false], model, { radiusPx: d, samples: 100, stage1Epochs: 0, seed: 1 })).rejects.toThrow(/training image b: region .* inside the 20x20 image/);
    store.destroy();
  });
});

describe('slide-level split', () => {
  const patients = [...['001', '002', '003', '004', '005', '006', '007', '008', '009', '010'].map((p) => `MIDOG21:${p}`), ...['4', '27', '30', '31', '41'].map((p) => `TUPAC16:${p}`)];
  it('holds out whole patients of every dataset, deterministically', () => {
    const held = heldOutPatients(patients, 0.2, 7);
    expect(held.filter((p) => patientGroup(p) === 'MIDOG21')).toHaveLength(2);
    expect(held.filter((p) => patientGroup(p) === 'TUPAC16')).toHaveLength(1);
    expect(heldOutPatients([...patients].reverse(), 0.2, 7)).toEqual(held); // order-independent
    expect(heldOutPatients(patients, 0.2, 8)).not.toEqual(held);
    expect(heldOutPatients(['MIDOG21:1', 'TUPAC16:2', 'TUPAC16:3'], 0.01, 1)).toEqual(expect.arrayContaining([expect.stringMatching(/^TUPAC16:/)]));
    expect(heldOutPatients(['MIDOG21:1', 'TUPAC16:2', 'TUPAC16:3'], 0.9, 1).filter((p) => p.startsWith('TUPAC16'))).toHaveLength(1); // never a whole group
    expect(heldOutPatients(patients, 0, 1)).toEqual([]);
  });

  it('puts no patient on both sides', () => {
    const r = makeRng(11);
    const images = Array.from({ length: 60 }, (_, i) => ({ id: `i${i}`, patient: patients[Math.floor(r() * patients.length)] }));
    const s = splitBySlide(images, 0.3, 2);
    const tr = new Set(s.train.map((im) => im.patient));
    expect(s.test.length).toBeGreaterThan(0);
    expect(s.test.every((im) => !tr.has(im.patient))).toBe(true);
    expect(s.train.length + s.test.length).toBe(60);
    expect(s.testPatients).toEqual([...new Set(s.test.map((im) => im.patient))].sort());
    expect(new Set(s.testPatients.map(patientGroup))).toEqual(new Set(['MIDOG21', 'TUPAC16']));
    const fixed = splitBySlide(images, new Set(['TUPAC16:27']));
    expect(fixed.isTest).toEqual(images.map((im) => im.patient === 'TUPAC16:27'));
  });
});

describe('real crops and patches (../shared/data)', () => {
  it.runIf(existsSync(AMIBR))('loads AMi-Br crops: the figure at (64, 64), its neighbours labelled, padding outside the region', async () => {
    const warnings: string[] = [];
    let counts = { loaded: -1, skipped: -1 };
    const ims = await loadAmiBrCrops(AMIBR, { trainMpp: 0.25, windowSize: 65, slides: (s) => s === '054.tiff' || s === '024.tiff', onWarning: (f, m) => warnings.push(`${f}: ${m}`), onDone: (c) => (counts = c) });
    expect(warnings).toEqual([]);
    expect(ims.length).toBe(7 + 43);
    expect(counts).toEqual({ loaded: 50, skipped: 0 });
    for (const im of ims) {
      expect(im.image.width).toBe(128);
      expect(im.mitoses[0]).toEqual({ x: 64, y: 64 });
      expect(im.patient).toMatch(/^MIDOG21:0(54|24)$/);
    }
    // MIDOG21_1208 is 28 px right and 40 px up of MIDOG21_1203 on slide 054: the same pixels
    const a = ims.find((im) => im.id === 'MIDOG21_1203.png')!, b = ims.find((im) => im.id === 'MIDOG21_1208.png')!;
    expect(a.mitoses).toContainEqual({ x: 92, y: 24 });
    expect(b.mitoses).toContainEqual({ x: 36, y: 104 });
    let diff = 0;
    for (let j = -10; j < 10; j++) for (let i = -10; i < 10; i++) for (let c = 0; c < 3; c++) diff += Math.abs(a.image.data[4 * ((24 + j) * 128 + 92 + i) + c] - b.image.data[4 * ((64 + j) * 128 + 64 + i) + c]);
    expect(diff).toBe(0);
    // MIDOG21_433 lies 16 px from the slide's top: 48 black rows, kept out of every window
    const edge = ims.find((im) => im.id === 'MIDOG21_433.png')!;
    expect(edge.region).toEqual({ x0: 32, y0: 48 + 32, x1: 96, y1: 96 });
    expect(ims.find((im) => im.id === 'MIDOG21_1203.png')!.region).toEqual({ x0: 32, y0: 32, x1: 96, y1: 96 });
    // at 0.5 µm/px: 64x64, centroids by (c + 0.5) s - 0.5; a 65 px window no longer fits
    const half = await loadAmiBrCrops(AMIBR, { trainMpp: 0.5, windowSize: 27, slides: (s) => s === '054.tiff' });
    expect(half[0].image.width).toBe(64);
    expect(half[0].mitoses[0]).toEqual({ x: 31.75, y: 31.75 });
    expect(half[0].region).toEqual({ x0: 13, y0: 13, x1: 51, y1: 51 });
    const skipped: string[] = [];
    const none = await loadAmiBrCrops(AMIBR, { trainMpp: 0.5, windowSize: 65, slides: (s) => s === '054.tiff', onWarning: (f, m) => skipped.push(`${f}: ${m}`) });
    expect(none).toEqual([]);
    expect(skipped).toHaveLength(7);
    expect(skipped[0]).toMatch(/MIDOG21_\d+\.png: 128x128 px at 0\.25 µm\/px is 64x64 px at 0\.5 µm\/px: too small for a 65x65 window/);
  });

  it.runIf(existsSync(AUX))('loads the TUPAC16 auxiliary patches as images with a region, patients matching AMi-Br', async () => {
    const warnings: string[] = [];
    const ims = await loadPatchFolderImages(AUX, { trainMpp: 0.5, mpp: 0.25, windowSize: 27, patient: tupacAuxPatient, onWarning: (f, m) => warnings.push(`${f}: ${m}`) });
    expect(warnings).toEqual([]);
    const mit = ims.filter((im) => im.id.startsWith('mitosis/'));
    expect(mit).toHaveLength(readdirSync(`${AUX}/mitosis`).length);
    expect(ims.length - mit.length).toBe(readdirSync(`${AUX}/non-mitosis`).length);
    for (const im of ims) {
      expect(im.patient).toMatch(/^TUPAC16:\d+$/);
      expect(im.image.width).toBe(40);
      expect(im.mitoses).toHaveLength(im.id.startsWith('mitosis/') ? 1 : 0);
      expect(im.region!.x1 - im.region!.x0).toBe(40 - 26);
    }
    expect(mit[0].mitoses[0]).toEqual({ x: 19.75, y: 19.75 }); // centre 40 of 80 -> (40.5) / 2 - 0.5
    // at 0.25 µm/px an 80 px patch is too small for a 101 px window: every file is reported
    let counts = { loaded: -1, skipped: -1 };
    await loadPatchFolderImages(AUX, { trainMpp: 0.25, mpp: 0.25, windowSize: 101, patient: tupacAuxPatient, onDone: (c) => (counts = c) });
    expect(counts).toEqual({ loaded: 0, skipped: ims.length });
    // the same cases in AMi-Br's TUPAC16 slides, and a split that keeps each case on one side
    if (existsSync(AMIBR)) {
      const rows = parseAmiBrCsv(readFileSync(`${AMIBR}/AMI-BR.csv`, 'utf8'));
      const amibr = new Set(rows.map((r) => r.patient));
      const aux = new Set(ims.map((im) => im.patient));
      expect([...aux].every((p) => amibr.has(p))).toBe(true);
      const items = [...rows.map((r) => ({ patient: r.patient, src: 'amibr' })), ...ims.map((im) => ({ patient: im.patient, src: 'aux' }))];
      const s = splitBySlide(items, 0.2, 1);
      const train = new Set(s.train.map((x) => x.patient));
      expect(s.test.every((x) => !train.has(x.patient))).toBe(true);
      expect(new Set(s.testPatients.map(patientGroup))).toEqual(new Set(['MIDOG21', 'TUPAC16']));
    }
  });
});

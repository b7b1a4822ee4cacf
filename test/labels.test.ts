// Label parsers on hand-made text and on the real label files in ../shared/data (skipped, with a
// warning, where that folder is absent).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  DatasetError,
  parseMidogJson,
  parseMitos2012Csv,
  parseMitos2012Regions,
  parseRowColCsv,
  parseXyCsv,
} from '../src/datasets/labels.js';

const DATA = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const MITOS = join(DATA, 'mitos2012-labels');
const TUPAC = join(DATA, 'tupac16-alt-labels');
const MIDOG = join(DATA, 'midog2021-labels', 'MIDOG.json');
for (const d of [MITOS, TUPAC, MIDOG]) if (!existsSync(d)) console.warn(`labels.test: ${d} is absent; its real-data tests are skipped`);

function expectDatasetError(f: () => unknown, file: string, line: number | undefined, pattern: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'should throw').toBeInstanceOf(DatasetError);
  const d = err as DatasetError;
  expect(d.file).toBe(file);
  expect(d.line).toBe(line);
  expect(d.message.startsWith(line === undefined ? `${file}: ` : `${file}:${line}: `)).toBe(true);
  expect(d.message).toMatch(pattern);
}

describe('MITOS 2012 parser', () => {
  it('takes the mean of the pixel list, x first', () => {
    const r = parseMitos2012Regions('10,20,12,20,11,23\n\n100,5\n', 'A.csv');
    expect(r).toHaveLength(2);
    expect(r[0].centroid.x).toBeCloseTo(11, 12);
    expect(r[0].centroid.y).toBeCloseTo(21, 12);
    expect(r[0].pixels).toBe(3);
    expect(r[1]).toEqual({ centroid: { x: 100, y: 5 }, pixels: 1 });
  });
  it('reads an empty file as no mitoses and tolerates CRLF and a trailing comma', () => {
    expect(parseMitos2012Csv('', 'e.csv')).toEqual([]);
    expect(parseMitos2012Csv('\n\r\n', 'e.csv')).toEqual([]);
    expect(parseMitos2012Csv('1,2,3,4,\r\n', 'c.csv')).toEqual([{ x: 2, y: 3 }]);
  });
  it('rejects an odd number of coordinates, naming file and line', () => {
    expectDatasetError(() => parseMitos2012Csv('1,2\n1,2,3\n', 'A00_01.csv'), 'A00_01.csv', 2, /3 coordinates.*even/);
  });
  it('rejects non-numbers, naming file and line', () => {
    expectDatasetError(() => parseMitos2012Csv('\n1,2,3,x4\n', 'A00_02.csv'), 'A00_02.csv', 2, /coordinate 4 'x4' is not a number/);
    expectDatasetError(() => parseMitos2012Csv('1,,3,4\n', 'f.csv'), 'f.csv', 1, /not a number/);
  });
});

describe('row,col and x,y parsers', () => {
  it('AMIDA13/TUPAC16 lines are row,col (y first); extra columns and a header are ignored', () => {
    expect(parseRowColCsv('row,col\n10,200\n 30 , 40 ,0.9\n', 'a.csv')).toEqual([{ x: 200, y: 10 }, { x: 40, y: 30 }]);
    expect(parseRowColCsv('', 'a.csv')).toEqual([]);
  });
  it('tutorial lines are x,y by default, row,col on request', () => {
    expect(parseXyCsv('\ufeffx,y\r\n5,7\r\n', 't.csv')).toEqual([{ x: 5, y: 7 }]);
    expect(parseXyCsv('5;7', 't.csv')).toEqual([{ x: 5, y: 7 }]);
    expect(parseXyCsv('5,7\n', 't.csv', 'rowcol')).toEqual([{ x: 7, y: 5 }]);
  });
  it('rejects short lines, non-numbers and a non-numeric second line', () => {
    expectDatasetError(() => parseRowColCsv('1,2\n3\n', '01/01.csv'), '01/01.csv', 2, /expected 'row,col'/);
    expectDatasetError(() => parseRowColCsv('1,2\n3,abc\n', '01/01.csv'), '01/01.csv', 2, /col 'abc' is not a number/);
    expectDatasetError(() => parseXyCsv('x,y\nx,y\n', '01_01.csv'), '01_01.csv', 2, /x 'x' is not a number/);
    expectDatasetError(() => parseXyCsv('1,-2\n', '01_01.csv'), '01_01.csv', 1, /negative/);
  });
  it('takes a first line for a header only when it names a coordinate column: prose is an error, not "no mitoses"', () => {
    expect(parseXyCsv('x,y\n', 't.csv')).toEqual([]);
    expect(parseXyCsv('"X","Y",score\n3,4,0.9\n', 't.csv')).toEqual([{ x: 3, y: 4 }]);
    for (const header of ['center_x,center_y', 'x_px,y_px', 'X-coordinate,Y-coordinate', 'Location_Center_X,Location_Center_Y', 'xc,yc', '#x,y', 'pos_x;pos_y', 'X [px]\tY [px]']) {
      expect(parseXyCsv(`${header}\n3,4\n`, 't.csv'), header).toEqual([{ x: 3, y: 4 }]);
    }
    expectDatasetError(() => parseXyCsv('hello world this is not a csv\n', 'truth.csv'), 'truth.csv', 1, /not a number|expected 'x,y'/);
    expectDatasetError(() => parseXyCsv('abc\n', 'truth.csv'), 'truth.csv', 1, /expected 'x,y'/);
    expectDatasetError(() => parseRowColCsv('name,value\n1,2\n', 'a.csv'), 'a.csv', 1, /row 'name' is not a number/);
  });
});

describe('MIDOG (COCO json) parser', () => {
  const doc = (bboxes: number[][], extra = '') =>
    JSON.stringify(
      {
        images: [
          { id: 1, file_name: '001.tiff', width: 1000, height: 800 },
          { id: 2, file_name: '002.tiff', width: 1000, height: 800 },
        ],
        categories: [{ id: 1, name: 'mitotic figure' }, { id: 2, name: 'not mitotic figure' }],
        annotations: bboxes.map((b, i) => ({ id: i + 1, image_id: 1, category_id: (i % 2) + 1, bbox: b })),
      },
      null,
      1,
    ) + extra;
  it('reads corner boxes (MIDOG) and COCO [x,y,w,h] boxes, splitting mitoses and hard negatives', () => {
    const a = parseMidogJson(doc([[100, 200, 150, 250], [300, 10, 350, 60]]), 'm.json');
    expect(a.map((r) => r.fileName)).toEqual(['001.tiff', '002.tiff']);
    expect(a[0].mitoses).toEqual([{ x: 125, y: 225 }]);
    expect(a[0].hardNegatives).toEqual([{ x: 325, y: 35 }]);
    expect(a[1]).toMatchObject({ width: 1000, height: 800, mitoses: [], hardNegatives: [] });
    const b = parseMidogJson(doc([[100, 200, 50, 50], [300, 10, 50, 50]]), 'm.json');
    expect(b[0].mitoses).toEqual([{ x: 125, y: 225 }]);
    const c = parseMidogJson(doc([[100, 200, 150, 250]]), 'm.json', { bbox: 'xywh' });
    expect(c[0].mitoses).toEqual([{ x: 175, y: 325 }]);
  });
  it('rejects bad json with the file and the line of the error', () => {
    const text = '{\n "images": [\n  {"id": 1,,}\n ]\n}';
    expectDatasetError(() => parseMidogJson(text, 'MIDOG.json'), 'MIDOG.json', 3, /not valid JSON/);
  });
  it('rejects a malformed bbox and an unknown image id, with the line of the annotation', () => {
    const bad = doc([[100, 200, 150, 250], [1, 2, 3]]);
    const line = bad.split('\n').findIndex((l, i, all) => l.includes('"bbox"') && all.slice(0, i).filter((m) => m.includes('"bbox"')).length === 1) + 1;
    expectDatasetError(() => parseMidogJson(bad, 'x.json'), 'x.json', line, /annotations\[1\] needs a bbox of 4 numbers/);
    const orphan = doc([[1, 2, 3, 4]]).replace('"image_id": 1', '"image_id": 9');
    expect(() => parseMidogJson(orphan, 'x.json')).toThrow(/x\.json:\d+: annotations\[0\] refers to image_id 9/);
    expect(() => parseMidogJson('{"images": 3}', 'y.json')).toThrow(DatasetError);
    expect(() => parseMidogJson('[]', 'y.json')).toThrow(/y\.json:1: expected a COCO json object/);
  });
});

describe.runIf(existsSync(MITOS))('real MITOS 2012 labels (scanner A, 2084x2084)', () => {
  const files = existsSync(MITOS) ? readdirSync(MITOS).filter((f) => /^A\d\d_\d\d\.csv$/.test(f)).sort() : [];
  const all = files.map((f) => ({ f, r: parseMitos2012Regions(readFileSync(join(MITOS, f), 'utf8'), f) }));
  it('has 35 files and the 226 mitoses of the training set, all inside the frame', () => {
    expect(files).toHaveLength(35);
    expect(all.reduce((a, x) => a + x.r.length, 0)).toBe(226);
    for (const { r } of all)
      for (const { centroid: c, pixels } of r) {
        expect(c.x).toBeGreaterThanOrEqual(0);
        expect(c.x).toBeLessThan(2084);
        expect(c.y).toBeGreaterThanOrEqual(0);
        expect(c.y).toBeLessThan(2084);
        expect(pixels).toBeGreaterThan(50);
      }
    expect(all.find((x) => x.f === 'A03_02.csv')!.r).toHaveLength(17);
    expect(all.find((x) => x.f === 'A00_05.csv')!.r).toHaveLength(1);
  });
  it('gives the known first centroid of A00_01 (x = column first)', () => {
    const c = all[0].r[0];
    expect(all[0].f).toBe('A00_01.csv');
    expect(c.pixels).toBe(723);
    expect(c.centroid.x).toBeCloseTo(608.502, 3);
    expect(c.centroid.y).toBeCloseTo(314.526, 3);
  });
  it('agrees with DERIVED_centroids.csv (0.1 px rounding) on every mitosis', () => {
    const derived = join(MITOS, 'DERIVED_centroids.csv');
    if (!existsSync(derived)) return console.warn('labels.test: DERIVED_centroids.csv absent');
    const rows = readFileSync(derived, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    expect(rows).toHaveLength(226);
    for (const [image, k, x, y, n] of rows) {
      const r = all.find((a) => a.f === `${image}.csv`)!.r[Number(k)];
      expect(Math.abs(r.centroid.x - Number(x)), `${image} #${k} x`).toBeLessThanOrEqual(0.051);
      expect(Math.abs(r.centroid.y - Number(y)), `${image} #${k} y`).toBeLessThanOrEqual(0.051);
      expect(r.pixels).toBe(Number(n));
    }
  });
});

describe.runIf(existsSync(TUPAC))('real TUPAC16 / AMIDA13 alternative labels', () => {
  const read = (kind: string) => {
    const out: { kase: string; image: string; c: ReturnType<typeof parseRowColCsv> }[] = [];
    for (const kase of readdirSync(join(TUPAC, kind)).sort())
      for (const f of readdirSync(join(TUPAC, kind, kase)).sort()) {
        out.push({ kase, image: f.replace(/\.csv$/, ''), c: parseRowColCsv(readFileSync(join(TUPAC, kind, kase, f), 'utf8'), `${kind}/${kase}/${f}`) });
      }
    return out;
  };
  const mit = existsSync(TUPAC) ? read('mitoses') : [];
  const neg = existsSync(TUPAC) ? read('non-mitoses') : [];
  const amida = (xs: typeof mit) => xs.filter((x) => Number(x.kase) <= 12);
  it('has 656 images in 73 cases with 1999 mitoses and 10483 hard negatives', () => {
    expect(mit).toHaveLength(656);
    expect(neg).toHaveLength(656);
    expect(new Set(mit.map((x) => x.kase)).size).toBe(73);
    expect(mit.reduce((a, x) => a + x.c.length, 0)).toBe(1999);
    expect(neg.reduce((a, x) => a + x.c.length, 0)).toBe(10483);
  });
  it('cases 01-12 are the 311 AMIDA13 images (2000x2000): 721 mitoses, all inside the frame', () => {
    expect(amida(mit)).toHaveLength(311);
    expect(amida(mit).reduce((a, x) => a + x.c.length, 0)).toBe(721);
    expect(amida(neg).reduce((a, x) => a + x.c.length, 0)).toBe(2066);
    for (const { c } of [...amida(mit), ...amida(neg)])
      for (const p of c) {
        expect(p.x).toBeGreaterThanOrEqual(0);
        expect(p.x).toBeLessThan(2000);
        expect(p.y).toBeGreaterThanOrEqual(0);
        expect(p.y).toBeLessThan(2000);
      }
  });
  it('reads row,col in that order (first line of mitoses/56/01.csv is row 94, col 3544)', () => {
    const x = mit.find((m) => m.kase === '56' && m.image === '01')!;
    expect(x.c[0]).toEqual({ x: 3544, y: 94 });
    expect(x.c).toHaveLength(5);
  });
});

describe.runIf(existsSync(MIDOG))('real MIDOG 2021 labels', () => {
  const labels = existsSync(MIDOG) ? parseMidogJson(readFileSync(MIDOG, 'utf8'), 'MIDOG.json') : [];
  it('has 200 images, 1721 mitotic figures and 2714 hard negatives; images 151-200 unlabelled', () => {
    expect(labels).toHaveLength(200);
    expect(labels[0]).toMatchObject({ id: 1, fileName: '001.tiff', width: 7215, height: 5412 });
    expect(labels.reduce((a, l) => a + l.mitoses.length, 0)).toBe(1721);
    expect(labels.reduce((a, l) => a + l.hardNegatives.length, 0)).toBe(2714);
    expect(labels.slice(150).every((l) => l.mitoses.length + l.hardNegatives.length === 0)).toBe(true);
    expect(labels.filter((l) => l.mitoses.length > 0)).toHaveLength(135);
  });
  it('takes box centres of the 50 px corner boxes, inside each image', () => {
    // The first annotation of 001.tiff: bbox [4336, 346, 4386, 396], "not mitotic figure".
    expect(labels[0].hardNegatives[0]).toEqual({ x: 4361, y: 371 });
    for (const l of labels)
      for (const p of [...l.mitoses, ...l.hardNegatives]) {
        expect(p.x).toBeGreaterThanOrEqual(0);
        expect(p.x).toBeLessThan(l.width);
        expect(p.y).toBeGreaterThanOrEqual(0);
        expect(p.y).toBeLessThan(l.height);
      }
  });
});

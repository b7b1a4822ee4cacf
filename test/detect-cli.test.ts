// `mitoscan detect` and `mitoscan info` end to end with an untrained compact20x net (made here) on
// one small synthetic field (96x96 at 0.9824 µm/px) saved as a 24-bit BMP, a tiled TIFF, a PNG and
// a JPEG: the five outputs per image exist and agree (CSV rows = JSON detections = GeoJSON
// features, PNGs at the image size), the three lossless files give the same detections as the
// detector called directly, --truth colours and scores agree with a recomputation, and bad input
// (a corrupt image, a truncated model) gives exit status 1 with the file named on stderr.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { encode as encodeJpeg } from 'jpeg-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../pipelines/args.js';
import { outputNames, run } from '../pipelines/detect.js';
import { describeModel, run as runInfo } from '../pipelines/info.js';
import { detectMitoses } from '../src/detect/detector.js';
import { COLOURS } from '../src/detect/results.js';
import { contestRadiusPx, matchDetections } from '../src/eval/score.js';
import { decodeImage, encodeBmp, encodePng, encodeTiff } from '../src/io/image.js';
import { initModel } from '../src/model/model-file.js';
import { compact20x, paramCount } from '../src/model/spec.js';
import { saveModel } from '../src/node/model-io.js';
import { generateField, type SynthField } from '../src/synth/tissue.js';
import { useEngine } from './helpers/gpu.js';
import { captured } from './helpers/quiet.js';

const MPP = 0.9824;
const T = 0.5; // threshold: an untrained net's probabilities sit around 0.5
const TMP = mkdtempSync(join(tmpdir(), 'mitoscan-detect-'));
const MODEL = join(TMP, 'net.mitoscan');
const ROOT = resolve(import.meta.dirname, '..');
const gpu = useEngine();
let field: SynthField;
const img = (f: string) => join(TMP, f);

beforeAll(async () => {
  field = generateField({ width: 96, height: 96, seed: 5, mpp: MPP, mitoses: 2 });
  writeFileSync(img('field.bmp'), encodeBmp(field.image));
  writeFileSync(img('field.tif'), encodeTiff(field.image, { tile: 32 }));
  writeFileSync(img('field.png'), encodePng(field.image));
  writeFileSync(img('field.jpg'), encodeJpeg({ width: 96, height: 96, data: field.image.data }, 92).data);
  writeFileSync(img('truth.csv'), 'x,y\n' + field.mitoses.map((m) => `${m.x},${m.y}`).join('\n') + '\n');
  writeFileSync(img('broken.png'), encodePng(field.image).subarray(0, 60));
  await saveModel(MODEL, initModel(compact20x, 3, { umPerPixel: MPP, provenance: { seed: 3, dataset: 'none (test)' } }));
  const bytes = readFileSync(MODEL);
  writeFileSync(join(TMP, 'truncated.mitoscan'), bytes.subarray(0, bytes.length - 100));
});
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

interface Outputs {
  csv: { x: number; y: number; score: number }[];
  csvText: string;
  json: { image: string; width: number; height: number; count: number; detections: { x: number; y: number; score: number; tp?: boolean }[]; truth?: { count: number; scores: { tp: number; fp: number; fn: number; f1: number } } };
  geo: { type: string; features: { geometry: { type: string; coordinates: number[] }; properties: { measurements: { score: number } } }[] };
}

/** Reads and cross-checks the five outputs of image `name` in `dir`. */
function readOutputs(dir: string, name: string, heatmap = true, size = 96): Outputs {
  for (const ext of ['csv', 'json', 'geojson', 'overlay.png']) expect(existsSync(join(dir, `${name}.${ext}`)), `${name}.${ext}`).toBe(true);
  expect(existsSync(join(dir, `${name}.heatmap.png`)), `${name}.heatmap.png`).toBe(heatmap);
  const csvText = readFileSync(join(dir, `${name}.csv`), 'utf8');
  const lines = csvText.trim().split('\n');
  expect(lines[0]).toBe('x,y,score');
  const csv = lines.slice(1).map((l) => {
    const [x, y, score] = l.split(',').map(Number);
    return { x, y, score };
  });
  const json = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as Outputs['json'];
  const geo = JSON.parse(readFileSync(join(dir, `${name}.geojson`), 'utf8')) as Outputs['geo'];
  expect(json.width).toBe(size);
  expect(json.height).toBe(size);
  expect(json.count).toBe(csv.length);
  expect(json.detections.length).toBe(csv.length);
  expect(geo.type).toBe('FeatureCollection');
  expect(geo.features.length).toBe(csv.length);
  csv.forEach((d, i) => {
    expect([json.detections[i].x, json.detections[i].y]).toEqual([d.x, d.y]);
    expect(json.detections[i].score).toBeCloseTo(d.score, 6);
    expect(geo.features[i].geometry).toEqual({ type: 'Point', coordinates: [d.x, d.y] });
  });
  const pngs = heatmap ? ['overlay.png', 'heatmap.png'] : ['overlay.png'];
  for (const p of pngs) {
    const im = decodeImage(readFileSync(join(dir, `${name}.${p}`)), `${name}.${p}`);
    expect([im.width, im.height], p).toEqual([size, size]);
  }
  return { csv, csvText, json, geo };
}

describe('mitoscan detect', () => {
  it('names outputs uniquely', () => {
    expect(outputNames(['a/x.png', 'b/y.tif'])).toEqual(['x', 'y']);
    expect(outputNames(['a/x.png', 'b/x.tif', 'c/x.png'])).toEqual(['x_png', 'x_tif', 'x_png-2']);
    expect(outputNames(['summary.png'])).toEqual(['summary-2']);
  });

  it('writes the five outputs for a BMP, a tiled TIFF, a PNG and a JPEG; the lossless three agree with the detector', async () => {
    const out = join(TMP, 'out1');
    const t0 = performance.now();
    const r = await captured(() => run([img('field.bmp'), img('field.tif'), img('field.png'), img('field.jpg'), '--model', MODEL, '--out', out, '--threshold', String(T)]));
    console.log(`detect-cli: 4 images in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(r.error).toBeUndefined();
    const o = Object.fromEntries(['bmp', 'tif', 'png', 'jpg'].map((k) => [k, readOutputs(out, `field_${k}`)]));
    expect(o.png.csv.length).toBeGreaterThan(0);
    expect(o.bmp.csvText).toBe(o.png.csvText);
    expect(o.tif.csvText).toBe(o.png.csvText);
    expect(o.jpg.csv.length).toBeGreaterThan(0);
    for (const d of o.jpg.csv) expect(d.score).toBeGreaterThan(T);
    // the same as the detector called directly on the field
    const direct = await detectMitoses(gpu.e, [initModel(compact20x, 3, { umPerPixel: MPP })], field.image, { threshold: T });
    expect(o.png.csv.map((d) => [d.x, d.y])).toEqual(direct.detections.map((d) => [d.x, d.y]));
    o.png.csv.forEach((d, i) => expect(d.score).toBeCloseTo(direct.detections[i].score, 5));
    // summary.csv: one row per image with its count; the table on stdout names each image
    const summary = readFileSync(join(out, 'summary.csv'), 'utf8').trim().split('\n');
    expect(summary[0]).toBe('image,name,width,height,count,seconds,error');
    expect(summary.length).toBe(5);
    for (const [k, line] of summary.slice(1).entries()) {
      const f = line.split(',');
      expect(f[1]).toBe(`field_${['bmp', 'tif', 'png', 'jpg'][k]}`);
      expect(Number(f[4])).toBe(Object.values(o)[k].csv.length);
      expect(f[6]).toBe('');
    }
    for (const f of ['field.bmp', 'field.tif', 'field.png', 'field.jpg']) expect(r.stdout).toContain(f);
    expect(r.stderr).toMatch(/detect .*\[#+\]/); // the progress bar
  });

  it('--truth: TP/FP/missed colours and scores that a recomputation confirms; --no-heatmap', async () => {
    const out = join(TMP, 'out2');
    const r = await captured(() => run([img('field.png'), '--model', MODEL, '--out', out, '--threshold', '0.45', '--truth', img('truth.csv'), '--no-heatmap', '--mpp', String(MPP)]));
    expect(r.error).toBeUndefined();
    const o = readOutputs(out, 'field', false);
    const truth = field.mitoses.map((m) => ({ x: m.x, y: m.y }));
    const m = matchDetections(o.csv, truth, contestRadiusPx(MPP));
    expect(o.json.truth!.count).toBe(truth.length);
    expect(o.json.truth!.scores).toMatchObject({ tp: m.scores.tp, fp: m.scores.fp, fn: m.scores.fn });
    expect(o.json.detections.map((d) => d.tp)).toEqual(m.tp);
    const ov = decodeImage(readFileSync(join(out, 'field.overlay.png')), 'overlay');
    const has = (c: readonly number[]) => {
      for (let i = 0; i < ov.data.length; i += 4) if (ov.data[i] === c[0] && ov.data[i + 1] === c[1] && ov.data[i + 2] === c[2]) return true;
      return false;
    };
    expect(has(COLOURS.truePositive)).toBe(m.scores.tp > 0);
    expect(has(COLOURS.falsePositive)).toBe(m.scores.fp > 0);
    expect(has(COLOURS.miss)).toBe(m.scores.fn > 0);
    expect(has(COLOURS.detection)).toBe(false);
    const summary = readFileSync(join(out, 'summary.csv'), 'utf8').trim().split('\n');
    expect(summary[0]).toBe('image,name,width,height,count,seconds,truth,tp,fp,fn,precision,recall,f1,error');
    expect(summary[1].split(',').slice(6, 10).map(Number)).toEqual([truth.length, m.scores.tp, m.scores.fp, m.scores.fn]);
  });

  it('--mpp other than the model\'s: the image is resampled, outputs stay in its own pixels', async () => {
    // 64x64 at 1.5 x the model's µm/px: resampled to 96x96 (the shapes the other tests compiled)
    const small = generateField({ width: 64, height: 64, seed: 6, mpp: MPP * 1.5, mitoses: 1 });
    writeFileSync(img('small.png'), encodePng(small.image));
    const out = join(TMP, 'out5');
    const r = await captured(() => run([img('small.png'), '--model', MODEL, '--out', out, '--threshold', String(T), '--mpp', String(MPP * 1.5)]));
    expect(r.error).toBeUndefined();
    const o = readOutputs(out, 'small', true, 64); // heatmap and overlay at 64x64, the map is 96x96
    expect(o.csv.length).toBeGreaterThan(0);
    for (const d of o.csv) {
      expect(d.x).toBeGreaterThanOrEqual(0);
      expect(d.x).toBeLessThan(64);
      expect(d.y).toBeGreaterThanOrEqual(0);
      expect(d.y).toBeLessThan(64);
    }
    const j = JSON.parse(readFileSync(join(out, 'small.json'), 'utf8')) as { umPerPixel: number; resampled: boolean };
    expect(j).toMatchObject({ umPerPixel: MPP * 1.5, resampled: true });
  });

  it('an --out holding results is refused without --force; a stale lock is taken over; of two runs at once the second is refused', async () => {
    const out = join(TMP, 'again');
    mkdirSync(out);
    writeFileSync(join(out, 'summary.csv'), 'old\n');
    writeFileSync(join(out, 'field.csv'), 'old\n');
    const args = (image: string, ...more: string[]) => [image, '--model', MODEL, '--out', out, '--threshold', String(T), '--no-heatmap', ...more];
    const refused = await captured(() => run(args(img('field.png'))));
    expect(String(refused.error)).toMatch(/again already holds results that this run would overwrite \(summary\.csv, field\.csv\); add --force to replace them, or choose another --out/);
    expect(readFileSync(join(out, 'summary.csv'), 'utf8')).toBe('old\n');
    expect(existsSync(join(out, '.mitoscan.lock'))).toBe(false); // the refused run left no lock
    // a lock left by a process that died (kill -9, a crash)
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(join(out, '.mitoscan.lock'), JSON.stringify({ pid: dead, host: hostname(), started: '2020-01-01T00:00:00.000Z', command: 'mitoscan detect (killed)' }) + '\n');
    // two runs on one folder at once: one takes the lock, the other is refused; summary.csv is the winner's
    const images = [img('field.png'), img('field.bmp')];
    const both = await captured(() => Promise.allSettled(images.map((im) => run(args(im, '--force')))));
    const settled = both.value!;
    expect(settled.map((x) => x.status).sort()).toEqual(['fulfilled', 'rejected']);
    const won = settled.findIndex((x) => x.status === 'fulfilled');
    const lost = settled[1 - won] as PromiseRejectedResult;
    expect(String(lost.reason)).toMatch(new RegExp(`again is in use by another mitoscan run \\(pid ${process.pid} .*choose another --out`));
    expect(both.stderr).toMatch(new RegExp(`took over a stale lock left by pid ${dead} \\(mitoscan detect \\(killed\\)`));
    expect(both.stderr).toMatch(/--force: replacing/);
    const summary = readFileSync(join(out, 'summary.csv'), 'utf8').trim().split('\n');
    expect(summary.length).toBe(2);
    expect(summary[1].split(',')[0]).toBe(images[won]);
    expect(existsSync(join(out, '.mitoscan.lock'))).toBe(false);
  });

  it('--page all: every page of a multi-page TIFF, each as detecting that page alone', async () => {
    const other = generateField({ width: 96, height: 96, seed: 6, mpp: MPP, mitoses: 3 });
    writeFileSync(img('stack.tif'), encodeTiff([field.image, other.image]));
    const out = join(TMP, 'pages');
    const r = await captured(() => run([img('stack.tif'), img('field.png'), '--page', 'all', '--model', MODEL, '--out', out, '--threshold', String(T)]));
    expect(r.error).toBeUndefined();
    const p0 = readOutputs(out, 'stack.p0');
    const p1 = readOutputs(out, 'stack.p1');
    // a one-page image keeps its plain name
    expect(readOutputs(out, 'field').csvText).toBe(p0.csvText);
    const direct = await detectMitoses(gpu.e, [initModel(compact20x, 3, { umPerPixel: MPP })], other.image, { threshold: T });
    expect(p1.csv.map((d) => [d.x, d.y])).toEqual(direct.detections.map((d) => [d.x, d.y]));
    const summary = readFileSync(join(out, 'summary.csv'), 'utf8').trim().split('\n');
    expect(summary[0]).toBe('image,page,name,width,height,count,seconds,error');
    expect(summary.slice(1).map((l) => l.split(',').slice(1, 3).join(','))).toEqual(['0,stack.p0', '1,stack.p1', ',field']);
    expect(r.stdout).toMatch(/stack\.tif p1/);
    const bad = await captured(() => run([img('stack.tif'), '--page', 'all', '--truth', img('truth.csv'), '--model', MODEL, '--out', out]));
    expect(String(bad.error)).toMatch(/--truth cannot be paired with --page all/);
  });

  it('rejects bad usage and bad models with clear errors', async () => {
    const noImage = await captured(() => run(['--model', MODEL]));
    expect(noImage.error).toBeInstanceOf(UsageError);
    const badPreset = await captured(() => run([img('field.png'), '--model', MODEL, '--preset', 'DNN3']));
    expect(badPreset.error).toBeInstanceOf(UsageError);
    const badStride = await captured(() => run([img('field.png'), '--model', MODEL, '--map-stride', '3']));
    expect(badStride.error).toBeInstanceOf(UsageError);
    const typo = await captured(() => run([img('field.png'), '--model', MODEL, '--treshold', '0.3']));
    expect(typo.error).toBeInstanceOf(UsageError);
    const missing = await captured(() => run([img('field.png'), '--model', join(TMP, 'nope.mitoscan')]));
    expect(String(missing.error)).toContain('nope.mitoscan');
    const truncated = await captured(() => run([img('field.png'), '--model', join(TMP, 'truncated.mitoscan')]));
    expect(String(truncated.error)).toMatch(/truncated\.mitoscan.*truncated/);
    const truthCount = await captured(() => run([img('field.png'), img('field.bmp'), '--model', MODEL, '--truth', img('truth.csv')]));
    expect(truthCount.error).toBeInstanceOf(UsageError);
  });

  it('the real CLI: a corrupt image is named and skipped (exit 1), a truncated model gives exit 1', () => {
    const cli = (args: string[]) => spawnSync(process.execPath, ['scripts/run-ts.mjs', 'pipelines/cli.ts', 'detect', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 100_000 });
    const out = join(TMP, 'out3');
    const a = cli([img('broken.png'), img('field.png'), '--model', MODEL, '--out', out, '--threshold', String(T)]);
    expect(a.status, a.stderr).toBe(1);
    expect(a.stderr).toContain('broken.png');
    expect(a.stderr).toContain('1 of 2 image(s) failed');
    expect(existsSync(join(out, 'field.csv'))).toBe(true); // the good image was still done
    expect(existsSync(join(out, 'broken.csv'))).toBe(false);
    expect(readFileSync(join(out, 'summary.csv'), 'utf8')).toMatch(/broken\.png,broken,,,,,.*broken\.png/);
    const b = cli([img('field.png'), '--model', join(TMP, 'truncated.mitoscan'), '--out', join(TMP, 'out4')]);
    expect(b.status, b.stderr).toBe(1);
    expect(b.stderr).toContain('truncated.mitoscan');
    expect(existsSync(join(TMP, 'out4'))).toBe(false);
  });
});

describe('mitoscan info', () => {
  it('prints the architecture, window, µm per pixel, parameters and provenance', async () => {
    const r = await captured(() => runInfo([MODEL]));
    expect(r.error).toBeUndefined();
    expect(r.stdout).toContain('compact20x');
    expect(r.stdout).toContain('window: 31x31 px');
    expect(r.stdout).toContain(`µm per pixel: ${MPP}`);
    expect(r.stdout).toContain(`parameters: ${paramCount(compact20x).toLocaleString('en-US')}`);
    expect(r.stdout).toContain('dataset: none (test)');
    expect(r.stdout).toMatch(/C 4x4\s+16 x 28x28/);
    const j = await captured(() => runInfo([MODEL, '--json']));
    const info = JSON.parse(j.stdout) as { paramCount: number; umPerPixel: number; window: number };
    expect(info).toMatchObject({ paramCount: paramCount(compact20x), umPerPixel: MPP, window: 31 });
    const bad = await captured(() => runInfo([join(TMP, 'truncated.mitoscan')]));
    expect(String(bad.error)).toContain('truncated.mitoscan');
  });
});

describe('mitoscan info of odd provenance', () => {
  it('prints a string provenance on one line, escaped', () => {
    const m = initModel(compact20x, 1, { umPerPixel: MPP });
    (m as { provenance: unknown }).provenance = 'trained by hand\nline two';
    const text = describeModel(m, 'm.mitoscan');
    const [after, threshold] = text.split('provenance:\n')[1].split('\n');
    expect(after).toBe('  trained by hand\\nline two');
    expect(threshold).toMatch(/^threshold: 0\.35 \(none recorded/);
  });
  it('says when the recorded threshold cannot be used', () => {
    const m = initModel(compact20x, 1, { umPerPixel: MPP, provenance: { threshold: 5 } });
    expect(describeModel(m, 'm.mitoscan')).toMatch(/\nthreshold: unusable \(the model records the threshold 5, which is not a number in \[0, 1\)\): detect refuses this file as corrupt$/);
  });
});

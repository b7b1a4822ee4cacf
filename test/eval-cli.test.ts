// `mitoscan eval` end to end on two tiny synthetic fields (96x96 at 0.9824 µm/px, tutorial layout)
// with an untrained compact20x net: the files exist and agree with each other (scores.json totals
// = per-image counts = the TP flags of detections.csv above t).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../pipelines/eval.js';
import { UsageError } from '../pipelines/args.js';
import { aucRoc } from '../src/eval/score.js';
import { CANDIDATE_THRESHOLD } from '../src/train/flow.js';
import { encodePng } from '../src/io/image.js';
import { initModel } from '../src/model/model-file.js';
import { compact20x } from '../src/model/spec.js';
import { saveModel } from '../src/node/model-io.js';
import { generateField } from '../src/synth/tissue.js';
import { quiet } from './helpers/quiet.js';

const MPP = 0.9824;
const TMP = mkdtempSync(join(tmpdir(), 'mitoscan-eval-'));
const DATA = join(TMP, 'data');
const MODEL = join(TMP, 'net.mitoscan');
const truthCounts: number[] = [];

beforeAll(async () => {
  mkdirSync(DATA, { recursive: true });
  for (const [k, seed] of [[1, 11], [2, 12]]) {
    const f = generateField({ width: 96, height: 96, seed, mpp: MPP, mitoses: 2 });
    writeFileSync(join(DATA, `01_0${k}.png`), encodePng(f.image));
    writeFileSync(join(DATA, `01_0${k}.csv`), f.mitoses.map((m) => `${m.x.toFixed(1)},${m.y.toFixed(1)}`).join('\n') + '\n');
    truthCounts.push(f.mitoses.length);
  }
  await saveModel(MODEL, initModel(compact20x, 3, { umPerPixel: MPP }));
});
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

interface Summary {
  images: number;
  layout: string;
  threshold: number;
  thresholdSource: string;
  scores: { tp: number; fp: number; fn: number; precision: number; recall: number; f1: number };
  bestOnThisSet: { threshold: number; scores: { f1: number } };
  perImage: { id: string; truth: number; detected: number; tp: number; fp: number; fn: number }[];
  sweep: { threshold: number; scores: { tp: number; fp: number; fn: number } }[];
  validation?: { images: number; best: { threshold: number } };
}

describe('mitoscan eval', () => {
  it('writes consistent scores, counts, detections, plots and gallery', async () => {
    const out = join(TMP, 'out1');
    const t0 = performance.now();
    const { stdout } = await quiet(() =>
      run([DATA, '--model', MODEL, '--out', out, '--mpp', String(MPP), '--layout', 'tutorial', '--threshold', '0.5', '--gallery-max', '30']),
    );
    console.log(`eval-cli: first run ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    for (const f of ['scores.json', 'counts.csv', 'detections.csv', 'pr.svg', 'f1.svg', 'gallery.png']) expect(existsSync(join(out, f)), f).toBe(true);
    const s = JSON.parse(readFileSync(join(out, 'scores.json'), 'utf8')) as Summary;
    expect(s.images).toBe(2);
    expect(s.layout).toBe('tutorial');
    expect(s.threshold).toBe(0.5);
    expect(s.thresholdSource).toBe('fixed');
    expect(s.perImage.map((p) => p.truth)).toEqual(truthCounts);
    // Totals = sums of the per-image counts; per image detected = tp + fp, truth = tp + fn.
    const sum = (k: 'tp' | 'fp' | 'fn') => s.perImage.reduce((a, p) => a + p[k], 0);
    expect([s.scores.tp, s.scores.fp, s.scores.fn]).toEqual([sum('tp'), sum('fp'), sum('fn')]);
    for (const p of s.perImage) {
      expect(p.detected).toBe(p.tp + p.fp);
      expect(p.truth).toBe(p.tp + p.fn);
    }
    // The sweep holds the operating point, and the best F1 is its maximum.
    expect(s.sweep.find((p) => p.threshold === 0.5)!.scores).toMatchObject({ tp: s.scores.tp, fp: s.scores.fp, fn: s.scores.fn });
    expect(s.bestOnThisSet.scores.f1).toBe(Math.max(...s.sweep.map((p) => (p.scores as unknown as { f1: number }).f1)));
    // counts.csv = perImage.
    const rows = readFileSync(join(out, 'counts.csv'), 'utf8').trim().split('\n');
    expect(rows[0]).toBe('image,patient,truth,detected,tp,fp,fn,precision,recall,f1');
    expect(rows.slice(1).map((r) => r.split(',').slice(0, 7).join(','))).toEqual(s.perImage.map((p) => `${p.id},01,${p.truth},${p.detected},${p.tp},${p.fp},${p.fn}`));
    // detections.csv: the candidates above t and their TP flags give the same counts.
    const dets = readFileSync(join(out, 'detections.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    expect(dets.length).toBeGreaterThan(0);
    expect(dets.every((d) => Number(d[3]) > CANDIDATE_THRESHOLD)).toBe(true);
    for (const p of s.perImage) {
      const above = dets.filter((d) => d[0] === p.id && Number(d[3]) > 0.5);
      expect(above.length).toBe(p.detected);
      expect(above.filter((d) => d[4] === '1').length).toBe(p.tp);
    }
    // Plots and gallery.
    expect(readFileSync(join(out, 'pr.svg'), 'utf8')).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<\/svg>\n$/);
    expect(readFileSync(join(out, 'f1.svg'), 'utf8')).toMatch(/class="chosen"/);
    expect([...readFileSync(join(out, 'gallery.png')).subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    // The summary table.
    expect(stdout).toContain(`2 image(s), ${truthCounts[0] + truthCounts[1]} labelled mitoses`);
    expect(stdout).toMatch(/at t \(--threshold\)\s+0\.500/);
    expect(stdout).toMatch(/best on this set \(optimistic\)/);
    expect(stdout).toMatch(/mitotic count per 10 HPF/);
  });

  it('refuses an --out holding results without --force; scores a threshold below 0.1 as given (candidates from 0.02, as train)', async () => {
    const out = join(TMP, 'out1'); // holds the first test's results
    const args = [DATA, '--model', MODEL, '--out', out, '--mpp', String(MPP), '--threshold', '0.05', '--gallery-max', '0'];
    await expect(run(args)).rejects.toThrow(/out1 already holds results that this run would overwrite \(scores\.json, counts\.csv, detections\.csv, pr\.svg, f1\.svg, gallery\.png\); add --force/);
    const { stderr } = await quiet(() => run([...args, '--force']));
    expect(stderr).toMatch(/--force: replacing scores\.json/);
    expect(stderr).not.toMatch(/scored as/);
    const s = JSON.parse(readFileSync(join(out, 'scores.json'), 'utf8')) as Summary & { candidateThreshold: number };
    expect(CANDIDATE_THRESHOLD).toBe(0.02);
    expect([s.threshold, s.thresholdSource, s.candidateThreshold]).toEqual([0.05, 'fixed', CANDIDATE_THRESHOLD]);
    expect(existsSync(join(out, '.mitoscan.lock'))).toBe(false);
  });

  it('chooses t on a validation set', async () => {
    const out = join(TMP, 'out2');
    await quiet(() => run([DATA, '--model', MODEL, '--out', out, '--mpp', String(MPP), '--val-root', DATA, '--gallery-max', '0']));
    const s = JSON.parse(readFileSync(join(out, 'scores.json'), 'utf8')) as Summary;
    expect(s.thresholdSource).toBe('validation');
    expect(s.validation!.images).toBe(2);
    // Validation = the same images: its best t is this set's best t.
    expect(s.threshold).toBe(s.validation!.best.threshold);
    expect(s.scores.f1).toBe(s.bestOnThisSet.scores.f1);
    expect(existsSync(join(out, 'gallery.png'))).toBe(false);
  });

  it("defaults to the threshold the model records, else t0 = 0.35", async () => {
    const withT = join(TMP, 'with-t.mitoscan');
    const m = initModel(compact20x, 3, { umPerPixel: MPP });
    await saveModel(withT, { ...m, provenance: { threshold: 0.625 } });
    const a = join(TMP, 'out3');
    const b = join(TMP, 'out4');
    const { stdout } = await quiet(() => run([DATA, '--model', withT, '--out', a, '--mpp', String(MPP), '--gallery-max', '0']));
    await quiet(() => run([DATA, '--model', MODEL, '--out', b, '--mpp', String(MPP), '--gallery-max', '0']));
    const sa = JSON.parse(readFileSync(join(a, 'scores.json'), 'utf8')) as Summary;
    const sb = JSON.parse(readFileSync(join(b, 'scores.json'), 'utf8')) as Summary;
    expect([sa.thresholdSource, sa.threshold]).toEqual(['model', 0.625]);
    expect([sb.thresholdSource, sb.threshold]).toEqual(['default', 0.35]);
    expect(stdout).toMatch(/at t \(the model's, chosen on its validation images\)\s+0\.625/);
  });

  it('scores class-labelled tiles as a tile classifier (--layout tiles)', async () => {
    const tiles = join(TMP, 'tiles');
    mkdirSync(join(tiles, 'mitosis'), { recursive: true });
    mkdirSync(join(tiles, 'non-mitosis'), { recursive: true });
    for (const [k, seed] of [21, 22, 23, 24].entries()) {
      const f = generateField({ width: 64, height: 64, seed, mpp: MPP, mitoses: k < 2 ? 1 : 0 });
      writeFileSync(join(tiles, k < 2 ? 'mitosis' : 'non-mitosis', `t_${k}.png`), encodePng(f.image));
    }
    const out = join(TMP, 'out5');
    const { stdout } = await quiet(() => run([tiles, '--layout', 'tiles', '--model', MODEL, '--mpp', String(MPP), '--threshold', '0.5', '--out', out]));
    for (const f of ['scores.json', 'tiles.csv', 'roc.svg', 'gallery.png']) expect(existsSync(join(out, f)), f).toBe(true);
    const s = JSON.parse(readFileSync(join(out, 'scores.json'), 'utf8')) as {
      tiles: number; mitosisTiles: number; auc: number; threshold: number;
      atThreshold: { tp: number; fp: number; fn: number; tn: number };
      perTile: { path: string; label: number; score: number }[];
    };
    expect([s.tiles, s.mitosisTiles, s.threshold]).toEqual([4, 2, 0.5]);
    expect(s.auc).toBeCloseTo(aucRoc(s.perTile.map((p) => p.score), s.perTile.map((p) => p.label)), 12);
    const called = (l: number) => s.perTile.filter((p) => p.label === l && p.score > 0.5).length;
    expect([s.atThreshold.tp, s.atThreshold.fp]).toEqual([called(1), called(0)]);
    expect(s.atThreshold.tp + s.atThreshold.fn + s.atThreshold.fp + s.atThreshold.tn).toBe(4);
    expect(readFileSync(join(out, 'tiles.csv'), 'utf8').trim().split('\n')).toHaveLength(5);
    expect(stdout).toMatch(/tile-level ROC AUC/);
    await expect(run([tiles, '--layout', 'tiles', '--model', MODEL, '--val-root', DATA])).rejects.toThrow(/do not apply to --layout tiles/);
    await expect(quiet(() => run([DATA, '--layout', 'tiles', '--model', MODEL, '--out', join(TMP, 'out6')]))).rejects.toThrow(/no class folders/);
  });

  it('rejects bad usage with clear messages', async () => {
    await expect(run([DATA])).rejects.toThrow(UsageError);
    await expect(run([DATA])).rejects.toThrow(/--model/);
    await expect(run([])).rejects.toThrow(/data set folder is missing/);
    await expect(run([DATA, '--model', MODEL, '--thresold', '0.3'])).rejects.toThrow(/unknown option --thresold/);
    await expect(run([DATA, '--model', MODEL, '--threshold', '0.3', '--val-root', DATA])).rejects.toThrow(/either --threshold or --val-root/);
    await expect(run([DATA, '--model', MODEL, '--preset', 'DNN3'])).rejects.toThrow(/--preset: 'DNN3'/);
    await expect(run([DATA, '--model', join(TMP, 'none.mitoscan')])).rejects.toThrow(/none\.mitoscan: no such model file/);
    await expect(run([join(TMP, 'nodata'), '--model', MODEL])).rejects.toThrow(/nodata: no such folder/);
  });
});

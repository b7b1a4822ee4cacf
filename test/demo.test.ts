// `mitoscan demo` on a small field (128x128 at 0.9824 µm/px) with an untrained compact20x net made
// here: every output is written and readable, the truth is the generator's, and the precision,
// recall and F1 it prints (at the threshold and the best over thresholds) equal a recomputation
// from the written CSVs and truth with the contest's 5 µm matching.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../pipelines/args.js';
import { DEMO_CANDIDATE_THRESHOLD, run } from '../pipelines/demo.js';
import { DEFAULT_THRESHOLD, modelThreshold } from '../src/detect/threshold.js';
import { bestThreshold, contestRadiusPx, defaultThresholds, matchDetections, sweepThresholds } from '../src/eval/score.js';
import { decodeImage } from '../src/io/image.js';
import { initModel } from '../src/model/model-file.js';
import { compact20x } from '../src/model/spec.js';
import { saveModel } from '../src/node/model-io.js';
import { generateField } from '../src/synth/tissue.js';
import { captured } from './helpers/quiet.js';

const MPP = 0.9824;
const SIZE = 128;
const SEED = 3;
const TMP = mkdtempSync(join(tmpdir(), 'mitoscan-demo-'));
const MODEL = join(TMP, 'net.mitoscan');

beforeAll(async () => {
  await saveModel(MODEL, initModel(compact20x, 4, { umPerPixel: MPP }));
});
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

function readCsv(path: string): number[][] {
  const lines = readFileSync(path, 'utf8').trim().split('\n').slice(1).filter(Boolean);
  return lines.map((l) => l.split(',').map(Number));
}

/** The numbers of the stdout table row starting with `label`: threshold, P, R, F1, TP, FP, FN. */
function tableRow(stdout: string, label: string): number[] {
  const line = stdout.split('\n').find((l) => l.startsWith(label));
  expect(line, label).toBeDefined();
  return line!.slice(label.length).trim().split(/\s+/).map(Number);
}

const f3 = (v: number) => Number(v.toFixed(3));

describe('mitoscan demo', () => {
  it('writes every output and prints scores that the CSVs and the truth reproduce', async () => {
    const out = join(TMP, 'demo');
    const t0 = performance.now();
    const r = await captured(() => run(['--out', out, '--size', String(SIZE), '--seed', String(SEED), '--model', MODEL]));
    console.log(`demo: ${SIZE}x${SIZE} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(r.error).toBeUndefined();
    for (const f of ['field.png', 'truth.csv', 'field.csv', 'field.json', 'field.geojson', 'field.overlay.png', 'field.heatmap.png', 'candidates.csv', 'pr.svg', 'f1.svg', 'scores.json']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    for (const f of ['field.png', 'field.overlay.png', 'field.heatmap.png']) {
      const im = decodeImage(readFileSync(join(out, f)), f);
      expect([im.width, im.height], f).toEqual([SIZE, SIZE]);
    }
    for (const f of ['pr.svg', 'f1.svg']) expect(readFileSync(join(out, f), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);

    // the image and the truth are the generator's
    const field = generateField({ width: SIZE, height: SIZE, seed: SEED, mpp: MPP });
    expect(new Uint8Array(decodeImage(readFileSync(join(out, 'field.png')), 'field.png').data)).toEqual(new Uint8Array(field.image.data));
    const truth = readCsv(join(out, 'truth.csv')).map(([x, y]) => ({ x, y }));
    expect(truth).toEqual(field.mitoses.map((m) => ({ x: m.x, y: m.y })));
    expect(truth.length).toBeGreaterThan(0);

    // at the threshold: from field.csv
    const t = DEFAULT_THRESHOLD;
    const dets = readCsv(join(out, 'field.csv')).map(([x, y, score]) => ({ x, y, score }));
    for (const d of dets) expect(d.score).toBeGreaterThan(t);
    const at = matchDetections(dets, truth, contestRadiusPx(MPP)).scores;
    expect(tableRow(r.stdout, "at the model's threshold")).toEqual([t, f3(at.precision), f3(at.recall), f3(at.f1), at.tp, at.fp, at.fn]);

    // the candidates above t are exactly field.csv's detections
    const cands = readCsv(join(out, 'candidates.csv')).map(([x, y, score, tp]) => ({ x, y, score, tp }));
    expect(cands.filter((c) => c.score > t).map((c) => [c.x, c.y])).toEqual(dets.map((d) => [d.x, d.y]));
    // best over thresholds: a sweep over the candidates
    const ts = [...new Set([...defaultThresholds(cands.map((c) => c.score), { floor: DEMO_CANDIDATE_THRESHOLD }), t])].sort((a, b) => a - b);
    const sweep = sweepThresholds([{ dets: cands, truth }], contestRadiusPx(MPP), ts);
    const best = bestThreshold(sweep);
    const printed = tableRow(r.stdout, 'best over thresholds');
    expect(printed.slice(1)).toEqual([f3(best.scores.precision), f3(best.scores.recall), f3(best.scores.f1), best.scores.tp, best.scores.fp, best.scores.fn]);
    expect(Math.abs(printed[0] - best.threshold)).toBeLessThan(2e-3); // the table prints it rounded
    expect(best.scores.f1).toBeGreaterThanOrEqual(at.f1);
    // scores.json says the same
    const s = JSON.parse(readFileSync(join(out, 'scores.json'), 'utf8')) as { threshold: number; truth: number; scores: { tp: number; fp: number; fn: number } };
    expect(s.threshold).toBe(t);
    expect(s.truth).toBe(truth.length);
    expect(s.scores).toMatchObject({ tp: at.tp, fp: at.fp, fn: at.fn });
  });

  it('without --model it runs the demo model (procedural fields), not the real-tissue default', async () => {
    const out = join(TMP, 'demo-default');
    const r = await captured(() => run(['--out', out, '--size', '96', '--seed', '3']));
    expect(r.error).toBeUndefined();
    expect(r.stdout).toContain('(models/demo.mitoscan: the demo model, trained on procedural fields)');
    expect(JSON.parse(readFileSync(join(out, 'scores.json'), 'utf8')).model).toMatch(/^models\/demo\.mitoscan/);
  });

  it("uses the model's recorded threshold, else the paper's 0.35; rejects bad options", async () => {
    expect(modelThreshold(initModel(compact20x, 1, { provenance: { threshold: 0.6 } }))).toBe(0.6);
    expect(modelThreshold(initModel(compact20x, 1))).toBe(0.35);
    expect(modelThreshold(initModel(compact20x, 1, { provenance: { threshold: 'high' } }))).toBe(0.35);
    expect((await captured(() => run(['--size', '-3', '--model', MODEL]))).error).toBeInstanceOf(UsageError);
    expect((await captured(() => run(['--preset', 'DNNx', '--model', MODEL]))).error).toBeInstanceOf(UsageError);
    expect(String((await captured(() => run(['--model', join(TMP, 'missing.mitoscan'), '--out', join(TMP, 'x')]))).error)).toContain('missing.mitoscan');
  });
});

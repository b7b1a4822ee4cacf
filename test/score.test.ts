// Contest scoring: matching, sweeps, thresholds, AUC and grading, against hand-made cases and
// brute-force references (exhaustive matching, pairwise AUC). Exact arithmetic: no tolerances
// except toBeCloseTo(…, 12) on ratios.
import { describe, expect, it } from 'vitest';
import {
  aucRoc,
  cropScore,
  rocCurve,
  bestThreshold,
  contestRadiusPx,
  countPer10Hpf,
  defaultThresholds,
  matchDetections,
  mitoticGrade,
  scoresAt,
  scoresFrom,
  sweepThresholds,
  type ScoredPoint,
} from '../src/eval/score.js';
import { rng } from './helpers/reference.js';

type Pt = { x: number; y: number };

/** Size of a maximum matching by exhaustive search (tiny inputs only). */
function bruteMaxMatching(dets: readonly Pt[], truth: readonly Pt[], r: number): number {
  const ok = (i: number, j: number) => (dets[i].x - truth[j].x) ** 2 + (dets[i].y - truth[j].y) ** 2 < r * r;
  const used = new Array<boolean>(truth.length).fill(false);
  const go = (i: number): number => {
    if (i === dets.length) return 0;
    let best = go(i + 1);
    for (let j = 0; j < truth.length; j++)
      if (!used[j] && ok(i, j)) {
        used[j] = true;
        best = Math.max(best, 1 + go(i + 1));
        used[j] = false;
      }
    return best;
  };
  return go(0);
}

function randomCase(seed: number, nd: number, nt: number, size = 60): { dets: ScoredPoint[]; truth: Pt[] } {
  const r = rng(seed);
  const truth = Array.from({ length: nt }, () => ({ x: Math.floor(r() * size), y: Math.floor(r() * size) }));
  // Scores from a few levels so that ties occur.
  const dets = Array.from({ length: nd }, () => ({ x: Math.floor(r() * size), y: Math.floor(r() * size), score: Math.floor(r() * 5) / 5 + 0.1 }));
  return { dets, truth };
}

function shuffled<T>(xs: readonly T[], seed: number): { items: T[]; perm: number[] } {
  const r = rng(seed);
  const perm = xs.map((_, i) => i);
  for (let i = perm.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return { items: perm.map((i) => xs[i]), perm };
}

describe('matchDetections', () => {
  it('two detections near one centroid: 1 TP (the higher score) and 1 FP', () => {
    const m = matchDetections([{ x: 5, y: 0, score: 0.4 }, { x: -8, y: 3, score: 0.9 }], [{ x: 0, y: 0 }], 20);
    expect(m.scores).toMatchObject({ tp: 1, fp: 1, fn: 0 });
    expect(m.tp).toEqual([false, true]);
    expect(m.matchedTruth).toEqual([true]);
    expect(m.scores.precision).toBe(0.5);
    expect(m.scores.recall).toBe(1);
    expect(m.scores.f1).toBeCloseTo(2 / 3, 12);
  });
  it('finds the maximum matching where greedy nearest-first fails (a chain)', () => {
    // B (0.9) is nearest to T1 but also reaches T2; A (0.5) reaches only T1. Greedy: B-T1, A lost.
    const dets = [{ x: -15, y: 0, score: 0.5 }, { x: 12, y: 0, score: 0.9 }];
    const truth = [{ x: 0, y: 0 }, { x: 30, y: 0 }];
    const m = matchDetections(dets, truth, 20);
    expect(m.scores).toMatchObject({ tp: 2, fp: 0, fn: 0, f1: 1 });
    // A longer chain: D1 -- T1 -- D2 -- T2 -- D3 -- T3, scores increasing to the right.
    const d3 = [0, 1, 2].map((k) => ({ x: 30 * k - 12, y: 0, score: 0.3 + 0.3 * k }));
    const t3 = [0, 1, 2].map((k) => ({ x: 30 * k, y: 0 }));
    expect(matchDetections(d3, t3, 20).scores.tp).toBe(3);
  });
  it('counts only pairs closer than r (distance exactly r does not match)', () => {
    expect(matchDetections([{ x: 20, y: 0, score: 1 }], [{ x: 0, y: 0 }], 20).scores.tp).toBe(0);
    expect(matchDetections([{ x: 19.99, y: 0, score: 1 }], [{ x: 0, y: 0 }], 20).scores.tp).toBe(1);
    expect(matchDetections([{ x: 12, y: 16, score: 1 }], [{ x: 0, y: 0 }], 20.01).scores.tp).toBe(1);
  });
  it('prefers higher scores among maximum matchings', () => {
    // Three detections compete for two centroids; only two can match: the two best must.
    const truth = [{ x: 0, y: 0 }, { x: 10, y: 0 }];
    const dets = [{ x: 5, y: 1, score: 0.2 }, { x: 5, y: -1, score: 0.8 }, { x: 5, y: 2, score: 0.6 }];
    expect(matchDetections(dets, truth, 20).tp).toEqual([false, true, true]);
  });
  it('equals the exhaustive maximum matching and does not depend on input order (random cases)', () => {
    for (let s = 0; s < 60; s++) {
      const { dets, truth } = randomCase(1000 + s, 1 + (s % 7), 1 + (s % 5));
      const m = matchDetections(dets, truth, 20);
      expect(m.scores.tp, `case ${s}`).toBe(bruteMaxMatching(dets, truth, 20));
      expect(m.scores.fp + m.scores.tp).toBe(dets.length);
      expect(m.scores.fn + m.scores.tp).toBe(truth.length);
      // Maximum among the detections above each score level: the greedy-by-score property.
      for (const t of [...new Set(dets.map((d) => d.score))]) {
        const above = dets.map((d, i) => ({ d, i })).filter((o) => o.d.score >= t);
        expect(above.filter((o) => m.tp[o.i]).length, `case ${s} t ${t}`).toBe(bruteMaxMatching(above.map((o) => o.d), truth, 20));
      }
      const sd = shuffled(dets, 7 * s + 1);
      const st = shuffled(truth, 7 * s + 2);
      const m2 = matchDetections(sd.items, st.items, 20);
      expect(m2.scores).toEqual(m.scores);
      // Same detections are TPs (detections are distinct up to identical copies; compare by content).
      const key = (d: ScoredPoint) => `${d.x},${d.y},${d.score}`;
      const tps1 = dets.filter((_, i) => m.tp[i]).map(key).sort();
      const tps2 = sd.items.filter((_, i) => m2.tp[i]).map(key).sort();
      expect(tps2).toEqual(tps1);
    }
  });
  it('handles empty inputs with the stated 0/0 conventions', () => {
    expect(matchDetections([], [], 20).scores).toEqual({ tp: 0, fp: 0, fn: 0, precision: 1, recall: 1, f1: 1 });
    expect(matchDetections([], [{ x: 0, y: 0 }], 20).scores).toEqual({ tp: 0, fp: 0, fn: 1, precision: 1, recall: 0, f1: 0 });
    expect(matchDetections([{ x: 0, y: 0, score: 1 }], [], 20).scores).toEqual({ tp: 0, fp: 1, fn: 0, precision: 0, recall: 1, f1: 0 });
  });
  it('rejects a bad radius and non-finite points', () => {
    expect(() => matchDetections([], [], 0)).toThrow(/radius/);
    expect(() => matchDetections([{ x: NaN, y: 0, score: 1 }], [], 5)).toThrow(/detection 0/);
    expect(() => matchDetections([], [{ x: 0, y: Infinity }], 5)).toThrow(/ground-truth point 0/);
  });
  it('copes with many detections quickly (1000 dets, 200 centroids)', () => {
    const { dets, truth } = randomCase(5, 1000, 200, 2000);
    const t0 = performance.now();
    const m = matchDetections(dets, truth, 20);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(m.scores.tp).toBeGreaterThan(0);
  });
});

describe('thresholds and sweeps', () => {
  it('the contest radius is 5 µm: about 20 px at 0.2456 µm/px', () => {
    expect(contestRadiusPx(0.2456)).toBeCloseTo(20.358, 3);
    expect(contestRadiusPx(0.25)).toBe(20);
    expect(() => contestRadiusPx(0)).toThrow();
  });
  it('defaultThresholds reaches every distinct operating point, capped', () => {
    expect(defaultThresholds([0.5, 0.2, 0.5, 0.9])).toEqual([0, 0.35, 0.7, 0.9]);
    expect(defaultThresholds([])).toEqual([0]);
    expect(defaultThresholds([0.05, 0.2, 0.3], { floor: 0.1 })).toEqual([0.1, 0.25, 0.3]);
    const many = Array.from({ length: 5000 }, (_, i) => i / 5000);
    const ts = defaultThresholds(many, { cap: 200 });
    expect(ts.length).toBe(202);
    expect(ts.every((t, i) => i === 0 || t > ts[i - 1])).toBe(true);
  });
  it('sweep = re-matching the detections above each threshold, pooled over images', () => {
    const images = [0, 1, 2].map((k) => randomCase(300 + k, 6, 3));
    const sweep = sweepThresholds(images, 20);
    expect(sweep.map((p) => p.threshold)).toEqual(defaultThresholds(images.flatMap((i) => i.dets.map((d) => d.score))));
    for (const p of sweep) {
      let tp = 0, fp = 0, fn = 0;
      for (const im of images) {
        const kept = im.dets.filter((d) => d.score > p.threshold);
        const s = matchDetections(kept, im.truth, 20).scores;
        tp += s.tp;
        fp += s.fp;
        fn += s.fn;
      }
      expect(p.scores, `t ${p.threshold}`).toEqual(scoresFrom(tp, fp, fn));
    }
    expect(sweep[0].scores.tp + sweep[0].scores.fp).toBe(18); // threshold 0 keeps all
    expect(sweep[sweep.length - 1].scores).toMatchObject({ tp: 0, fp: 0, precision: 1, recall: 0 });
    expect(scoresAt(images, 20, sweep[2].threshold)).toEqual(sweep[2].scores);
  });
  it('bestThreshold takes the largest F1, ties to the higher threshold', () => {
    const s = (t: number, f1: number) => ({ threshold: t, scores: { tp: 0, fp: 0, fn: 0, precision: 0, recall: 0, f1 } });
    expect(bestThreshold([s(0.1, 0.5), s(0.3, 0.7), s(0.5, 0.7), s(0.6, 0.2)]).threshold).toBe(0.5);
    expect(bestThreshold([s(0.5, 0.7), s(0.3, 0.7)]).threshold).toBe(0.5);
    expect(() => bestThreshold([])).toThrow();
    // A real sweep: perfect separation gives F1 1 between the classes' scores.
    const dets = [{ x: 0, y: 0, score: 0.8 }, { x: 100, y: 0, score: 0.3 }];
    const b = bestThreshold(sweepThresholds([{ dets, truth: [{ x: 1, y: 1 }] }], 20));
    expect(b.threshold).toBeCloseTo(0.55, 12);
    expect(b.scores.f1).toBe(1);
  });
});

describe('aucRoc', () => {
  function brute(scores: number[], labels: number[]): number {
    let num = 0, den = 0;
    for (let i = 0; i < scores.length; i++)
      for (let j = 0; j < scores.length; j++)
        if (labels[i] === 1 && labels[j] === 0) {
          den++;
          num += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
        }
    return num / den;
  }
  it('matches the pairwise definition with ties averaged', () => {
    for (let s = 0; s < 20; s++) {
      const r = rng(50 + s);
      const n = 5 + s * 3;
      const scores = Array.from({ length: n }, () => Math.floor(r() * 6) / 5);
      const labels = Array.from({ length: n }, (_, i) => (i < 2 ? i : r() < 0.4 ? 1 : 0));
      expect(aucRoc(scores, labels)).toBeCloseTo(brute(scores, labels), 12);
    }
  });
  it('gives 1, 0, 0.5 on separable, inverted and constant scores; NaN for one class', () => {
    expect(aucRoc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(aucRoc([0.1, 0.2, 0.8, 0.9], [true, true, false, false])).toBe(0);
    expect(aucRoc([0.5, 0.5, 0.5], [1, 0, 1])).toBe(0.5);
    expect(aucRoc([0.5, 0.7], [1, 1])).toBeNaN();
    expect(() => aucRoc([1], [1, 0])).toThrow(/labels/);
  });
});

describe('rocCurve', () => {
  it('runs from (0,0) to (1,1), monotone, its trapezoid area = aucRoc (ties included)', () => {
    for (let s = 0; s < 20; s++) {
      const r = rng(90 + s);
      const n = 4 + s * 3;
      const scores = Array.from({ length: n }, () => Math.floor(r() * 7) / 6);
      const labels = Array.from({ length: n }, (_, i) => (i < 2 ? i : r() < 0.3 ? 1 : 0));
      const c = rocCurve(scores, labels);
      expect(c[0]).toEqual({ threshold: Infinity, tpr: 0, fpr: 0 });
      expect([c.at(-1)!.tpr, c.at(-1)!.fpr]).toEqual([1, 1]);
      expect(c.length).toBe(new Set(scores).size + 1);
      let area = 0;
      for (let i = 1; i < c.length; i++) {
        expect(c[i].threshold).toBeLessThan(c[i - 1].threshold);
        expect(c[i].tpr).toBeGreaterThanOrEqual(c[i - 1].tpr);
        expect(c[i].fpr).toBeGreaterThanOrEqual(c[i - 1].fpr);
        area += ((c[i].fpr - c[i - 1].fpr) * (c[i].tpr + c[i - 1].tpr)) / 2;
        // At threshold s: the rates of "score >= s", counted directly.
        const pos = labels.filter((l) => l === 1).length;
        const tp = scores.filter((v, k) => v >= c[i].threshold && labels[k] === 1).length;
        const fp = scores.filter((v, k) => v >= c[i].threshold && labels[k] === 0).length;
        expect(c[i].tpr).toBeCloseTo(tp / pos, 12);
        expect(c[i].fpr).toBeCloseTo(fp / (n - pos), 12);
      }
      expect(area).toBeCloseTo(aucRoc(scores, labels), 12);
    }
  });
  it('is empty with one class and checks lengths', () => {
    expect(rocCurve([0.1, 0.2], [1, 1])).toEqual([]);
    expect(() => rocCurve([0.1], [1, 0])).toThrow(/labels/);
  });
});

describe('mitotic grade', () => {
  it('<= 7 -> 1, 8-14 -> 2, >= 15 -> 3 (fractions rounded)', () => {
    expect([0, 7, 7.4, 7.5, 8, 14, 14.49, 15, 40].map(mitoticGrade)).toEqual([1, 1, 1, 2, 2, 2, 2, 3, 3]);
    expect(() => mitoticGrade(-1)).toThrow();
    expect(() => mitoticGrade(NaN)).toThrow();
  });
  it('scales counts to 10 HPF', () => {
    expect(countPer10Hpf(3, 512 * 512)).toBe(30);
    expect(countPer10Hpf(3, 2 * 512 * 512)).toBe(15);
  });
});

describe('cropScore', () => {
  it('is the best detection within the radius of the crop centre (inclusive), 0 when there is none', () => {
    const size = { width: 11, height: 9 }; // centre (5, 4)
    const dets = [
      { x: 8, y: 8, score: 0.9 }, // 5 px away
      { x: 5, y: 7, score: 0.6 }, // 3 px away: exactly r
      { x: 6, y: 4, score: 0.4 },
    ];
    expect(cropScore(size, dets, 3)).toBe(0.6);
    expect(cropScore(size, dets, 2.9)).toBe(0.4);
    expect(cropScore(size, dets, 5)).toBe(0.9);
    expect(cropScore(size, dets, 0.5)).toBe(0);
    expect(cropScore(size, [], 10)).toBe(0);
  });
});

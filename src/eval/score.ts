// The ICPR 2012 contest's scoring (method.md, "Evaluation protocol"): a detection is a true positive
// when it lies closer than r = 5 µm to a ground-truth centroid, each centroid matched at most once;
// precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2PR / (P + R).
//
// Matching. "At most once" makes it an assignment problem: we take a maximum-cardinality one-to-one
// matching of detections to centroids among the pairs closer than r, and among the maximum
// matchings the one whose matched detections have the highest scores. Detections are processed by
// decreasing score (ties: by y, then x), each trying an augmenting path (Kuhn's algorithm). Matched
// detections stay matched, and after the first k detections the matching is maximum for them; so
// the detections matched in one run over all of them are, for every threshold t, a maximum matching
// of the detections above t. A threshold sweep therefore needs one matching per image.
// The result depends neither on the order of the input lists nor on greedy nearest-first luck:
// A -- T1 -- B -- T2 (B nearest to T1) gives 2 TPs, where greedy nearest matching gives 1.
//
// Conventions where a ratio is 0/0: precision = 1 with no detections (the PR curve starts at
// (0, 1)), recall = 1 with no ground truth (nothing was missed), F1 = 0 when P + R = 0. So an image
// without mitoses and without detections scores P = R = F1 = 1.
// Thresholds follow the detector (src/detect/detector.ts): a detection is kept when score > t.
import type { Centroid } from '../datasets/labels.js';

export interface ScoredPoint {
  x: number;
  y: number;
  score: number;
}

export interface Scores {
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
  f1: number;
}

export interface SweepPoint {
  threshold: number;
  scores: Scores;
}

/** The contest's match radius, µm. */
export const CONTEST_RADIUS_UM = 5;

/** The contest's match radius in pixels at `umPerPixel` (20.4 px at MITOS scanner A's 0.2456). */
export function contestRadiusPx(umPerPixel: number): number {
  if (!(umPerPixel > 0)) throw new RangeError(`contestRadiusPx: µm per pixel must be > 0, got ${umPerPixel}`);
  return CONTEST_RADIUS_UM / umPerPixel;
}

/** Precision, recall and F1 from counts (0/0 conventions in the header). */
export function scoresFrom(tp: number, fp: number, fn: number): Scores {
  const precision = tp + fp === 0 ? 1 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 1 : tp / (tp + fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { tp, fp, fn, precision, recall, f1 };
}

/** Indices of `dets` by decreasing score; ties by y, x, then input index (a canonical order). */
function canonicalOrder(dets: readonly ScoredPoint[]): number[] {
  return dets
    .map((_, i) => i)
    .sort((a, b) => dets[b].score - dets[a].score || dets[a].y - dets[b].y || dets[a].x - dets[b].x || a - b);
}

function checkInputs(dets: readonly ScoredPoint[], truth: readonly Centroid[], radiusPx: number): void {
  if (!(radiusPx > 0) || !Number.isFinite(radiusPx)) throw new RangeError(`matchDetections: radius must be a positive number of pixels, got ${radiusPx}`);
  dets.forEach((d, i) => {
    if (!Number.isFinite(d.x) || !Number.isFinite(d.y) || Number.isNaN(d.score)) {
      throw new RangeError(`matchDetections: detection ${i} is not a finite point with a score: ${JSON.stringify(d)}`);
    }
  });
  truth.forEach((t, i) => {
    if (!Number.isFinite(t.x) || !Number.isFinite(t.y)) throw new RangeError(`matchDetections: ground-truth point ${i} is not finite: ${JSON.stringify(t)}`);
  });
}

/**
 * One-to-one matching of detections to ground truth within `radiusPx` (distance < r), maximum in
 * size and, among those, preferring higher scores. All detections count (filter by threshold first).
 * tp[i]: detection i is a true positive; matchedTruth[j]: centroid j was found.
 */
export function matchDetections(
  dets: readonly ScoredPoint[],
  truth: readonly Centroid[],
  radiusPx: number,
): { scores: Scores; tp: boolean[]; matchedTruth: boolean[] } {
  checkInputs(dets, truth, radiusPx);
  const r2 = radiusPx * radiusPx;
  // Candidate centroids of every detection, nearest first (ties by index: deterministic).
  const adj: number[][] = dets.map((d) => {
    const near: { j: number; d2: number }[] = [];
    truth.forEach((t, j) => {
      const d2 = (t.x - d.x) ** 2 + (t.y - d.y) ** 2;
      if (d2 < r2) near.push({ j, d2 });
    });
    return near.sort((a, b) => a.d2 - b.d2 || a.j - b.j).map((n) => n.j);
  });
  const ownerOf = new Int32Array(truth.length).fill(-1); // truth -> detection
  const visited = new Int32Array(truth.length).fill(-1); // truth -> stamp of the last search
  // Augmenting path search from detection i (iterative DFS; paths are short, graphs small).
  const augment = (start: number, stamp: number): boolean => {
    const stackDet: number[] = [start];
    const stackPos: number[] = [0];
    const via: number[] = []; // truth taken at each depth
    while (stackDet.length) {
      const depth = stackDet.length - 1;
      const i = stackDet[depth];
      const nbrs = adj[i];
      let advanced = false;
      while (stackPos[depth] < nbrs.length) {
        const j = nbrs[stackPos[depth]++];
        if (visited[j] === stamp) continue;
        visited[j] = stamp;
        via[depth] = j;
        if (ownerOf[j] < 0) {
          // Flip the path: detection at depth k takes via[k].
          for (let k = 0; k <= depth; k++) ownerOf[via[k]] = stackDet[k];
          return true;
        }
        stackDet.push(ownerOf[j]);
        stackPos.push(0);
        advanced = true;
        break;
      }
      if (!advanced) {
        stackDet.pop();
        stackPos.pop();
      }
    }
    return false;
  };
  const order = canonicalOrder(dets);
  order.forEach((i, stamp) => {
    if (adj[i].length) augment(i, stamp);
  });
  const tp = new Array<boolean>(dets.length).fill(false);
  const matchedTruth = new Array<boolean>(truth.length).fill(false);
  for (let j = 0; j < truth.length; j++)
    if (ownerOf[j] >= 0) {
      tp[ownerOf[j]] = true;
      matchedTruth[j] = true;
    }
  const nTp = matchedTruth.filter(Boolean).length;
  return { scores: scoresFrom(nTp, dets.length - nTp, truth.length - nTp), tp, matchedTruth };
}

/**
 * Thresholds that reach every distinct operating point of `scores` (kept: score > t): `floor`,
 * the midpoints between consecutive distinct scores above it, and the largest score (nothing kept).
 * More than `cap` midpoints are thinned to `cap` evenly spaced quantiles.
 */
export function defaultThresholds(scores: Iterable<number>, opts: { cap?: number; floor?: number } = {}): number[] {
  const cap = Math.max(1, Math.floor(opts.cap ?? 200));
  const floor = opts.floor ?? 0;
  const u = [...new Set([...scores].filter((s) => s > floor))].sort((a, b) => a - b);
  const out = [floor];
  if (!u.length) return out;
  const gaps = u.length - 1;
  const picks: number[] = [];
  if (gaps <= cap) for (let i = 0; i < gaps; i++) picks.push(i);
  else for (let k = 0; k < cap; k++) picks.push(Math.floor(((k + 0.5) * gaps) / cap));
  for (const i of new Set(picks)) out.push((u[i] + u[i + 1]) / 2);
  out.push(u[u.length - 1]);
  return out;
}

/** Per image: detections (any scores) and ground truth. */
export interface ImageResult {
  dets: readonly ScoredPoint[];
  truth: readonly Centroid[];
}

/**
 * Pooled scores over all images at each threshold (kept: score > t), sorted by threshold. One
 * matching per image serves every threshold (see the header). Default thresholds: defaultThresholds
 * of all scores (so the lowest, 0, keeps every detection given).
 */
export function sweepThresholds(perImage: readonly ImageResult[], radiusPx: number, thresholds?: readonly number[]): SweepPoint[] {
  const tpScores: number[] = [];
  const fpScores: number[] = [];
  let nTruth = 0;
  for (const im of perImage) {
    const m = matchDetections(im.dets, im.truth, radiusPx);
    im.dets.forEach((d, i) => (m.tp[i] ? tpScores : fpScores).push(d.score));
    nTruth += im.truth.length;
  }
  const ts = [...(thresholds ?? defaultThresholds([...tpScores, ...fpScores]))];
  for (const t of ts) if (Number.isNaN(t)) throw new RangeError('sweepThresholds: a threshold is NaN');
  ts.sort((a, b) => a - b);
  tpScores.sort((a, b) => a - b);
  fpScores.sort((a, b) => a - b);
  return ts.map((t) => {
    const tp = countAbove(tpScores, t);
    const fp = countAbove(fpScores, t);
    return { threshold: t, scores: scoresFrom(tp, fp, nTruth - tp) };
  });
}

/** How many of the ascending `sorted` are > t. */
function countAbove(sorted: readonly number[], t: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] > t) hi = mid;
    else lo = mid + 1;
  }
  return sorted.length - lo;
}

/** The point of largest F1; ties go to the higher threshold (fewer detections for the same F1). */
export function bestThreshold(sweep: readonly SweepPoint[]): SweepPoint {
  if (!sweep.length) throw new Error('bestThreshold: empty sweep');
  let best = sweep[0];
  for (const p of sweep) if (p.scores.f1 > best.scores.f1 || (p.scores.f1 === best.scores.f1 && p.threshold > best.threshold)) best = p;
  return best;
}

/** Pooled scores at one threshold t (kept: score > t). */
export function scoresAt(perImage: readonly ImageResult[], radiusPx: number, t: number): Scores {
  return sweepThresholds(perImage, radiusPx, [t])[0].scores;
}

/** A crop's score as a classifier of "a figure at its centre": its highest detection within
 * `radiusPx` of the centre pixel ((w - 1) / 2, (h - 1) / 2), 0 when there is none. */
export function cropScore(size: { width: number; height: number }, dets: readonly { x: number; y: number; score: number }[], radiusPx: number): number {
  const cx = (size.width - 1) / 2, cy = (size.height - 1) / 2;
  let best = 0;
  for (const d of dets) if ((d.x - cx) ** 2 + (d.y - cy) ** 2 <= radiusPx * radiusPx) best = Math.max(best, d.score);
  return best;
}

/**
 * Area under the ROC curve of a patch classifier: the probability that a random positive scores
 * above a random negative, ties counting one half (Mann-Whitney U with average ranks). NaN when
 * one class is empty. labels: 1/true = mitosis.
 */
export function aucRoc(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): number {
  const n = scores.length;
  if (labels.length !== n) throw new Error(`aucRoc: ${n} scores but ${labels.length} labels`);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < n; i++) if (Number.isNaN(scores[i])) throw new RangeError(`aucRoc: score ${i} is NaN`);
  idx.sort((a, b) => scores[a] - scores[b]);
  let rankSumPos = 0, nPos = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[idx[j + 1]] === scores[idx[i]]) j++;
    const avgRank = (i + j) / 2 + 1; // 1-based ranks i+1..j+1
    for (let k = i; k <= j; k++)
      if (Number(labels[idx[k]]) === 1) {
        rankSumPos += avgRank;
        nPos++;
      }
    i = j + 1;
  }
  const nNeg = n - nPos;
  if (!nPos || !nNeg) return NaN;
  return (rankSumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

export interface RocPoint {
  /** Called positive: score > threshold (the first point, threshold +Infinity, calls nothing). */
  threshold: number;
  /** True-positive rate (sensitivity). */
  tpr: number;
  /** False-positive rate (1 - specificity). */
  fpr: number;
}

/**
 * The ROC curve: one point per distinct score, from (0, 0) to (1, 1), thresholds descending. Its
 * trapezoid area equals aucRoc (ties move diagonally, which counts them one half). Empty when
 * one class is empty.
 */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): RocPoint[] {
  const n = scores.length;
  if (labels.length !== n) throw new Error(`rocCurve: ${n} scores but ${labels.length} labels`);
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const nPos = idx.filter((i) => Number(labels[i]) === 1).length;
  const nNeg = n - nPos;
  if (!nPos || !nNeg) return [];
  const out: RocPoint[] = [{ threshold: Infinity, tpr: 0, fpr: 0 }];
  let tp = 0, fp = 0;
  for (let i = 0; i < n; ) {
    const s = scores[idx[i]];
    while (i < n && scores[idx[i]] === s) {
      if (Number(labels[idx[i]]) === 1) tp++;
      else fp++;
      i++;
    }
    // Everything with a score >= s is called positive: the threshold just below s.
    out.push({ threshold: s, tpr: tp / nPos, fpr: fp / nNeg });
  }
  return out;
}

/** The HPF area of the MITOS 2012 frames: 512 x 512 µm (2084 px at 0.2456 µm/px). */
export const MITOS_HPF_UM2 = 512 * 512;

/** A count over `areaUm2` scaled to 10 high-power fields of `hpfUm2` each. */
export function countPer10Hpf(count: number, areaUm2: number, hpfUm2 = MITOS_HPF_UM2): number {
  if (!(areaUm2 > 0) || !(hpfUm2 > 0)) throw new RangeError(`countPer10Hpf: areas must be > 0 (got ${areaUm2}, ${hpfUm2})`);
  return (count * 10 * hpfUm2) / areaUm2;
}

/**
 * The mitotic-count score of the Nottingham grading: <= 7 per 10 HPF -> 1, 8-14 -> 2, >= 15 -> 3.
 * A fractional (scaled) count is rounded to the nearest integer first.
 */
export function mitoticGrade(countPer10Hpf: number): 1 | 2 | 3 {
  if (!(countPer10Hpf >= 0)) throw new RangeError(`mitoticGrade: the count must be a number >= 0, got ${countPer10Hpf}`);
  const c = Math.round(countPer10Hpf);
  return c <= 7 ? 1 : c <= 14 ? 2 : 3;
}

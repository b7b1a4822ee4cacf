// Data splits that keep a patient's images together (the tutorial's patient-level 5-fold
// cross-validation; method.md §2), and the paper's T1/T2/T3 split (26 training, 9 validation and
// 15 test images of MITOS 2012; method.md §1). Deterministic for a given seed.

import { mulberry32 } from '../rng.js';

export interface HasPatient {
  patient: string;
}

function shuffle<T>(xs: T[], seed: number): T[] {
  const r = mulberry32(seed);
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** Patients with their item indices, sorted by name (so the input order does not matter). */
function groupByPatient(items: readonly HasPatient[]): { patient: string; indices: number[] }[] {
  const m = new Map<string, number[]>();
  items.forEach((it, i) => {
    if (typeof it.patient !== 'string') throw new Error(`folds: item ${i} has no patient`);
    const l = m.get(it.patient);
    if (l) l.push(i);
    else m.set(it.patient, [i]);
  });
  return [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([patient, indices]) => ({ patient, indices }));
}

/**
 * Fold index (0..k-1) of every item: each patient's items in one fold, folds balanced by image
 * count (patients shuffled by the seed, then, largest first, each put into the fold that holds the
 * fewest images so far; ties to the lower fold). Every fold gets at least one patient.
 */
export function assignPatientFolds(items: readonly HasPatient[], k: number, seed = 0): number[] {
  if (!Number.isInteger(k) || k < 2) throw new RangeError(`folds: k must be an integer >= 2, got ${k}`);
  const groups = groupByPatient(items);
  if (groups.length < k) {
    throw new RangeError(`folds: ${k} folds need at least ${k} patients, the data have ${groups.length}${groups.length ? ` (${groups.map((g) => g.patient).join(', ')})` : ''}`);
  }
  const order = shuffle(groups.slice(), seed);
  // Stable sort: equal-sized patients keep their shuffled order.
  order.sort((a, b) => b.indices.length - a.indices.length);
  // Every patient has >= 1 image, so an empty fold (load 0) is always the least loaded: the first
  // k patients open the k folds.
  const load = new Array<number>(k).fill(0);
  const fold = new Array<number>(items.length).fill(-1);
  for (const g of order) {
    let f = 0;
    for (let c = 1; c < k; c++) if (load[c] < load[f]) f = c;
    load[f] += g.indices.length;
    for (const i of g.indices) fold[i] = f;
  }
  return fold;
}

export interface Fold<T> {
  train: T[];
  test: T[];
}

/** Patient-level k-fold cross-validation: fold f tests on its patients and trains on the others. */
export function patientKFold<T extends HasPatient>(items: readonly T[], k: number, seed = 0): Fold<T>[] {
  const fold = assignPatientFolds(items, k, seed);
  return Array.from({ length: k }, (_, f) => ({
    train: items.filter((_, i) => fold[i] !== f),
    test: items.filter((_, i) => fold[i] === f),
  }));
}

export interface ThreeWayOptions {
  /** Relative sizes of T1, T2, T3 (default 26 : 9 : 15, the paper's MITOS 2012 split). */
  sizes?: readonly [number, number, number];
  seed?: number;
  /** Keep each patient's images in one set (default false: MITOS 2012 splits images). */
  byPatient?: boolean;
}

export interface ThreeWaySplit<T> {
  /** Training. */
  T1: T[];
  /** Validation: choose the threshold here. */
  T2: T[];
  /** Test, used once. */
  T3: T[];
}

/**
 * Splits items into T1/T2/T3 in the proportions `sizes` (by image count). Image level: a seeded
 * shuffle cut at the rounded cumulative proportions. Patient level: patients (largest first, seeded
 * order) go to the set furthest below its target.
 */
export function splitT1T2T3<T extends HasPatient>(items: readonly T[], opts: ThreeWayOptions = {}): ThreeWaySplit<T> {
  const sizes = opts.sizes ?? [26, 9, 15];
  const total = sizes[0] + sizes[1] + sizes[2];
  if (sizes.length !== 3 || sizes.some((s) => !(s >= 0)) || !(total > 0)) throw new RangeError(`splitT1T2T3: sizes must be 3 numbers >= 0, not all 0; got ${JSON.stringify(sizes)}`);
  const seed = opts.seed ?? 0;
  const n = items.length;
  const target = sizes.map((s) => (s / total) * n);
  const set = new Array<number>(n).fill(0);
  if (!opts.byPatient) {
    // Canonical order first (by patient, then input index), so that only the seed matters.
    const idx = shuffle(groupByPatient(items).flatMap((g) => g.indices), seed);
    const cut1 = Math.round(target[0]);
    const cut2 = Math.round(target[0] + target[1]);
    idx.forEach((i, k) => (set[i] = k < cut1 ? 0 : k < cut2 ? 1 : 2));
  } else {
    const groups = shuffle(groupByPatient(items), seed).sort((a, b) => b.indices.length - a.indices.length);
    const load = [0, 0, 0];
    for (const g of groups) {
      let best = -1;
      for (let s = 0; s < 3; s++) {
        if (sizes[s] === 0) continue;
        if (best < 0 || target[s] - load[s] > target[best] - load[best]) best = s;
      }
      load[best] += g.indices.length;
      for (const i of g.indices) set[i] = best;
    }
  }
  return {
    T1: items.filter((_, i) => set[i] === 0),
    T2: items.filter((_, i) => set[i] === 1),
    T3: items.filter((_, i) => set[i] === 2),
  };
}

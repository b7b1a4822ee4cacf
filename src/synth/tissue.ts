// Procedural H&E-like tissue fields with ground-truth mitoses (the project's embedded default data).
//
// A field is painted as two optical-density layers (hematoxylin, eosin) and rendered to RGB with
// the Beer-Lambert law (see stain.ts). Layout, from large to small:
//  - epithelial nests (a thresholded low-frequency fbm) with crowded, pleomorphic vesicular nuclei,
//    amphophilic granular cytoplasm, cell borders (Voronoi of the nuclei) that are either faint
//    membranes or clear retraction spaces, glandular lumina and cytoplasmic vacuoles;
//  - stroma between them: pink fibrous texture (anisotropic value noise along a slowly turning,
//    domain-warped direction field), spindle fibroblast nuclei, lymphocytes, white gaps; clear
//    retraction clefts along nest borders;
//  - mitotic figures in the nests (prophase, metaphase, anaphase, telophase): near-black, hairy
//    chromatin with no nuclear membrane, in a rounded pale cell body with a clear zone;
//  - hard negatives ("look-alikes"): hyperchromatic nuclei, apoptotic / pyknotic cells (possibly
//    fragmented into 2-4 round bodies), lymphocytes.
// Then a slight optical blur, a random per-field stain and scanner grain. Everything derives from
// the seed; the generator is pure TypeScript (Node and browsers) and has no dependencies.
import {
  type MitosisPhase,
  type MitosisSpec,
  type NucleusKind,
  type NucleusSpec,
  type Layers,
  harmonics,
  mitosisReach,
  mitosisSpec,
  stampApoptotic,
  stampMitosis,
  stampNucleus,
} from './figures.js';
import { CoarseGrid, deriveSeed, fbm, fillNoise, gauss, mulberry32, NoiseRows, NoiseTable, type Rng, shuffle, smoothstep, uniform } from './random.js';
import { blur121, fieldStain, renderRGBA } from './stain.js';

export type { MitosisPhase, NucleusKind } from './figures.js';

/** MITOS 2012 scanner A (Aperio XT) resolution, micrometres per pixel. */
export const DEFAULT_MPP = 0.2456;

export interface FieldOptions {
  width: number;
  height: number;
  seed: number;
  /** Micrometres per pixel (default 0.2456); all structures scale with 0.2456 / mpp. */
  mpp?: number;
  /** Number of mitoses; default about 3-6 per 512x512 pixels at 0.2456 um/px (area-proportional). */
  mitoses?: number;
  /** Paint hard negatives (hyperchromatic, apoptotic nuclei, lymphocytes); default true. */
  lookalikes?: boolean;
}

export interface SynthMitosis {
  /** Centroid in pixels (for anaphase/telophase: the midpoint between the two chromatin masses). */
  x: number;
  y: number;
  phase: MitosisPhase;
}

export interface SynthNucleus {
  x: number;
  y: number;
  kind: NucleusKind;
  /** True for the hard negatives: hyperchromatic, apoptotic, lymphocyte. */
  lookalike: boolean;
}

export interface SynthImage {
  width: number;
  height: number;
  /** RGBA, row-major, alpha 255. */
  data: Uint8ClampedArray;
}

export interface SynthField {
  image: SynthImage;
  /** One entry per mitotic figure (a separating anaphase/telophase pair counts once). */
  mitoses: SynthMitosis[];
  /** Centres of the non-mitotic nuclei whose centre lies in the image (look-alikes included). */
  nuclei: SynthNucleus[];
}

/** Minimum distance between two mitosis centroids, pixels (40 at 0.2456 um/px, more at finer mpp). */
export function mitosisMinSpacing(mpp = DEFAULT_MPP): number {
  return 40 * Math.max(1, DEFAULT_MPP / mpp);
}

/** Minimum distance of a mitosis centroid from the image border, pixels. */
export function mitosisBorderMargin(mpp = DEFAULT_MPP): number {
  return Math.max(12, 16 * (DEFAULT_MPP / mpp));
}

/** Default number of mitoses for a field: 3-6 per 512x512 pixels at 0.2456 um/px, drawn from the seed. */
function defaultMitosisCount(rng: Rng, width: number, height: number, s: number): number {
  const expected = ((width * height) / (512 * 512 * s * s)) * uniform(rng, 3, 6);
  const n = Math.floor(expected);
  return n + (rng() < expected - n ? 1 : 0);
}

const PHASES: MitosisPhase[] = ['prophase', 'metaphase', 'anaphase', 'telophase'];
const PHASE_WEIGHTS = [0.22, 0.38, 0.2, 0.2];

function drawPhase(rng: Rng): MitosisPhase {
  let u = rng();
  for (let k = 0; k < PHASES.length; k++) {
    u -= PHASE_WEIGHTS[k];
    if (u < 0) return PHASES[k];
  }
  return 'metaphase';
}

/** Generates one synthetic H&E field with its ground truth. Deterministic in all options. */
export function generateField(opts: FieldOptions): SynthField {
  const { width: W, height: H, seed } = opts;
  if (!Number.isInteger(W) || !Number.isInteger(H) || W < 1 || H < 1) throw new RangeError(`generateField: bad size ${W}x${H}`);
  const mpp = opts.mpp ?? DEFAULT_MPP;
  if (!(mpp > 0)) throw new RangeError(`generateField: mpp must be > 0, got ${mpp}`);
  if (opts.mitoses !== undefined && !(Number.isInteger(opts.mitoses) && opts.mitoses >= 0)) {
    throw new RangeError(`generateField: mitoses must be a non-negative integer, got ${opts.mitoses}`);
  }
  const lookalikes = opts.lookalikes ?? true;
  const s = DEFAULT_MPP / mpp;
  const seed32 = seed >>> 0 ^ Math.floor(seed / 4294967296);
  const sd = (k: number) => deriveSeed(seed32, k);
  const fieldRng = mulberry32(sd(1));

  // ---------------- large-scale fields ----------------
  const nestScale = 150 * s * uniform(fieldRng, 0.8, 1.25);
  const nestThr = uniform(fieldRng, 0.4, 0.5);
  const sNest = sd(2), sLumen = sd(3), sGap = sd(4), sDir = sd(5), sWarp = sd(6), sCleft = sd(7), sSize = sd(8);
  const lumenThr = uniform(fieldRng, 0.68, 0.76);
  const gapThr = uniform(fieldRng, 0.62, 0.7);
  const nestAt = (x: number, y: number) => fbm(x / nestScale, y / nestScale, sNest, 4) - nestThr;
  const lumenAt = (x: number, y: number) => fbm(x / (48 * s), y / (48 * s), sLumen, 3) - lumenThr;
  const gapAt = (x: number, y: number) => fbm(x / (70 * s), y / (70 * s), sGap, 3) - gapThr;
  const isLumen = (x: number, y: number) => lumenAt(x, y) > -0.01 && nestAt(x, y) > 0.02;
  const step = Math.max(2, Math.min(12, Math.round(6 * s)));
  const nest = new CoarseGrid(W, H, step, nestAt);
  const lumen = new CoarseGrid(W, H, step, lumenAt);
  const gap = new CoarseGrid(W, H, step, gapAt);
  // Stroma fibres are level lines of v = (coordinate across a field-wide direction) + a large smooth
  // displacement: coherent, wavy, locally turning bundles that never cross.
  const theta0 = fieldRng() * Math.PI;
  const c0 = Math.cos(theta0);
  const s0 = Math.sin(theta0);
  const warpAmp = uniform(fieldRng, 90, 160) * s;
  const warpAt = (x: number, y: number) => warpAmp * (fbm(x / (110 * s), y / (110 * s), sDir, 3) - 0.5) + 5 * s * (fbm(x / (35 * s), y / (35 * s), sWarp, 2) - 0.5);
  const fiberV = new CoarseGrid(W, H, step, (x, y) => -x * s0 + y * c0 + warpAt(x, y));
  // local fibre direction (for fibroblasts): perpendicular to the gradient of v
  const dirAt = (x: number, y: number) => {
    const e = 2 * s;
    const gx = (warpAt(x + e, y) - warpAt(x - e, y)) / (2 * e) - s0;
    const gy = (warpAt(x, y + e) - warpAt(x, y - e)) / (2 * e) + c0;
    return Math.atan2(gy, gx) + Math.PI / 2;
  };
  const bundle = new CoarseGrid(W, H, step, (x, y) => fbm(x / (30 * s), y / (30 * s), sWarp + 77, 3));
  const cleft = new CoarseGrid(W, H, step, (x, y) => fbm(x / (30 * s), y / (30 * s), sCleft, 2));
  const sizeAt = (x: number, y: number) => 0.85 + 0.35 * fbm(x / (120 * s), y / (120 * s), sSize, 2);

  // fine texture shared by all stamps
  const T1 = new NoiseTable(sd(9));
  const T2 = new NoiseTable(sd(10));
  const g1 = new Float32Array(W * H);
  const g2 = new Float32Array(W * H);
  const k1 = 1 / (1.7 * s);
  const k2 = 1 / (4.5 * s);
  fillNoise(g1, W, H, T1, k1, 0, 0);
  fillNoise(g2, W, H, T2, k2, 0.37, 0.71);
  const noise = { vac: new NoiseTable(sd(11)), fib: new NoiseTable(sd(12)), fib2: new NoiseTable(sd(13)) };

  // ---------------- mitoses (placed first: everything else makes room) ----------------
  const mitRng = mulberry32(sd(20));
  const spacing = mitosisMinSpacing(mpp);
  const margin = mitosisBorderMargin(mpp);
  const wanted = opts.mitoses ?? defaultMitosisCount(mitRng, W, H, s);
  const centres = placeMitoses(mitRng, W, H, wanted, spacing, margin, (x, y) => nestAt(x, y) > 0.03 && !isLumen(x, y));
  if (centres.length < wanted && opts.mitoses !== undefined) {
    throw new RangeError(`generateField: cannot place ${wanted} mitoses ${spacing} px apart and ${margin} px from the border in ${W}x${H}`);
  }
  const phaseOrder = shuffle(mitRng, PHASES.slice());
  const specs: MitosisSpec[] = centres.map((c, k) => mitosisSpec(mitRng, c.x, c.y, k < 4 ? phaseOrder[k] : drawPhase(mitRng), s));
  const nearMitosis = (x: number, y: number, r: number) => specs.some((m) => Math.hypot(x - m.x, y - m.y) < mitosisReach(m) + r);

  // ---------------- nuclei layout ----------------
  const layRng = mulberry32(sd(30));
  const epi: NucleusSpec[] = [];
  const sp = 41 * s * uniform(layRng, 0.92, 1.08);
  const rows = Math.ceil(H / (sp * 0.866)) + 2;
  const cols = Math.ceil(W / sp) + 2;
  for (let j = -1; j < rows; j++) {
    for (let i = -1; i < cols; i++) {
      const x = (i + (j & 1) * 0.5) * sp + uniform(layRng, -0.32, 0.32) * sp;
      const y = j * sp * 0.866 + uniform(layRng, -0.32, 0.32) * sp;
      const skip = layRng();
      const n = epithelialNucleus(layRng, x, y, s * sizeAt(x, y));
      if (skip < 0.04 || nestAt(x, y) < 0.015 || isLumen(x, y)) continue;
      if (nearMitosis(x, y, 0.5 * n.a)) continue;
      epi.push(n);
    }
  }
  const fibro: NucleusSpec[] = [];
  const nFib = Math.round((W * H) / (95 * 95 * s * s));
  for (let k = 0; k < nFib; k++) {
    const x = uniform(layRng, -10, W + 10);
    const y = uniform(layRng, -10, H + 10);
    const a = uniform(layRng, 12, 21) * s;
    const dir = dirAt(x, y) + gauss(layRng) * 0.15;
    const spec: NucleusSpec = { x, y, a, b: uniform(layRng, 2.6, 4.2) * s, angle: dir, kind: 'fibroblast', dark: uniform(layRng, 0.85, 1.2), harm: harmonics(layRng, 0.03), nucleoli: [] };
    if (nestAt(x, y) > -0.03 || gapAt(x, y) > -0.02 || nearMitosis(x, y, a)) continue;
    fibro.push(spec);
  }

  // ---------------- look-alikes ----------------
  const lymph: NucleusSpec[] = [];
  const hyper: NucleusSpec[] = [];
  const apop: { x: number; y: number }[] = [];
  const looRng = mulberry32(sd(40));
  const areaUnits = (W * H) / (512 * 512 * s * s);
  if (lookalikes) {
    const keepAway = (x: number, y: number, r: number) => nearMitosis(x, y, r + 8 * s);
    const addLymph = (x: number, y: number) => {
      const a = uniform(looRng, 6.5, 9) * s;
      const spec: NucleusSpec = { x, y, a, b: a * uniform(looRng, 0.82, 1), angle: looRng() * Math.PI, kind: 'lymphocyte', dark: uniform(looRng, 0.95, 1.2), harm: harmonics(looRng, 0.03), nucleoli: [] };
      if (!keepAway(x, y, a) && !(gapAt(x, y) > 0 && nestAt(x, y) < 0) && !isLumen(x, y)) lymph.push(spec);
    };
    const clusters = poissonCount(looRng, areaUnits * uniform(looRng, 0.8, 2.5));
    for (let c = 0; c < clusters; c++) {
      // clusters sit in the stroma: try a few places
      let cx = uniform(looRng, 0, W);
      let cy = uniform(looRng, 0, H);
      for (let t = 0; t < 12 && nestAt(cx, cy) > -0.02; t++) {
        cx = uniform(looRng, 0, W);
        cy = uniform(looRng, 0, H);
      }
      const n = 5 + Math.floor(looRng() * 12);
      for (let k = 0; k < n; k++) addLymph(cx + gauss(looRng) * 20 * s, cy + gauss(looRng) * 20 * s);
    }
    const singles = poissonCount(looRng, areaUnits * uniform(looRng, 4, 10));
    for (let k = 0; k < singles; k++) addLymph(uniform(looRng, 0, W), uniform(looRng, 0, H));

    // hyperchromatic and apoptotic cells replace epithelial nuclei
    const candidates = shuffle(looRng, epi.map((_, k) => k)).filter((k) => epi[k].x >= 0 && epi[k].y >= 0 && epi[k].x < W && epi[k].y < H);
    const nHyper = poissonCount(looRng, areaUnits * uniform(looRng, 3, 6));
    const nApop = poissonCount(looRng, areaUnits * uniform(looRng, 2, 4));
    const replaced = new Set<number>();
    for (const k of candidates) {
      const n = epi[k];
      if (keepAway(n.x, n.y, 18 * s)) continue;
      if (hyper.length < nHyper) {
        const a = uniform(looRng, 11, 17) * s;
        hyper.push({ x: n.x, y: n.y, a, b: a * uniform(looRng, 0.6, 0.92), angle: looRng() * Math.PI, kind: 'hyperchromatic', dark: uniform(looRng, 0.95, 1.25), harm: harmonics(looRng, uniform(looRng, 0.03, 0.12)), nucleoli: [] });
        replaced.add(k);
      } else if (apop.length < nApop) {
        apop.push({ x: n.x, y: n.y });
        replaced.add(k);
      } else break;
    }
    // lymphocytes inside nests push epithelial nuclei aside
    for (let k = 0; k < epi.length; k++) {
      const n = epi[k];
      if (lymph.some((l) => Math.hypot(l.x - n.x, l.y - n.y) < 0.8 * (l.a + n.a))) replaced.add(k);
    }
    const kept = epi.filter((_, k) => !replaced.has(k));
    epi.length = 0;
    epi.push(...kept);
  }

  // ---------------- background: stroma, cytoplasm, gaps ----------------
  const L: Layers = { width: W, height: H, H: new Float32Array(W * H), E: new Float32Array(W * H), g1, g2, s };
  paintBackground(L, { nest, lumen, gap, fiberV, c0, s0, bundle, cleft, epi, noise, fieldRng });

  // ---------------- nuclei and figures ----------------
  for (const n of fibro) stampNucleus(L, n);
  for (const n of epi) stampNucleus(L, n);
  for (const n of lymph) stampNucleus(L, n);
  for (const n of hyper) stampNucleus(L, n);
  for (const a of apop) stampApoptotic(L, a.x, a.y, looRng);
  const figRng = mulberry32(sd(50));
  for (const m of specs) stampMitosis(L, m, figRng);

  // ---------------- optics, stain, grain ----------------
  for (let k = 0; k < 2; k++) {
    blur121(L.H, W, H);
    blur121(L.E, W, H);
  }
  const stain = fieldStain(mulberry32(sd(60)));
  const data = renderRGBA(L.H, L.E, W, H, stain, sd(61), uniform(fieldRng, 1.8, 3.2));

  const inside = (p: { x: number; y: number }) => p.x >= 0 && p.y >= 0 && p.x < W && p.y < H;
  const nuclei: SynthNucleus[] = [];
  for (const n of fibro) if (inside(n)) nuclei.push({ x: n.x, y: n.y, kind: 'fibroblast', lookalike: false });
  for (const n of epi) if (inside(n)) nuclei.push({ x: n.x, y: n.y, kind: 'epithelial', lookalike: false });
  for (const n of lymph) if (inside(n)) nuclei.push({ x: n.x, y: n.y, kind: 'lymphocyte', lookalike: true });
  for (const n of hyper) if (inside(n)) nuclei.push({ x: n.x, y: n.y, kind: 'hyperchromatic', lookalike: true });
  for (const n of apop) if (inside(n)) nuclei.push({ x: n.x, y: n.y, kind: 'apoptotic', lookalike: true });
  return {
    image: { width: W, height: H, data },
    mitoses: specs.map((m) => ({ x: m.x, y: m.y, phase: m.phase })),
    nuclei,
  };
}

function poissonCount(rng: Rng, mean: number): number {
  // small means: inversion; large: normal approximation
  if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * gauss(rng)));
  let k = 0;
  let p = Math.exp(-mean);
  let c = p;
  const u = rng();
  while (u > c && k < 200) {
    k++;
    p *= mean / k;
    c += p;
  }
  return k;
}

function epithelialNucleus(rng: Rng, x: number, y: number, s: number): NucleusSpec {
  const a = uniform(rng, 13, 20) * s;
  const nucleoli: NucleusSpec['nucleoli'] = [];
  const nn = rng() < 0.35 ? 0 : rng() < 0.7 ? 1 : 2;
  for (let k = 0; k < nn; k++) {
    const ang = rng() * 2 * Math.PI;
    const d = Math.sqrt(rng()) * 0.4 * a;
    nucleoli.push({ dx: d * Math.cos(ang), dy: d * Math.sin(ang), r: uniform(rng, 1.3, 2.6) * s });
  }
  return {
    x,
    y,
    a,
    b: a * uniform(rng, 0.62, 0.95),
    angle: rng() * Math.PI,
    kind: 'epithelial',
    dark: uniform(rng, 0.75, 1.25),
    harm: harmonics(rng, uniform(rng, 0.02, 0.09)),
    nucleoli,
  };
}

/** Rejection sampling of mitosis centroids with spacing and border rules, preferring `good` places. */
function placeMitoses(rng: Rng, W: number, H: number, n: number, spacing: number, margin: number, good: (x: number, y: number) => boolean): { x: number; y: number }[] {
  const out: { x: number; y: number }[] = [];
  if (n === 0 || W - 2 * margin <= 0 || H - 2 * margin <= 0) return out;
  const fits = (x: number, y: number) => out.every((p) => Math.hypot(p.x - x, p.y - y) >= spacing);
  for (let t = 0; t < 4000 && out.length < n; t++) {
    const x = margin + rng() * (W - 2 * margin);
    const y = margin + rng() * (H - 2 * margin);
    if ((t < 2500 && !good(x, y)) || !fits(x, y)) continue;
    out.push({ x, y });
  }
  if (out.length < n) {
    // dense fallback: scan a grid in a random order
    const g = Math.max(2, spacing / 4);
    const cand: { x: number; y: number }[] = [];
    for (let y = margin; y <= H - margin; y += g) for (let x = margin; x <= W - margin; x += g) cand.push({ x, y });
    shuffle(rng, cand);
    for (const c of cand) {
      if (out.length >= n) break;
      if (fits(c.x, c.y)) out.push(c);
    }
  }
  return out;
}

interface BackgroundInputs {
  nest: CoarseGrid;
  lumen: CoarseGrid;
  gap: CoarseGrid;
  /** Across-fibre coordinate (pixels) and the field-wide along-fibre direction (c0, s0). */
  fiberV: CoarseGrid;
  c0: number;
  s0: number;
  bundle: CoarseGrid;
  cleft: CoarseGrid;
  epi: NucleusSpec[];
  noise: { vac: NoiseTable; fib: NoiseTable; fib2: NoiseTable };
  fieldRng: Rng;
}

/** Stroma, epithelial cytoplasm with cell borders, lumina, gaps and clefts. */
function paintBackground(L: Layers, b: BackgroundInputs): void {
  const { width: W, height: H, g1, g2, s } = L;
  const rng = b.fieldRng;
  const stromaE = uniform(rng, 0.6, 0.85);
  const cytoE = uniform(rng, 0.6, 0.85);
  const cytoH = uniform(rng, 0.2, 0.32);
  const memE = uniform(rng, 0.25, 0.45);
  const clearBorders = uniform(rng, 0.55, 0.7); // threshold on the cleft field: share of clear cell borders
  const vacThr = uniform(rng, 0.68, 0.74);

  // Voronoi of epithelial nucleus centres on a bucket grid
  const B = Math.max(12, Math.round(36 * s));
  const bw = Math.ceil(W / B) + 2;
  const bh = Math.ceil(H / B) + 2;
  const counts = new Int32Array(bw * bh + 1);
  const bucketOf = (x: number, y: number) => {
    const bx = Math.min(bw - 1, Math.max(0, Math.floor(x / B) + 1));
    const by = Math.min(bh - 1, Math.max(0, Math.floor(y / B) + 1));
    return by * bw + bx;
  };
  for (const n of b.epi) counts[bucketOf(n.x, n.y) + 1]++;
  for (let k = 0; k < bw * bh; k++) counts[k + 1] += counts[k];
  const fill = counts.slice(0, bw * bh);
  const px = new Float32Array(b.epi.length);
  const py = new Float32Array(b.epi.length);
  for (const n of b.epi) {
    const k = fill[bucketOf(n.x, n.y)]++;
    px[k] = n.x;
    py[k] = n.y;
  }
  // candidates of each bucket: the nuclei of its 3x3 neighbourhood, flattened
  const nbStart = new Int32Array(bw * bh + 1);
  const nbList: number[] = [];
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      nbStart[by * bw + bx] = nbList.length;
      for (let yy = Math.max(0, by - 1); yy <= Math.min(bh - 1, by + 1); yy++) {
        for (let xx = Math.max(0, bx - 1); xx <= Math.min(bw - 1, bx + 1); xx++) {
          const q = yy * bw + xx;
          for (let k = counts[q]; k < counts[q + 1]; k++) nbList.push(k);
        }
      }
    }
  }
  nbStart[bw * bh] = nbList.length;
  const nb = Int32Array.from(nbList);

  const ifl = 1 / (45 * s); // fibre length scale
  const ifw = 1 / (3.2 * s); // fibre width scale
  const { c0, s0 } = b;
  const { vac: TV, fib: TF, fib2: TF2 } = b.noise;
  const iv = 1 / (13 * s);
  const im = 1 / (7 * s);
  const motRows = new NoiseRows(TV, W, im, 100.5, 7.25);
  const vacRowsA = new NoiseRows(TV, W, iv, 0, 0);
  const vacRowsB = new NoiseRows(TV, W, iv * 2.3, 50.5, 0);
  const motRow = new Float32Array(W);
  const vacA = new Float32Array(W);
  const vacB = new Float32Array(W);
  const nestR = new Float32Array(W);
  const lumenR = new Float32Array(W);
  const gapR = new Float32Array(W);
  const fibVR = new Float32Array(W);
  const bundR = new Float32Array(W);
  const cleftR = new Float32Array(W);
  for (let y = 0; y < H; y++) {
    b.nest.row(y, nestR);
    b.lumen.row(y, lumenR);
    b.gap.row(y, gapR);
    b.fiberV.row(y, fibVR);
    b.bundle.row(y, bundR);
    b.cleft.row(y, cleftR);
    motRows.row(y, motRow);
    vacRowsA.row(y, vacA);
    vacRowsB.row(y, vacB);
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const nv = nestR[x];
      const epi = smoothstep(-0.012, 0.012, nv);
      let e = 0;
      let h = 0;
      if (epi < 1) {
        // fibrous stroma: streaks along a slowly turning, warped direction, in denser and looser bundles
        const u = x * c0 + y * s0;
        const v = fibVR[x];
        const fib = 0.5 * TF.at(u * ifl, v * ifw) + 0.3 * TF2.at(u * ifl * 2.7, v * ifw * 2.1) + 0.2 * g1[i];
        const bund = bundR[x];
        const dens = 0.45 + 1.1 * bund; // bundle density, about 0.8-1.3
        const se = stromaE * dens * (0.45 + 1.1 * fib) * (0.9 + 0.2 * g2[i]);
        // loose stroma: pale slits between bundles
        const loose = smoothstep(0.45, 0.32, bund) * smoothstep(0.45, 0.33, fib);
        const sh = 0.05 + 0.04 * g2[i];
        e = se * (1 - 0.75 * loose) * (1 - epi);
        h = sh * (1 - epi);
      }
      if (epi > 0) {
        // mottled, granular cytoplasm
        const mot = motRow[x];
        let ce = cytoE * (0.45 + 0.6 * mot + 0.3 * g2[i] + 0.15 * g1[i]);
        let ch = cytoH * (0.6 + 0.5 * mot + 0.3 * g1[i]);
        // cell borders: where the two nearest nucleus centres are about equally far
        let d1 = 1e9;
        let d2 = 1e9;
        // look up a slightly displaced position so that cell borders wobble
        const qx = x + 5 * s * (g2[i] - 0.5);
        const qy = y + 5 * s * (g2[i + (i + W < W * H ? W : 0)] - 0.5) + 2 * s * (g1[i] - 0.5);
        const q = (Math.floor(y / B) + 1) * bw + Math.floor(x / B) + 1;
        for (let n = nbStart[q], end = nbStart[q + 1]; n < end; n++) {
          const k = nb[n];
          const ddx = px[k] - qx;
          const ddy = py[k] - qy;
          const d = ddx * ddx + ddy * ddy;
          if (d < d1) {
            d2 = d1;
            d1 = d;
          } else if (d < d2) d2 = d;
        }
        if (d2 < 1e9) {
          const gapd = Math.sqrt(d2) - Math.sqrt(d1);
          const mk = Math.exp(-(gapd * gapd) / (2.5 * s * s));
          const cl = cleftR[x] + 0.08 * (g2[i] - 0.5);
          if (cl > clearBorders) {
            // retraction space around the cell
            const wk = mk * smoothstep(clearBorders, clearBorders + 0.05, cl);
            ce *= 1 - 0.9 * wk;
            ch *= 1 - 0.9 * wk;
          } else {
            ce += memE * mk;
          }
        }
        // cytoplasmic vacuoles (clear cytoplasm)
        const vac = 0.65 * vacA[x] + 0.35 * vacB[x];
        const vk = smoothstep(vacThr, vacThr + 0.03, vac);
        ce *= 1 - 0.85 * vk;
        ch *= 1 - 0.85 * vk;
        e += ce * epi;
        h += ch * epi;
      }
      // white: gaps in stroma, lumina in nests, clefts along nest borders
      const gapK = smoothstep(0, 0.02, gapR[x]) * (1 - epi);
      const lumK = smoothstep(-0.01, 0.01, lumenR[x]) * smoothstep(0.02, 0.05, nv);
      const clK = (1 - smoothstep(0.002, 0.01 + 0.012 * g2[i], Math.abs(nv))) * smoothstep(0.45, 0.55, cleftR[x]);
      const wk = Math.max(gapK, lumK, clK);
      if (wk > 0) {
        // a faint dense rim where tissue meets a space
        const rim = 4 * wk * (1 - wk);
        e = e * (1 - wk) + 0.03 * wk + 0.25 * rim;
        h = h * (1 - wk) + 0.01 * wk + 0.05 * rim;
      }
      L.E[i] = e;
      L.H[i] = h;
    }
  }
}

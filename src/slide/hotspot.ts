// What a pathologist reads off a slide: the mitotic hotspot and its Nottingham score, a density
// heatmap, and the detections for QuPath. Pure functions on level-0 coordinates; no GPU.
import type { RgbaImage } from '../model/dense.js';
import { colourOf, type Detection, detectionsGeoJson, drawCircle } from '../detect/results.js';

/** Elston & Ellis's field: Leitz Ortholux, x25 objective, 0.274 mm² (field diameter ~0.59 mm). */
export const REFERENCE_FIELD_MM2 = 0.274;

export interface Window {
  /** Area of the circular window, mm². */
  areaMm2: number;
  /** What it stands for ("2 mm²", "10 HPF of 0.55 mm"). */
  label: string;
}

/** The default window: a circle of 2 mm² (the area recommended for mitotic counting in recent guidance). */
export function areaWindow(areaMm2 = 2): Window {
  if (!(areaMm2 > 0)) throw new RangeError(`hotspot: the window area must be > 0 mm², got ${areaMm2}`);
  return { areaMm2, label: `${areaMm2} mm²` };
}

/** `fields` high-power fields of diameter `diameterMm`, as one circle of their total area. */
export function hpfWindow(diameterMm: number, fields = 10): Window {
  if (!(diameterMm > 0 && fields > 0)) throw new RangeError(`hotspot: bad HPF (diameter ${diameterMm} mm, ${fields} fields)`);
  return { areaMm2: fields * Math.PI * (diameterMm / 2) ** 2, label: `${fields} HPF of ${diameterMm} mm` };
}

export interface MitoticScore {
  score: 1 | 2 | 3;
  /** Counts below `score2From` score 1; at or above `score3From` score 3 (for this area). */
  score2From: number;
  score3From: number;
}

/**
 * The Nottingham (Elston-Ellis) mitotic score of `count` mitoses in `areaMm2` mm² of tumour.
 * Elston CW, Ellis IO. Histopathology 1991;19:403-410 give 0-9 / 10-19 / >=20 mitoses in 10 fields
 * of 0.274 mm²; the NHS Breast Screening Programme / RCPath guidelines ("Pathology reporting of
 * breast disease in surgical excision specimens", NHSBSP 58 / RCPath G148, 2016, table of mitotic
 * score cut-offs by field diameter) scale those cut-offs with the field area: with r = (area of 10
 * fields) / 2.74 mm², score 1 below 10 r, score 3 from 20 r (e.g. 0.55 mm fields: <= 8, 9-17,
 * >= 18; 0.40 mm: <= 4, 5-9, >= 10; 0.69 mm: <= 13, 14-27, >= 28). The same rule is applied here to
 * any area (2 mm²: <= 7, 8-14, >= 15).
 */
export function mitoticScore(count: number, areaMm2: number): MitoticScore {
  const r = areaMm2 / (10 * REFERENCE_FIELD_MM2);
  const score2From = Math.ceil(10 * r - 1e-9), score3From = Math.ceil(20 * r - 1e-9);
  return { score: count < 10 * r ? 1 : count < 20 * r ? 2 : 3, score2From, score3From };
}

/** The table's row for a field diameter (mm): the largest count scoring 1, the range scoring 2, the smallest scoring 3. */
export function scoreTableRow(diameterMm: number): { score1Max: number; score2: [number, number]; score3Min: number } {
  const { score2From, score3From } = mitoticScore(0, hpfWindow(diameterMm).areaMm2);
  return { score1Max: score2From - 1, score2: [score2From, score3From - 1], score3Min: score3From };
}

export interface TissueMask {
  width: number;
  height: number;
  /** 1 = tissue, row-major. */
  data: Uint8Array;
  /** Level-0 pixels per mask pixel. */
  downsample: number;
}

export function inTissue(mask: TissueMask, x: number, y: number): boolean {
  const i = Math.floor(x / mask.downsample), j = Math.floor(y / mask.downsample);
  return i >= 0 && j >= 0 && i < mask.width && j < mask.height && mask.data[j * mask.width + i] === 1;
}

export interface Hotspot {
  /** Centre of the window, level-0 pixels. */
  x: number;
  y: number;
  radiusPx: number;
  areaMm2: number;
  label: string;
  count: number;
  perMm2: number;
  /** The count scaled to 10 fields of Elston-Ellis' 0.274 mm² (what the score's table is in). */
  per10ReferenceHpf: number;
  score: MitoticScore;
  /** Fraction of the window on tissue (with a mask), else undefined. */
  tissueFraction?: number;
  /** Indices (into the detections given) of those inside the window. */
  members: number[];
  /** Detections dropped for lying off the tissue mask. */
  offTissue: number;
}

/**
 * The circular window of `window.areaMm2` holding the most detections. Exact: an optimal disk can
 * be moved until a detection lies on its boundary, so for every detection p we sweep the centres
 * on the circle of radius R around p and count, by an angular sweep over the arcs where each
 * neighbour q (|pq| <= 2R) is inside, the most points covered (O(n k log k), k = neighbours;
 * points on the boundary count as inside). With `mask`, detections off the tissue are dropped
 * first and the window's tissue fraction is reported (sampled on the mask).
 */
export function findHotspot(dets: readonly Detection[], mpp: number, window: Window = areaWindow(), mask?: TissueMask): Hotspot {
  if (!(mpp > 0)) throw new RangeError(`hotspot: µm per pixel must be > 0, got ${mpp} (the slide's resolution is unknown: give it)`);
  const R = (Math.sqrt(window.areaMm2 / Math.PI) * 1000) / mpp;
  const idx: number[] = [];
  dets.forEach((d, i) => (!mask || inTissue(mask, d.x, d.y)) && idx.push(i));
  const pts = idx.map((i) => dets[i]);
  let best = { count: 0, x: NaN, y: NaN };
  // grid buckets of side 2R: the neighbours within 2R are in the 3x3 cells around
  const cell = 2 * R, grid = new Map<string, number[]>();
  pts.forEach((p, k) => {
    const key = `${Math.floor(p.x / cell)},${Math.floor(p.y / cell)}`;
    (grid.get(key) ?? grid.set(key, []).get(key)!).push(k);
  });
  const eps = 1e-9;
  pts.forEach((p, k) => {
    const cx = Math.floor(p.x / cell), cy = Math.floor(p.y / cell);
    const events: [number, number][] = []; // [angle, +1 enter / -1 leave]
    let always = 1; // p itself
    for (let a = -1; a <= 1; a++)
      for (let b = -1; b <= 1; b++)
        for (const m of grid.get(`${cx + a},${cy + b}`) ?? []) {
          if (m === k) continue;
          const dx = pts[m].x - p.x, dy = pts[m].y - p.y, d = Math.hypot(dx, dy);
          if (d > 2 * R * (1 + eps)) continue;
          if (d < eps) {
            always++;
            continue;
          }
          const mid = Math.atan2(dy, dx), half = Math.acos(Math.min(1, d / (2 * R)));
          events.push([mid - half, 1], [mid + half, -1]);
        }
    // normalise to [0, 2pi): an arc that wraps starts "open" at angle 0
    let open = 0;
    const ev: [number, number][] = [];
    for (let i = 0; i < events.length; i += 2) {
      let s = events[i][0], e = events[i + 1][0];
      const TWO_PI = 2 * Math.PI;
      s = ((s % TWO_PI) + TWO_PI) % TWO_PI;
      e = ((e % TWO_PI) + TWO_PI) % TWO_PI;
      if (e < s) open++;
      ev.push([s, 1], [e, -1]);
    }
    ev.sort((u, v) => u[0] - v[0] || v[1] - u[1]); // enter before leave at the same angle (boundary counts)
    let cur = always + open, bestHere = cur, bestAngle = 0;
    for (const [ang, t] of ev) {
      cur += t;
      if (cur > bestHere) (bestHere = cur), (bestAngle = ang);
    }
    if (bestHere > best.count) best = { count: bestHere, x: p.x + R * Math.cos(bestAngle), y: p.y + R * Math.sin(bestAngle) };
  });
  if (!pts.length) best = { count: 0, x: NaN, y: NaN };
  const members = Number.isFinite(best.x) ? idx.filter((i) => Math.hypot(dets[i].x - best.x, dets[i].y - best.y) <= R * (1 + 1e-7)) : [];
  const count = members.length;
  let tissueFraction: number | undefined;
  if (mask && Number.isFinite(best.x)) {
    let on = 0, all = 0;
    const step = Math.max(mask.downsample, R / 50);
    for (let y = best.y - R; y <= best.y + R; y += step)
      for (let x = best.x - R; x <= best.x + R; x += step)
        if (Math.hypot(x - best.x, y - best.y) <= R) (all++, inTissue(mask, x, y) && on++);
    tissueFraction = all ? on / all : 0;
  }
  return {
    x: best.x,
    y: best.y,
    radiusPx: R,
    areaMm2: window.areaMm2,
    label: window.label,
    count,
    perMm2: count / window.areaMm2,
    per10ReferenceHpf: (count * 10 * REFERENCE_FIELD_MM2) / window.areaMm2,
    score: mitoticScore(count, window.areaMm2),
    tissueFraction,
    members,
    offTissue: dets.length - pts.length,
  };
}

export interface DensityGrid {
  /** Cells across and down. */
  width: number;
  height: number;
  /** Detections per cell, row-major. */
  counts: Uint32Array;
  /** Cell side in level-0 pixels. */
  cellPx: number;
}

/** Counts of detections in square cells of `cellPx` level-0 pixels over a slide of level-0 size W x H. */
export function densityGrid(dets: readonly Detection[], W: number, H: number, cellPx: number): DensityGrid {
  if (!(cellPx > 0)) throw new RangeError(`densityGrid: cell side must be > 0, got ${cellPx}`);
  const width = Math.max(1, Math.ceil(W / cellPx)), height = Math.max(1, Math.ceil(H / cellPx));
  const counts = new Uint32Array(width * height);
  for (const d of dets) {
    const i = Math.floor(d.x / cellPx), j = Math.floor(d.y / cellPx);
    if (i >= 0 && j >= 0 && i < width && j < height) counts[j * width + i]++;
  }
  return { width, height, counts, cellPx };
}

/**
 * The grid as an image at a level of `downsample` (W0/downsample x H0/downsample pixels): each cell
 * coloured by count / max (inferno-like map; empty cells show the level image, or black), blended
 * over `under` (that level's image) when given, with the hotspot outlined in cyan.
 */
export function renderDensity(grid: DensityGrid, W0: number, H0: number, downsample: number, opts: { under?: RgbaImage; hotspot?: Hotspot } = {}): RgbaImage {
  const w = Math.max(1, Math.round(W0 / downsample)), h = Math.max(1, Math.round(H0 / downsample));
  const { under, hotspot } = opts;
  if (under && (under.width !== w || under.height !== h)) throw new RangeError(`renderDensity: the image under is ${under.width}x${under.height}, expected ${w}x${h}`);
  const out = { width: w, height: h, data: new Uint8ClampedArray(w * h * 4) };
  let max = 0;
  for (const c of grid.counts) max = Math.max(max, c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = Math.min(grid.width - 1, Math.floor((x * downsample) / grid.cellPx)), j = Math.min(grid.height - 1, Math.floor((y * downsample) / grid.cellPx));
      const c = grid.counts[j * grid.width + i], o = 4 * (y * w + x);
      const col = colourOf(max ? c / max : 0), a = c ? (under ? 0.65 : 1) : under ? 0 : 1;
      for (let k = 0; k < 3; k++) out.data[o + k] = Math.round((under ? under.data[o + k] : 0) * (1 - a) + col[k] * a);
      out.data[o + 3] = 255;
    }
  if (hotspot && Number.isFinite(hotspot.x)) drawCircle(out, hotspot.x / downsample, hotspot.y / downsample, hotspot.radiusPx / downsample, [0, 230, 255], Math.max(2, Math.round(w / 400)));
  return out;
}

/** The detections as QuPath points (level-0 pixels), plus the hotspot as a polygon annotation. */
export function slideGeoJson(dets: readonly Detection[], hotspot?: Hotspot): string {
  const fc = JSON.parse(detectionsGeoJson(dets)) as { features: unknown[] };
  if (hotspot && Number.isFinite(hotspot.x)) {
    const ring: [number, number][] = [];
    for (let k = 0; k <= 64; k++) {
      const a = (2 * Math.PI * (k % 64)) / 64;
      ring.push([+(hotspot.x + hotspot.radiusPx * Math.cos(a)).toFixed(2), +(hotspot.y + hotspot.radiusPx * Math.sin(a)).toFixed(2)]);
    }
    fc.features.push({
      type: 'Feature',
      geometry: { type: 'Polygon', coordinates: [ring] },
      properties: { objectType: 'annotation', name: `Hotspot (${hotspot.label})`, classification: { name: 'Hotspot', color: [0, 230, 255] }, measurements: { count: hotspot.count, perMm2: hotspot.perMm2, score: hotspot.score.score } },
    });
  }
  return JSON.stringify(fc, null, 1) + '\n';
}

export { detectionsCsv } from '../detect/results.js';

// Generic image operations on float32 tensors: mirror padding, the 8 dihedral variants and their
// inverses, disk filters (mean and max), blue ratio, and non-maxima suppression.
// Everything but nonMaxSuppression only records work; nonMaxSuppression reads back its result
// (and a few small counters: a candidate count, then a done-flag every few rounds).
import blueRatioSource from '../../shaders/blue_ratio.wgsl';
import diheSource from '../../shaders/dihedral.wgsl';
import diskSource from '../../shaders/disk_filter.wgsl';
import nmsCandidatesSource from '../../shaders/nms_candidates.wgsl';
import nmsMarkSource from '../../shaders/nms_mark.wgsl';
import nmsSuppressSource from '../../shaders/nms_suppress.wgsl';
import padSource from '../../shaders/pad_mirror.wgsl';
import { grid1d } from '../dispatch.js';
import type { Engine, Tensor } from '../engine.js';

export interface Padding {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

function nchw(x: Tensor, what: string): [number, number, number, number] {
  if (x.shape.length !== 4) throw new Error(`${what}: expects an [N,C,H,W] tensor, got [${x.shape}]`);
  return x.shape as [number, number, number, number];
}

/** [H,W] or [N,C,H,W] (or [N,H,W]) -> planes P and the plane size H x W. */
function planes(x: Tensor, what: string): { P: number; H: number; W: number } {
  const s = x.shape;
  if (s.length < 2 || s.length > 4) throw new Error(`${what}: expects an [H,W] or [N,C,H,W] tensor, got [${s}]`);
  const H = s[s.length - 2];
  const W = s[s.length - 1];
  return { P: x.size / (H * W || 1), H, W };
}

function nonNegInt(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0) throw new Error(`${what} must be a non-negative integer, got ${v}`);
}

/**
 * Mirror padding: out[n,c,i,j] = x[n,c, refl(i - top, H), refl(j - left, W)], shape
 * [N, C, H + top + bottom, W + left + right]. The reflection does NOT repeat the edge pixel
 * (numpy 'reflect', PyTorch ReflectionPad2d): index -1 -> 1, H -> H - 2. Pads larger than the image
 * keep reflecting back and forth (period 2(H - 1)); for H = 1 every row is row 0.
 */
export function padMirror(e: Engine, x: Tensor, pad: Padding): Tensor {
  const [N, C, H, W] = nchw(x, 'padMirror');
  for (const k of ['top', 'bottom', 'left', 'right'] as const) nonNegInt(pad[k], `padMirror: pad.${k}`);
  if (H < 1 || W < 1) throw new Error(`padMirror: empty image [${x.shape}]`);
  const HO = H + pad.top + pad.bottom;
  const WO = W + pad.left + pad.right;
  const out = e.empty([N, C, HO, WO]);
  const P = N * C;
  e.run(
    {
      name: 'pad_mirror',
      source: padSource,
      constants: { P, H, W, TOP: pad.top, LEFT: pad.left, HO, WO },
      workgroups: grid1d(P * HO * WO, 256),
    },
    [x, out],
  );
  return out;
}

function checkVariant(k: number, what: string): void {
  if (!Number.isInteger(k) || k < 0 || k > 7) throw new Error(`${what}: variant must be an integer 0..7, got ${k}`);
}

/**
 * Dihedral variant k = 0..7 of every image: mirrored left-right first when k >= 4, then rotated by
 * (k mod 4) * 90 degrees counter-clockwise (as displayed, row 0 at the top); numpy:
 * np.rot90(np.fliplr(x) if k >= 4 else x, k % 4) on each [H,W] plane. Output [N,C,H,W] for even
 * k mod 4, [N,C,W,H] for odd.
 */
export function dihedral(e: Engine, x: Tensor, k: number): Tensor {
  const [N, C, H, W] = nchw(x, 'dihedral');
  checkVariant(k, 'dihedral');
  const odd = k % 2 === 1;
  const out = e.empty(odd ? [N, C, W, H] : [N, C, H, W]);
  runDihedral(e, x, out, N * C, H, W, k, 0);
  return out;
}

/**
 * Undoes dihedral(., k): dihedralInverse(e, dihedral(e, x, k), k) equals x exactly. `y` is the
 * variant ([N,C,W,H] for odd k mod 4); the result has the original image's shape. Use it to
 * map a per-pixel map computed on a variant back onto the original image.
 */
export function dihedralInverse(e: Engine, y: Tensor, k: number): Tensor {
  const [N, C, HV, WV] = nchw(y, 'dihedralInverse');
  checkVariant(k, 'dihedralInverse');
  const odd = k % 2 === 1;
  const H = odd ? WV : HV;
  const W = odd ? HV : WV;
  const out = e.empty([N, C, H, W]);
  runDihedral(e, y, out, N * C, H, W, k, 1);
  return out;
}

function runDihedral(e: Engine, src: Tensor, out: Tensor, P: number, H: number, W: number, K: number, INVERSE: number): void {
  e.run(
    { name: INVERSE ? 'dihedral_inverse' : 'dihedral', source: diheSource, constants: { P, H, W, K, INVERSE }, workgroups: grid1d(P * H * W, 256) },
    [src, out],
  );
}

/**
 * Row spans of the integer disk {(dx, dy): dx^2 + dy^2 <= r^2} (strict: < r^2), evaluated in
 * float64: spans[dy + RM] = the largest dx >= 0 in the disk's row dy, for dy = -RM..RM.
 * Returns the spans and the number of offsets. A strict disk of radius <= 0 is empty (RM = -1).
 */
export function diskSpans(radius: number, strict: boolean): { RM: number; spans: Uint32Array; count: number } {
  const r2 = radius * radius;
  const inside = (s: number) => (strict ? s < r2 : s <= r2);
  let RM = -1;
  while (inside((RM + 1) * (RM + 1))) RM++;
  const spans = new Uint32Array(Math.max(0, 2 * RM + 1));
  let count = 0;
  for (let dy = -RM; dy <= RM; dy++) {
    let s = Math.max(0, Math.floor(Math.sqrt(Math.max(0, r2 - dy * dy))));
    while (s > 0 && !inside(s * s + dy * dy)) s--; // exact integer test, whatever sqrt rounded to
    while (inside((s + 1) * (s + 1) + dy * dy)) s++;
    spans[dy + RM] = s;
    count += 2 * s + 1;
  }
  return { RM, spans, count };
}

export type DiskBorder = 'zero' | 'mirror';

function checkRadius(radius: number, what: string): void {
  if (!Number.isFinite(radius) || radius < 0) throw new Error(`${what}: radius must be a finite number >= 0, got ${radius}`);
}

function runDisk(e: Engine, m: Tensor, radius: number, OP: number, border: DiskBorder, what: string): Tensor {
  checkRadius(radius, what);
  if (border !== 'zero' && border !== 'mirror') throw new Error(`${what}: border must be 'zero' or 'mirror', got ${border}`);
  const { P, H, W } = planes(m, what);
  if (H < 1 || W < 1) throw new Error(`${what}: empty map [${m.shape}]`);
  const { RM, spans, count } = diskSpans(radius, false);
  const spansT = e.tensor([spans.length], spans);
  const out = e.empty(m.shape);
  e.run(
    {
      name: OP === 0 ? 'disk_mean' : 'disk_max',
      source: diskSource,
      constants: { P, H, W, RM, COUNT: count, OP, BORDER: border === 'zero' ? 0 : 1 },
      workgroups: grid1d(P * H * Math.ceil(W / 4), 256),
    },
    [m, spansT, out],
  );
  spansT.release();
  return out;
}

/**
 * Mean over a disk of radius `radius` (the detector's Mf = M convolved with a normalised disk):
 * out(p) = (1/|D|) sum_{o in D} m(p + o), D = {(dx, dy) integer: dx^2 + dy^2 <= radius^2} (the
 * boundary included). border 'zero' (default): pixels outside the image count as 0 and the
 * normaliser stays |D| (zero padding, so the map fades near the edges); 'mirror': they are read
 * reflected without repeating the edge pixel (as padMirror). m: [H,W] or [N,C,H,W] (every plane
 * filtered); the result has m's shape.
 */
export function diskFilter(e: Engine, m: Tensor, radius: number, opts: { border?: DiskBorder } = {}): Tensor {
  return runDisk(e, m, radius, 0, opts.border ?? 'zero', 'diskFilter');
}

/**
 * Dilation by a disk: out(p) = max over the in-image pixels q with |q - p|^2 <= radius^2 of m(q).
 * On a 0/1 mask this is the binary dilation (1 where a mask pixel lies within the radius).
 * m: [H,W] or [N,C,H,W]; the result has m's shape.
 */
export function dilateDisk(e: Engine, mask: Tensor, radius: number): Tensor {
  return runDisk(e, mask, radius, 1, 'zero', 'dilateDisk');
}

/** The largest float32 value <= t, so that for every float32 v: (v > t) === (v > f32AtMost(t)). */
export function f32AtMost(t: number): number {
  const f = Math.fround(t);
  if (!(f > t)) return f;
  const buf = new Float32Array([f]);
  const u = new Uint32Array(buf.buffer);
  if (f > 0) u[0] -= 1;
  else if (f < 0) u[0] += 1;
  else u[0] = 0x80000001; // f is +-0 and t a tiny negative number: the negative float32 closest to 0
  return buf[0];
}

/**
 * Blue ratio of an RGB image with values 0..255: BR = (100 B / (1 + R + G)) (256 / (1 + R + G + B)).
 * rgb: [1,3,H,W] -> [H,W] (or [N,3,H,W] -> [N,H,W]). With opts.threshold, returns the nuclei mask
 * instead: 1 where BR > threshold (BR in float32, compared exactly with the float64 threshold), else 0.
 */
export function blueRatio(e: Engine, rgb: Tensor, opts: { threshold?: number } = {}): Tensor {
  const [N, C, H, W] = nchw(rgb, 'blueRatio');
  if (C !== 3) throw new Error(`blueRatio: expects 3 channels (R, G, B), got [${rgb.shape}]`);
  const t = opts.threshold;
  if (t !== undefined && Number.isNaN(t)) throw new Error('blueRatio: threshold is NaN');
  const out = e.empty(N === 1 ? [H, W] : [N, H, W]);
  e.run(
    {
      name: 'blue_ratio',
      source: blueRatioSource,
      constants: { N, HW: H * W, MASK: t === undefined ? 0 : 1 },
      workgroups: grid1d(N * H * W, 256),
    },
    [rgb, out, { uniform: new Float32Array([t === undefined ? 0 : f32AtMost(t), 0, 0, 0]) }],
  );
  return out;
}

export interface Detection {
  /** Column. */
  x: number;
  /** Row. */
  y: number;
  /** Mf at (x, y) (a float32 value). */
  score: number;
}

export interface NmsOptions {
  /** Suppression radius r (the paper's 2d): pixels at Euclidean distance < r of a detection are
   * suppressed (strict; dx^2 + dy^2 < r^2 in float64). Must be > 0; need not be an integer. */
  radius: number;
  /** Detections need Mf > threshold (strictly); threshold >= 0. */
  threshold: number;
  /** Keep only the first maxDetections (what the loop gives when stopped after that many). */
  maxDetections?: number;
}

/** Rounds recorded between two readbacks of the done-flag: 4, 8, 16, then 32 each time. */
const FIRST_BATCH = 4;
const MAX_BATCH = 32;

/**
 * Non-maxima suppression of the smoothed map Mf [H,W] (or [1,1,H,W]), exactly the paper's loop:
 *   D = {}; repeat { pm = argmax Mf (ties: smallest row-major index); if Mf(pm) <= t stop;
 *                    add (pm, Mf(pm)) to D; set Mf(p) = 0 for every p with |p - pm| < r }
 * computed on the GPU in rounds of local-maximum selection among the pixels above t
 * (shaders/nms_mark.wgsl explains why that gives the same set). Returns D in the loop's order:
 * score descending, ties by row-major index (y * W + x). NaN pixels are never detected.
 * Reads back: the candidate count, a flag every few rounds, and the detections.
 */
export async function nonMaxSuppression(e: Engine, mf: Tensor, opts: NmsOptions): Promise<Detection[]> {
  const s = mf.shape;
  if (!(s.length === 2 || (s.length === 4 && s[0] === 1 && s[1] === 1))) {
    throw new Error(`nonMaxSuppression: expects an [H,W] or [1,1,H,W] map, got [${s}]`);
  }
  const { radius, threshold } = opts;
  if (!Number.isFinite(radius) || radius <= 0) throw new Error(`nonMaxSuppression: radius must be a finite number > 0, got ${radius}`);
  if (!(threshold >= 0)) {
    // the loop zeroes suppressed pixels; with t < 0 it would pick them again forever
    throw new Error(`nonMaxSuppression: threshold must be >= 0, got ${threshold}`);
  }
  const max = opts.maxDetections ?? Infinity;
  if (!(max >= 0)) throw new Error(`nonMaxSuppression: maxDetections must be >= 0, got ${max}`);
  const H = s[s.length - 2];
  const W = s[s.length - 1];
  const n = H * W;
  if (n === 0 || max === 0) return [];
  if (n >= 2 ** 31) throw new Error(`nonMaxSuppression: map of ${n} pixels is too large`);

  const { RM, spans } = diskSpans(radius, true);
  const spansT = e.tensor([spans.length], spans);
  const state = e.empty([n]);
  const cand = e.empty([n]);
  const counters = e.zeros([4]);
  const owned: Tensor[] = [spansT, state, cand, counters];
  try {
    e.run(
      {
        name: 'nms_candidates',
        source: nmsCandidatesSource,
        constants: { N: n },
        workgroups: grid1d(n, 256),
      },
      [mf, state, cand, counters, { uniform: new Float32Array([f32AtMost(threshold), 0, 0, 0]) }],
    );
    const numCand = (await e.readU32(counters))[0];
    if (numCand === 0) return [];
    const det = e.empty([3 * numCand]);
    owned.push(det);
    const wg = grid1d(numCand, 64);
    const mark = (flag: number) => ({ name: 'nms_mark', source: nmsMarkSource, constants: { H, W, RM, SET_FLAG: flag }, workgroups: wg });
    const suppress = { name: 'nms_suppress', source: nmsSuppressSource, constants: { H, W, RM }, workgroups: wg };
    let rounds = 0;
    let batch = FIRST_BATCH;
    let numDet = 0;
    for (;;) {
      e.write(counters, new Uint32Array([0]), 2); // clear the done-flag
      for (let r = 0; r < batch; r++) {
        e.run(mark(r === batch - 1 ? 1 : 0), [mf, spansT, cand, state, counters]);
        e.run(suppress, [mf, spansT, cand, state, counters, det]);
      }
      rounds += batch;
      const c = await e.readU32(counters);
      numDet = c[1];
      if (c[2] === 0) break; // nothing was alive at the start of the batch's last round
      // every round outputs at least one pixel, so more rounds than candidates means a bug
      if (rounds > numCand + 1) throw new Error(`nonMaxSuppression: no convergence after ${rounds} rounds (internal error)`);
      batch = Math.min(2 * batch, MAX_BATCH);
    }
    if (numDet === 0) return [];
    const part = e.empty([3 * numDet]);
    owned.push(part);
    e.copy(det, part, 0, 0, 3 * numDet);
    const raw = await e.readU32(part);
    const f = new Float32Array(raw.buffer, raw.byteOffset, raw.length);
    const out: (Detection & { i: number })[] = [];
    for (let k = 0; k < numDet; k++) {
      const x = raw[3 * k];
      const y = raw[3 * k + 1];
      out.push({ x, y, score: f[3 * k + 2], i: y * W + x });
    }
    out.sort((a, b) => b.score - a.score || a.i - b.i);
    return out.slice(0, Math.min(out.length, max)).map(({ x, y, score }) => ({ x, y, score }));
  } finally {
    for (const t of owned) t.release();
  }
}

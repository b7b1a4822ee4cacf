// Plain float64 / sequential references of engine/ops/image.ts, written as literally as possible
// (no spans, no rounds): mirror padding, dihedral variants, disk mean/max filters, blue ratio, and
// the paper's sequential non-maxima suppression loop. Images are planes [P, H, W] row-major.

/** Reflection without repeating the edge pixel (-1 -> 1, n -> n - 2), bouncing for any i. */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  // walk back and forth, one reflection at a time (deliberately not the periodic formula)
  while (i < 0 || i >= n) {
    if (i < 0) i = -i;
    if (i >= n) i = 2 * (n - 1) - i;
  }
  return i;
}

/** [P,H,W] -> [P, H+top+bottom, W+left+right], mirrored without edge repeat. */
export function padMirrorRef(
  x: ArrayLike<number>,
  P: number,
  H: number,
  W: number,
  pad: { top: number; bottom: number; left: number; right: number },
): Float64Array {
  const HO = H + pad.top + pad.bottom;
  const WO = W + pad.left + pad.right;
  const out = new Float64Array(P * HO * WO);
  for (let p = 0; p < P; p++)
    for (let i = 0; i < HO; i++)
      for (let j = 0; j < WO; j++)
        out[(p * HO + i) * WO + j] = x[(p * H + reflectIndex(i - pad.top, H)) * W + reflectIndex(j - pad.left, W)];
  return out;
}

export interface Planes {
  data: Float64Array;
  P: number;
  H: number;
  W: number;
}

/** One counter-clockwise quarter turn of every plane (numpy rot90): out[i, j] = in[j, W-1-i], shape W x H. */
export function rot90Ref(x: Planes): Planes {
  const { P, H, W } = x;
  const out = new Float64Array(P * H * W);
  for (let p = 0; p < P; p++)
    for (let i = 0; i < W; i++) for (let j = 0; j < H; j++) out[(p * W + i) * H + j] = x.data[(p * H + j) * W + (W - 1 - i)];
  return { data: out, P, H: W, W: H };
}

/** Mirror left-right: out[i, j] = in[i, W-1-j]. */
export function flipLrRef(x: Planes): Planes {
  const { P, H, W } = x;
  const out = new Float64Array(P * H * W);
  for (let p = 0; p < P; p++)
    for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) out[(p * H + i) * W + j] = x.data[(p * H + i) * W + (W - 1 - j)];
  return { data: out, P, H, W };
}

/** Variant k: fliplr when k >= 4, then k mod 4 quarter turns counter-clockwise. */
export function dihedralRef(x: Planes, k: number): Planes {
  let y = k >= 4 ? flipLrRef(x) : x;
  for (let r = 0; r < k % 4; r++) y = rot90Ref(y);
  return y;
}

/** Inverse of dihedralRef: (4 - k mod 4) mod 4 more quarter turns, then fliplr when k >= 4. */
export function dihedralInverseRef(y: Planes, k: number): Planes {
  let x = y;
  for (let r = 0; r < (4 - (k % 4)) % 4; r++) x = rot90Ref(x);
  return k >= 4 ? flipLrRef(x) : x;
}

/** Offsets of the closed disk dx^2 + dy^2 <= r^2 (or the open one, strict). */
export function diskOffsets(radius: number, strict: boolean): [number, number][] {
  const out: [number, number][] = [];
  const R = Math.ceil(radius) + 1;
  for (let dy = -R; dy <= R; dy++)
    for (let dx = -R; dx <= R; dx++) {
      const s = dx * dx + dy * dy;
      if (strict ? s < radius * radius : s <= radius * radius) out.push([dx, dy]);
    }
  return out;
}

/** Disk mean (float64): (1/|D|) sum over D of m(p + o); outside pixels 0 ('zero') or mirrored. */
export function diskFilterRef(m: ArrayLike<number>, P: number, H: number, W: number, radius: number, border: 'zero' | 'mirror' = 'zero'): Float64Array {
  const D = diskOffsets(radius, false);
  const out = new Float64Array(P * H * W);
  for (let p = 0; p < P; p++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        let s = 0;
        for (const [dx, dy] of D) {
          let yy = y + dy;
          let xx = x + dx;
          if (border === 'zero') {
            if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
          } else {
            yy = reflectIndex(yy, H);
            xx = reflectIndex(xx, W);
          }
          s += m[(p * H + yy) * W + xx];
        }
        out[(p * H + y) * W + x] = s / D.length;
      }
  return out;
}

/** Disk max over the in-image pixels with dx^2 + dy^2 <= r^2. */
export function dilateDiskRef(m: ArrayLike<number>, P: number, H: number, W: number, radius: number): Float64Array {
  const D = diskOffsets(radius, false);
  const out = new Float64Array(P * H * W);
  for (let p = 0; p < P; p++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        let best = -Infinity;
        for (const [dx, dy] of D) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
          best = Math.max(best, m[(p * H + yy) * W + xx]);
        }
        out[(p * H + y) * W + x] = best;
      }
  return out;
}

/** Blue ratio of planar RGB [N,3,H,W] -> [N,H,W]: (100 B / (1 + R + G)) (256 / (1 + R + G + B)). */
export function blueRatioRef(rgb: ArrayLike<number>, N: number, H: number, W: number): Float64Array {
  const HW = H * W;
  const out = new Float64Array(N * HW);
  for (let n = 0; n < N; n++)
    for (let q = 0; q < HW; q++) {
      const r = rgb[n * 3 * HW + q];
      const g = rgb[n * 3 * HW + HW + q];
      const b = rgb[n * 3 * HW + 2 * HW + q];
      out[n * HW + q] = ((100 * b) / (1 + r + g)) * (256 / (1 + r + g + b));
    }
  return out;
}

export interface RefDetection {
  x: number;
  y: number;
  score: number;
}

/**
 * The paper's loop, literally: D = {}; repeat { pm = argmax Mf (ties: smallest row-major index);
 * if Mf(pm) <= t stop; add (pm, Mf(pm)) to D; Mf(p) = 0 for every p with |p - pm| < radius }.
 * NaN pixels are never the argmax. Needs t >= 0 (otherwise the loop never stops).
 */
export function nmsRef(mf: ArrayLike<number>, H: number, W: number, radius: number, threshold: number, maxDetections = Infinity): RefDetection[] {
  if (!(threshold >= 0) || !(radius > 0)) throw new Error('nmsRef: needs threshold >= 0 and radius > 0');
  const m = Float64Array.from(mf);
  const D: RefDetection[] = [];
  while (D.length < maxDetections) {
    let pm = -1;
    for (let i = 0; i < H * W; i++) if (!Number.isNaN(m[i]) && (pm < 0 || m[i] > m[pm])) pm = i;
    if (pm < 0 || m[pm] <= threshold) break;
    const py = Math.floor(pm / W);
    const px = pm % W;
    D.push({ x: px, y: py, score: m[pm] });
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) if ((x - px) ** 2 + (y - py) ** 2 < radius * radius) m[y * W + x] = 0;
  }
  return D;
}

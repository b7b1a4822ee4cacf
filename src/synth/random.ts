// Seeded randomness and smooth noise for the procedural tissue generator.
// Everything is a pure function of integer seeds, so a field is reproducible bit for bit
// in Node and in browsers (only Math.imul, Math.floor and plain float arithmetic are used).

export { mulberry32, type Rng } from '../rng.js';
import type { Rng } from '../rng.js';

/** An independent 32-bit seed for sub-stream `stream` of `seed` (murmur3 finaliser). */
export function deriveSeed(seed: number, stream: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Uniform in [lo, hi). */
export function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng();
}

/** Standard normal (Box-Muller). */
export function gauss(rng: Rng): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** Fisher-Yates shuffle in place. */
export function shuffle<T>(rng: Rng, a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

/** Hash of an integer lattice point to [0, 1). */
export function hash2(ix: number, iy: number, seed: number): number {
  let h = Math.imul(ix | 0, 0x27d4eb2d) ^ Math.imul(iy | 0, 0x165667b1) ^ seed;
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** Value noise in [0, 1): smoothstep interpolation of hashed lattice values (lattice spacing 1). */
export function valueNoise(x: number, y: number, seed: number): number {
  const ix = Math.floor(x);
  const iy = Math.floor(y);
  const fx = x - ix;
  const fy = y - iy;
  const u = fx * fx * (3 - 2 * fx);
  const v = fy * fy * (3 - 2 * fy);
  const a = hash2(ix, iy, seed);
  const b = hash2(ix + 1, iy, seed);
  const c = hash2(ix, iy + 1, seed);
  const d = hash2(ix + 1, iy + 1, seed);
  return a + (b - a) * u + (c - a) * v + (a - b - c + d) * u * v;
}

/**
 * Value noise from a periodic lattice table (period `size` lattice units, a power of two): the same
 * smoothstep interpolation as valueNoise but four table reads instead of four hashes.
 */
export class NoiseTable {
  readonly table: Float32Array;
  private readonly mask: number;
  constructor(
    seed: number,
    readonly size = 512,
  ) {
    this.mask = size - 1;
    this.table = new Float32Array(size * size);
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) this.table[y * size + x] = hash2(x, y, seed);
  }

  at(x: number, y: number): number {
    const ix = Math.floor(x);
    const iy = Math.floor(y);
    const fx = x - ix;
    const fy = y - iy;
    const u = fx * fx * (3 - 2 * fx);
    const v = fy * fy * (3 - 2 * fy);
    const m = this.mask;
    const x0 = ix & m;
    const x1 = (ix + 1) & m;
    const r0 = (iy & m) * this.size;
    const r1 = ((iy + 1) & m) * this.size;
    const t = this.table;
    const a = t[r0 + x0];
    const b = t[r0 + x1];
    const c = t[r1 + x0];
    const d = t[r1 + x1];
    return a + (b - a) * u + (c - a) * v + (a - b - c + d) * u * v;
  }
}

/**
 * Row-wise evaluation of table.at(x * k + ox, y * k + oy) for x = 0..width-1 (the same values as
 * calling at() per pixel, with the per-column work done once).
 */
export class NoiseRows {
  private readonly x0: Int32Array;
  private readonly x1: Int32Array;
  private readonly us: Float32Array;
  constructor(
    private readonly table: NoiseTable,
    readonly width: number,
    private readonly k: number,
    ox: number,
    private readonly oy: number,
  ) {
    const m = table.size - 1;
    this.x0 = new Int32Array(width);
    this.x1 = new Int32Array(width);
    this.us = new Float32Array(width);
    for (let x = 0; x < width; x++) {
      const gx = x * k + ox;
      const ix = Math.floor(gx);
      const fx = gx - ix;
      this.x0[x] = ix & m;
      this.x1[x] = (ix + 1) & m;
      this.us[x] = fx * fx * (3 - 2 * fx);
    }
  }

  /** Writes row y into out[offset .. offset + width). */
  row(y: number, out: Float32Array, offset = 0): void {
    const size = this.table.size;
    const m = size - 1;
    const t = this.table.table;
    const gy = y * this.k + this.oy;
    const iy = Math.floor(gy);
    const fy = gy - iy;
    const v = fy * fy * (3 - 2 * fy);
    const r0 = (iy & m) * size;
    const r1 = ((iy + 1) & m) * size;
    const { x0, x1, us } = this;
    for (let x = 0; x < this.width; x++) {
      const a = t[r0 + x0[x]];
      const b = t[r0 + x1[x]];
      const c = t[r1 + x0[x]];
      const d = t[r1 + x1[x]];
      const u = us[x];
      out[offset + x] = a + (b - a) * u + (c - a) * v + (a - b - c + d) * u * v;
    }
  }
}

/** Fills a width x height image with table.at(x * k + ox, y * k + oy). */
export function fillNoise(out: Float32Array, width: number, height: number, table: NoiseTable, k: number, ox: number, oy: number): void {
  const rows = new NoiseRows(table, width, k, ox, oy);
  for (let y = 0; y < height; y++) rows.row(y, out, y * width);
}

/**
 * Fractal value noise (fbm), normalised to [0, 1) with mean about 0.5. Each octave is rotated
 * and offset so that lattice artefacts of the octaves do not line up.
 */
export function fbm(x: number, y: number, seed: number, octaves: number, gain = 0.5): number {
  let sum = 0;
  let norm = 0;
  let amp = 1;
  const c = Math.cos(0.61);
  const s = Math.sin(0.61);
  for (let o = 0; o < octaves; o++) {
    sum += amp * valueNoise(x, y, seed + o * 1013);
    norm += amp;
    amp *= gain;
    const nx = 2 * (c * x - s * y) + 17.3;
    const ny = 2 * (s * x + c * y) - 9.1;
    x = nx;
    y = ny;
  }
  return sum / norm;
}

/**
 * A smooth field evaluated on a coarse grid (every `step` pixels) and bilinearly upsampled on
 * demand, one image row at a time. For low-frequency fields this is indistinguishable from
 * per-pixel evaluation and far cheaper (and needs no full-size array).
 */
export class CoarseGrid {
  private readonly grid: Float32Array;
  private readonly cw: number;
  private readonly ci: Int32Array;
  private readonly cf: Float32Array;
  private readonly tmp: Float32Array;
  constructor(
    readonly width: number,
    readonly height: number,
    private readonly step: number,
    fn: (x: number, y: number) => number,
  ) {
    const cw = Math.ceil(width / step) + 2;
    const ch = Math.ceil(height / step) + 2;
    this.cw = cw;
    this.grid = new Float32Array(cw * ch);
    for (let j = 0; j < ch; j++) for (let i = 0; i < cw; i++) this.grid[j * cw + i] = fn(i * step, j * step);
    this.ci = new Int32Array(width);
    this.cf = new Float32Array(width);
    for (let x = 0; x < width; x++) {
      this.ci[x] = Math.floor(x / step);
      this.cf[x] = x / step - this.ci[x];
    }
    this.tmp = new Float32Array(cw);
  }

  /** Writes row y of the upsampled field into out[offset .. offset + width). */
  row(y: number, out: Float32Array, offset = 0): void {
    const { grid, cw, ci, cf, tmp } = this;
    const gy = y / this.step;
    const j = Math.floor(gy);
    const fy = gy - j;
    const r0 = j * cw;
    for (let i = 0; i < cw; i++) tmp[i] = grid[r0 + i] + (grid[r0 + cw + i] - grid[r0 + i]) * fy;
    for (let x = 0; x < this.width; x++) {
      const i = ci[x];
      out[offset + x] = tmp[i] + (tmp[i + 1] - tmp[i]) * cf[x];
    }
  }
}

export function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

export function smoothstep(e0: number, e1: number, x: number): number {
  const t = clamp01((x - e0) / (e1 - e0));
  return t * t * (3 - 2 * t);
}

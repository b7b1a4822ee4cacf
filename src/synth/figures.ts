// Stamps of nuclei, look-alikes and mitotic figures into hematoxylin/eosin optical-density layers.
// Sizes are given at the MITOS 2012 scale (0.2456 um/px) and multiplied by `s` = 0.2456 / mpp.
import { clamp01, gauss, type Rng, smoothstep, uniform } from './random.js';

/** The OD layers a field is painted into, plus two fixed fine-texture fields in [0, 1). */
export interface Layers {
  width: number;
  height: number;
  /** Hematoxylin optical density per pixel. */
  H: Float32Array;
  /** Eosin optical density per pixel. */
  E: Float32Array;
  /** Fine grain texture (value noise, ~2 px features). */
  g1: Float32Array;
  /** Coarser grain texture (value noise, ~5 px features). */
  g2: Float32Array;
  /** Pixel scale: 0.2456 / mpp. */
  s: number;
}

export type MitosisPhase = 'prophase' | 'metaphase' | 'anaphase' | 'telophase';
export type NucleusKind = 'epithelial' | 'fibroblast' | 'lymphocyte' | 'hyperchromatic' | 'apoptotic';

/** An interphase nucleus: a lobulated ellipse. */
export interface NucleusSpec {
  x: number;
  y: number;
  /** Semi-axes in pixels (a >= b) and orientation of a. */
  a: number;
  b: number;
  angle: number;
  kind: 'epithelial' | 'fibroblast' | 'lymphocyte' | 'hyperchromatic';
  /** Overall hematoxylin strength multiplier. */
  dark: number;
  /** Outline harmonics: amplitude and phase for k = 2, 3, 4, 5. */
  harm: number[];
  /** Nucleoli: offset (in pixels) and radius. */
  nucleoli: { dx: number; dy: number; r: number }[];
}

/**
 * Random outline harmonics with overall irregularity `irr` (0 = ellipse): for k = 2..5 the pair
 * (A cos(phi), A sin(phi)) of the term A cos(k theta + phi) of the radius.
 */
export function harmonics(rng: Rng, irr: number): number[] {
  const h: number[] = [];
  for (let k = 2; k <= 5; k++) {
    const amp = (irr * uniform(rng, 0.3, 1)) / (k - 1);
    const phi = uniform(rng, 0, 2 * Math.PI);
    h.push(amp * Math.cos(phi), amp * Math.sin(phi));
  }
  return h;
}

/** Relative outline radius 1 + sum_k A_k cos(k theta + phi_k), from c = cos(theta), s = sin(theta). */
function outline(h: number[], c: number, s: number): number {
  const c2 = c * c - s * s;
  const s2 = 2 * s * c;
  const c3 = c2 * c - s2 * s;
  const s3 = s2 * c + c2 * s;
  const c4 = c2 * c2 - s2 * s2;
  const s4 = 2 * s2 * c2;
  const c5 = c4 * c - s4 * s;
  const s5 = s4 * c + c4 * s;
  return 1 + h[0] * c2 - h[1] * s2 + h[2] * c3 - h[3] * s3 + h[4] * c4 - h[5] * s4 + h[6] * c5 - h[7] * s5;
}

/** outline() at the direction of (dx, dy). */
function outlineAt(h: number[], dx: number, dy: number): number {
  const r = Math.sqrt(dx * dx + dy * dy);
  return r > 1e-9 ? outline(h, dx / r, dy / r) : 1;
}

function bounds(L: Layers, x: number, y: number, r: number): [number, number, number, number] {
  return [
    Math.max(0, Math.floor(x - r)),
    Math.max(0, Math.floor(y - r)),
    Math.min(L.width - 1, Math.ceil(x + r)),
    Math.min(L.height - 1, Math.ceil(y + r)),
  ];
}

/** Paints an interphase nucleus (vesicular epithelial, spindle fibroblast, lymphocyte or hyperchromatic). */
export function stampNucleus(L: Layers, n: NucleusSpec): void {
  const { H, E, g1, g2, width } = L;
  const ca = Math.cos(n.angle);
  const sa = Math.sin(n.angle);
  const reach = n.a * (n.kind === 'lymphocyte' ? 1.2 : 1.0) * 1.25 + 4 * L.s;
  const [x0, y0, x1, y1] = bounds(L, n.x, n.y, reach);
  const edge = 0.9; // soft edge width in pixels
  // beyond this normalised radius nothing is painted (outline bound plus the soft edge or lymphocyte ring)
  let hsum = 0;
  for (const v of n.harm) hsum += Math.abs(v);
  const rmax = (1 + hsum) * (1 + (n.kind === 'lymphocyte' ? 4 * L.s : edge + 1) / n.b);
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x - n.x;
      const dy = y - n.y;
      const u = (dx * ca + dy * sa) / n.a;
      const v = (-dx * sa + dy * ca) / n.b;
      const rr = Math.sqrt(u * u + v * v);
      if (rr > rmax) continue;
      const t = rr > 1e-9 ? rr / outline(n.harm, u / rr, v / rr) : 0;
      // Distance to the outline in pixels, roughly (positive inside).
      const din = (1 - t) * n.b;
      const i = y * width + x;
      if (n.kind === 'lymphocyte' && din < 0 && din > -3.5 * L.s) {
        // scant pale cytoplasm / retraction ring around lymphocytes
        const k = 0.55 * smoothstep(-3.5 * L.s, -1.5 * L.s, din);
        E[i] *= 1 - 0.6 * k;
        H[i] *= 1 - 0.4 * k;
      }
      const alpha = smoothstep(-edge, edge, din);
      if (alpha <= 0) continue;
      const f1 = g1[i];
      const f2 = g2[i];
      let h: number;
      let e: number;
      switch (n.kind) {
        case 'epithelial': {
          // vesicular: coarse granular chromatin with clearing, a crisp membrane
          // chromatin clumps and margination along the membrane, pale clearing in between
          const chrom = 0.25 + 0.9 * f1 * f1 * (0.4 + f2) + 0.15 * f2;
          const dr = din - 1.2 * L.s;
          const rim = 0.85 * Math.exp(-(dr * dr) / (2.2 * L.s * L.s));
          h = n.dark * (chrom + rim);
          e = 0.22 + 0.1 * f2;
          break;
        }
        case 'hyperchromatic': {
          const chrom = 1.2 + 0.5 * f1 * f1 + 0.25 * f2;
          h = n.dark * (chrom + 0.25 * Math.exp(-(din * din) / 2));
          e = 0.3;
          break;
        }
        case 'lymphocyte': {
          h = n.dark * (1.65 + 0.3 * f1 + 0.15 * f2);
          e = 0.3;
          break;
        }
        default: {
          // fibroblast: thin, dark-ish, fine chromatin
          h = n.dark * (1.0 + 0.4 * f1 + 0.2 * f2);
          e = 0.3;
        }
      }
      for (const nu of n.nucleoli) {
        const px = n.x + nu.dx - x;
        const py = n.y + nu.dy - y;
        const k = Math.exp(-(px * px + py * py) / (nu.r * nu.r));
        h += 0.45 * k;
        e += 0.55 * k;
      }
      H[i] = H[i] * (1 - 0.8 * alpha) + alpha * h;
      E[i] = E[i] * (1 - 0.75 * alpha) + alpha * e;
    }
  }
}

/** Apoptotic / pyknotic cell: shrunken hypereosinophilic cytoplasm in a clear halo, 1-4 smooth dense round fragments. */
export function stampApoptotic(L: Layers, cx: number, cy: number, rng: Rng): void {
  const { H, E, g1, g2, width, s } = L;
  const rc = uniform(rng, 8, 13) * s;
  const halo = uniform(rng, 2.5, 6) * s;
  const harm = harmonics(rng, 0.08);
  const haloHarm = harmonics(rng, 0.35); // the halo is patchy, not a perfect ring
  const nf = rng() < 0.45 ? 1 : 1 + Math.floor(rng() * 4);
  const frags: { x: number; y: number; r: number }[] = [];
  const fr = (nf === 1 ? uniform(rng, 4.5, 7.5) : uniform(rng, 3, 5)) * s;
  for (let k = 0; k < nf; k++) {
    const a = rng() * 2 * Math.PI;
    const d = nf === 1 ? uniform(rng, 0, 2) * s : uniform(rng, 0.35, 0.7) * rc;
    frags.push({ x: cx + d * Math.cos(a), y: cy + d * Math.sin(a), r: fr * uniform(rng, 0.75, 1.15) });
  }
  const dark = uniform(rng, 1.9, 2.5);
  const eos = uniform(rng, 0.8, 1.15);
  const [x0, y0, x1, y1] = bounds(L, cx, cy, rc * 1.3 + halo + 2);
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x - cx;
      const dy = y - cy;
      const rr = Math.sqrt(dx * dx + dy * dy) / (rc * outlineAt(harm, dx, dy));
      const i = y * width + x;
      const d = (1 - rr) * rc; // pixels inside the cell outline
      // clear halo between the shrunken cell and its neighbours
      const hk = smoothstep(-halo - 1, -halo + 1.5, d) * (1 - smoothstep(-1, 0.5, d)) * clamp01(0.55 + 2.5 * (outlineAt(haloHarm, dx, dy) - 1));
      E[i] *= 1 - 0.8 * hk;
      H[i] *= 1 - 0.8 * hk;
      const alpha = smoothstep(-0.8, 0.8, d);
      if (alpha > 0) {
        E[i] = E[i] * (1 - alpha) + alpha * eos * (0.8 + 0.25 * g2[i] + 0.15 * g1[i]);
        H[i] = H[i] * (1 - alpha) + alpha * 0.25;
      }
      for (const f of frags) {
        const fx = x - f.x;
        const fy = y - f.y;
        const fd = f.r - Math.sqrt(fx * fx + fy * fy);
        const fa = smoothstep(-0.8, 0.8, fd);
        if (fa <= 0) continue;
        const hh = dark * (0.92 + 0.1 * g1[i] + 0.08 * clamp01(fd / f.r));
        H[i] = H[i] * (1 - fa) + fa * hh;
        E[i] = E[i] * (1 - fa) + fa * 0.5;
      }
    }
  }
}

/** A local accumulation canvas for chromatin: splats of Gaussian density. */
class Blot {
  readonly acc: Float32Array;
  constructor(
    readonly x0: number,
    readonly y0: number,
    readonly w: number,
    readonly h: number,
  ) {
    this.acc = new Float32Array(w * h);
  }

  splat(px: number, py: number, sigma: number, amount: number): void {
    const r = Math.ceil(2.5 * sigma);
    const cx = px - this.x0;
    const cy = py - this.y0;
    const xa = Math.max(0, Math.floor(cx - r));
    const xb = Math.min(this.w - 1, Math.ceil(cx + r));
    const ya = Math.max(0, Math.floor(cy - r));
    const yb = Math.min(this.h - 1, Math.ceil(cy + r));
    const k = 1 / (2 * sigma * sigma);
    for (let y = ya; y <= yb; y++) {
      const dy = y - cy;
      for (let x = xa; x <= xb; x++) {
        const dx = x - cx;
        this.acc[y * this.w + x] += amount * Math.exp(-(dx * dx + dy * dy) * k);
      }
    }
  }

  /** A chromosome arm: a curly thread of splats starting at (px, py). */
  strand(rng: Rng, px: number, py: number, ang: number, len: number, sigma: number, amount: number, curl: number, clip?: (x: number, y: number) => boolean): void {
    const step = 0.6;
    const n = Math.max(1, Math.ceil(len / step));
    for (let i = 0; i < n; i++) {
      this.splat(px, py, sigma, amount);
      ang += curl * (rng() - 0.5);
      const nx = px + step * Math.cos(ang);
      const ny = py + step * Math.sin(ang);
      if (clip && !clip(nx, ny)) {
        ang += Math.PI * (0.6 + 0.8 * rng());
        continue;
      }
      px = nx;
      py = ny;
    }
  }
}

/** Mitotic figure parameters. */
export interface MitosisSpec {
  x: number;
  y: number;
  phase: MitosisPhase;
  /** Orientation of the spindle axis (the direction in which anaphase/telophase masses separate). */
  angle: number;
  /** Half distance between the two chromatin masses (anaphase, telophase), pixels. */
  half: number;
  /** Radius of the mitotic cell body, pixels. */
  cell: number;
}

/** Draws the phase-specific random parameters of a mitosis centred at (x, y). */
export function mitosisSpec(rng: Rng, x: number, y: number, phase: MitosisPhase, s: number): MitosisSpec {
  const angle = rng() * Math.PI;
  let half = 0;
  let cell = uniform(rng, 21, 27) * s;
  if (phase === 'anaphase') {
    half = uniform(rng, 7, 12) * s;
    cell = uniform(rng, 22, 27) * s;
  } else if (phase === 'telophase') {
    half = uniform(rng, 14, 21) * s;
    cell = half * uniform(rng, 1.05, 1.25);
  } else if (phase === 'prophase') {
    cell = uniform(rng, 20, 25) * s;
  }
  return { x, y, phase, angle, half, cell };
}

/** The extent (pixels from the centroid) within which a mitosis paints anything. */
export function mitosisReach(m: MitosisSpec): number {
  return m.phase === 'telophase' ? m.half + m.cell + 3 : m.phase === 'anaphase' ? m.cell + m.half * 0.6 + 3 : m.cell + 3;
}

/**
 * Paints a mitotic figure: a rounded, paler cell body, a clear zone around the chromatin, and
 * near-black, irregular ("hairy") chromatin without a nuclear membrane, made of thread splats.
 */
export function stampMitosis(L: Layers, m: MitosisSpec, rng: Rng): void {
  const { s } = L;
  const reach = mitosisReach(m) + 4;
  const x0 = Math.floor(m.x - reach);
  const y0 = Math.floor(m.y - reach);
  const size = Math.ceil(2 * reach) + 1;
  const chrom = new Blot(x0, y0, size, size);
  const halo = new Blot(x0, y0, size, size);
  const dx = Math.cos(m.angle);
  const dy = Math.sin(m.angle);
  // plate direction (perpendicular to the spindle axis)
  const px = -dy;
  const py = dx;

  // ---- cell body(ies) ----
  const cells: { x: number; y: number; r: number; harm: number[] }[] = [];
  if (m.phase === 'telophase') {
    const off = m.half * uniform(rng, 1.0, 1.15);
    for (const sg of [-1, 1]) cells.push({ x: m.x + sg * off * dx, y: m.y + sg * off * dy, r: m.cell * uniform(rng, 0.95, 1.05), harm: harmonics(rng, 0.08) });
  } else if (m.phase === 'anaphase') {
    for (const sg of [-1, 1]) cells.push({ x: m.x + sg * m.half * 0.6 * dx, y: m.y + sg * m.half * 0.6 * dy, r: m.cell, harm: harmonics(rng, 0.08) });
  } else {
    cells.push({ x: m.x, y: m.y, r: m.cell, harm: harmonics(rng, 0.1) });
  }
  paintCells(L, cells, m.phase === 'telophase', rng);

  // ---- chromatin ----
  const dark = uniform(rng, 2.2, 2.8);
  if (m.phase === 'prophase') {
    const rp = uniform(rng, 10, 14) * s;
    const inside = (x: number, y: number) => (x - m.x) ** 2 + (y - m.y) ** 2 < rp * rp;
    // faint diffuse chromatin in a round area, condensed into curly threads
    for (let k = 0; k < 10; k++) {
      const a = rng() * 2 * Math.PI;
      const d = Math.sqrt(rng()) * rp * 0.5;
      chrom.splat(m.x + d * Math.cos(a), m.y + d * Math.sin(a), rp * 0.4, 0.03);
    }
    const threads = 22 + Math.floor(rng() * 12);
    for (let k = 0; k < threads; k++) {
      const a = rng() * 2 * Math.PI;
      const d = Math.sqrt(rng()) * rp * 0.92;
      chrom.strand(rng, m.x + d * Math.cos(a), m.y + d * Math.sin(a), rng() * 2 * Math.PI, uniform(rng, 6, 14) * s, uniform(rng, 0.7, 1.0) * s, 0.42, 1.5, inside);
    }
    // hairs poking out of the round area
    for (let k = 0; k < 14; k++) {
      const a = rng() * 2 * Math.PI;
      chrom.strand(rng, m.x + rp * 0.85 * Math.cos(a), m.y + rp * 0.85 * Math.sin(a), a + gauss(rng) * 0.5, uniform(rng, 2, 5) * s, 0.75 * s, 0.4, 0.9);
    }
    halo.splat(m.x, m.y, rp * 0.9, 0.6);
  } else if (m.phase === 'metaphase') {
    plate(rng, chrom, halo, m.x, m.y, px, py, dx, dy, uniform(rng, 10, 16) * s, uniform(rng, 2.2, 4) * s, uniform(rng, -2.5, 2.5) * s, 0, s);
  } else if (m.phase === 'anaphase') {
    const lh = uniform(rng, 8, 13) * s;
    for (const sg of [-1, 1]) {
      const cx = m.x + sg * m.half * dx;
      const cy = m.y + sg * m.half * dy;
      // plates bow towards their pole; arms trail towards the equator
      plate(rng, chrom, halo, cx, cy, px, py, sg * dx, sg * dy, lh * uniform(rng, 0.9, 1.1), uniform(rng, 1.8, 2.8) * s, uniform(rng, 1, 3.5) * s, -1, s);
    }
    halo.splat(m.x, m.y, m.half * 0.8, 0.3);
  } else {
    for (const sg of [-1, 1]) {
      const cx = m.x + sg * m.half * dx;
      const cy = m.y + sg * m.half * dy;
      clump(rng, chrom, halo, cx, cy, px, py, sg * dx, sg * dy, s);
    }
  }

  // ---- composite ----
  const { H, E, g1, g2, width, height } = L;
  const haloK = uniform(rng, 0.25, 0.6);
  for (let y = 0; y < size; y++) {
    const gy = y0 + y;
    if (gy < 0 || gy >= height) continue;
    for (let x = 0; x < size; x++) {
      const gx = x0 + x;
      if (gx < 0 || gx >= width) continue;
      const i = gy * width + gx;
      const j = y * size + x;
      const hk = clamp01(halo.acc[j]);
      if (hk > 0) {
        // clear zone around condensed chromatin
        E[i] *= 1 - haloK * hk;
        H[i] *= 1 - haloK * hk;
      }
      const a = chrom.acc[j];
      if (a < 0.005) continue;
      const cover = 1 - Math.exp(-3 * a);
      const h = dark * (1 - Math.exp(-1.6 * a)) * (0.86 + 0.2 * g1[i] + 0.08 * g2[i]);
      H[i] = H[i] * (1 - cover) + h;
      E[i] = E[i] * (1 - cover) + 0.3 * h;
    }
  }
}

/** The rounded cell body(ies) of a mitosis: paler finely granular cytoplasm, a faint membrane. */
function paintCells(L: Layers, cells: { x: number; y: number; r: number; harm: number[] }[], furrow: boolean, rng: Rng): void {
  const { H, E, g2, width, s } = L;
  const pale = uniform(rng, 0.5, 0.85); // cytoplasm density relative to what was there
  const mem = uniform(rng, 0, 0.3);
  let xa = Infinity, ya = Infinity, xb = -Infinity, yb = -Infinity;
  for (const c of cells) {
    xa = Math.min(xa, c.x - c.r * 1.3 - 3);
    ya = Math.min(ya, c.y - c.r * 1.3 - 3);
    xb = Math.max(xb, c.x + c.r * 1.3 + 3);
    yb = Math.max(yb, c.y + c.r * 1.3 + 3);
  }
  const [x0, y0, x1, y1] = bounds(L, (xa + xb) / 2, (ya + yb) / 2, Math.max(xb - xa, yb - ya) / 2);
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      // signed distance (pixels, positive inside) to the union of the cells, and to each
      let din = -Infinity;
      let d1 = -Infinity;
      let d2 = -Infinity;
      for (let k = 0; k < cells.length; k++) {
        const c = cells[k];
        const ddx = x - c.x;
        const ddy = y - c.y;
        const d = c.r * outlineAt(c.harm, ddx, ddy) - Math.sqrt(ddx * ddx + ddy * ddy);
        if (d > din) din = d;
        if (k === 0) d1 = d;
        else d2 = d;
      }
      if (din < -4 * s) continue;
      const i = y * width + x;
      const alpha = smoothstep(-2 * s, 2 * s, din);
      let memk = Math.exp(-((din - 0.5) * (din - 0.5)) / (1.5 * s * s));
      if (furrow && d1 > 0 && d2 > 0) memk = Math.max(memk, 0.7 * Math.exp(-((d1 - d2) * (d1 - d2)) / (2 * s * s)));
      if (alpha > 0) {
        const k = 1 - alpha * (1 - pale * (0.8 + 0.4 * g2[i]));
        E[i] *= k;
        H[i] *= 1 - alpha * (1 - 0.6 * pale);
      }
      E[i] += mem * memk;
    }
  }
}

/**
 * A chromatin plate: a dense irregular bar of half length lh and half width hw along (px, py),
 * bowing by `bow` pixels along (nx, ny) at its middle, with chromosome arms projecting from both
 * faces (bias -1: arms mostly towards -n, i.e. trailing; 0: both sides).
 */
function plate(rng: Rng, chrom: Blot, halo: Blot, cx: number, cy: number, px: number, py: number, nx: number, ny: number, lh: number, hw: number, bow: number, bias: number, s: number): void {
  const steps = Math.ceil((2 * lh) / (0.5 * s));
  for (let k = 0; k <= steps; k++) {
    const t = -1 + (2 * k) / steps;
    const taper = 1 - 0.4 * t * t;
    const off = bow * (1 - t * t) + gauss(rng) * hw * 0.4;
    const x = cx + t * lh * px + off * nx;
    const y = cy + t * lh * py + off * ny;
    chrom.splat(x, y, uniform(rng, 0.8, 1.3) * s * (hw / (3 * s)) ** 0.5, 0.4 * taper);
    if (k % 4 === 0) halo.splat(x, y, hw + 3.5 * s, 0.25);
  }
  const arms = Math.round((40 + 24 * rng()) * lh / (13 * s));
  for (let k = 0; k < arms; k++) {
    const t = uniform(rng, -1.05, 1.05);
    const off = bow * (1 - Math.min(1, t * t)) + uniform(rng, -0.6, 0.6) * hw;
    const x = cx + t * lh * px + off * nx;
    const y = cy + t * lh * py + off * ny;
    let side = rng() < 0.5 ? 1 : -1;
    if (bias !== 0 && rng() < 0.75) side = bias;
    let ang = Math.atan2(side * ny, side * nx) + gauss(rng) * 0.6;
    if (Math.abs(t) > 0.85 && rng() < 0.5) ang = Math.atan2(Math.sign(t) * py, Math.sign(t) * px) + gauss(rng) * 0.6;
    chrom.strand(rng, x, y, ang, uniform(rng, 2, 6.5) * s, uniform(rng, 0.65, 0.9) * s, 0.5, 0.9);
  }
}

/** A telophase daughter chromatin mass: a compact, slightly crescent, knobbly clump. */
function clump(rng: Rng, chrom: Blot, halo: Blot, cx: number, cy: number, px: number, py: number, nx: number, ny: number, s: number): void {
  const lh = uniform(rng, 6, 10) * s;
  const hw = uniform(rng, 3, 5) * s;
  const bow = uniform(rng, 0.5, 3) * s;
  const n = 36 + Math.floor(rng() * 14);
  for (let k = 0; k < n; k++) {
    const t = uniform(rng, -1, 1);
    const w = gauss(rng) * 0.45 * hw;
    const off = bow * (1 - t * t) + w;
    chrom.splat(cx + t * lh * px + off * nx, cy + t * lh * py + off * ny, uniform(rng, 0.9, 1.7) * s, 0.3);
  }
  for (let k = 0; k < 22; k++) {
    const a = rng() * 2 * Math.PI;
    const ex = cx + Math.cos(a) * lh * 0.8 * px + Math.sin(a) * hw * 0.7 * nx;
    const ey = cy + Math.cos(a) * lh * 0.8 * py + Math.sin(a) * hw * 0.7 * ny;
    chrom.strand(rng, ex, ey, Math.atan2(ey - cy, ex - cx) + gauss(rng) * 0.6, uniform(rng, 1.5, 4.5) * s, 0.75 * s, 0.45, 0.9);
  }
  halo.splat(cx, cy, (lh + hw) * 0.5 + 3 * s, 0.6);
}

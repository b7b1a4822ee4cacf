// The paper's Fig. 3 as standalone SVG text (no dependencies; open in a browser or embed in HTML):
//   prCurveSvg      the precision-recall plane: the curve traced by the threshold, iso-F1 contours,
//                   the chosen operating point, optional reference points (other methods);
//   f1ThresholdSvg  F1, precision and recall against the threshold, a marker at the chosen t;
//   rocCurveSvg     true- against false-positive rate (image- or patch-level classification), AUC.
// Curves carry class="curve", markers class="marker", the plot area is <rect class="plot-area">.
import { bestThreshold, type RocPoint, type SweepPoint } from './score.js';

export interface PlotOptions {
  /** Pixels; default 520 x 440. */
  width?: number;
  height?: number;
  title?: string;
  /** The threshold to mark (default: the best-F1 point of the sweep). */
  chosenThreshold?: number;
}

export interface ReferencePoint {
  label: string;
  precision: number;
  recall: number;
}

export interface PrCurveOptions extends PlotOptions {
  /** Other results to place on the plane, e.g. the contest entries of the paper's Fig. 3. */
  references?: readonly ReferencePoint[];
  /** Iso-F1 contours to draw (default 0.2, 0.4, 0.6, 0.8; [] for none). */
  isoF1?: readonly number[];
}

const LEGEND_Y = 42;

const COLOURS = { f1: '#1f5fbf', precision: '#d0641c', recall: '#2a9d4b', pr: '#1f5fbf', chosen: '#c62828', iso: '#b8b8b8', ref: '#555555' };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A coordinate for SVG: 2 decimals, always finite. */
function n(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`plots: non-finite coordinate ${v}`);
  return (Math.round(v * 100) / 100).toString();
}

const clamp01 = (v: number) => (Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0);

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  const k0 = Math.ceil(lo / step - 1e-9), k1 = Math.floor(hi / step + 1e-9);
  for (let k = k0; k <= k1; k++) out.push(Number((k * step).toPrecision(12)) + 0); // + 0: no -0
  return out;
}

function tickLabel(v: number): string {
  const s = v.toFixed(3).replace(/0+$/, '').replace(/\.$/, '');
  return s === '-0' ? '0' : s;
}

interface Frame {
  parts: string[];
  x: (v: number) => number;
  y: (v: number) => number;
  box: { x: number; y: number; w: number; h: number };
}

/** The SVG skeleton: background, title, plot area, grid, ticks and axis labels. */
function frame(opts: PlotOptions, xr: [number, number], yr: [number, number], xLabel: string, yLabel: string, defaultTitle: string): Frame {
  const W = opts.width ?? 520, H = opts.height ?? 440;
  if (!(W >= 200 && H >= 160)) throw new RangeError(`plots: size ${W}x${H} is too small (at least 200x160)`);
  const m = { l: 58, r: 18, t: 78, b: 50 };
  const box = { x: m.l, y: m.t, w: W - m.l - m.r, h: H - m.t - m.b };
  const x = (v: number) => box.x + ((v - xr[0]) / (xr[1] - xr[0])) * box.w;
  const y = (v: number) => box.y + box.h - ((v - yr[0]) / (yr[1] - yr[0])) * box.h;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${n(W / 2)}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(opts.title ?? defaultTitle)}</text>`);
  parts.push(`<rect class="plot-area" x="${n(box.x)}" y="${n(box.y)}" width="${n(box.w)}" height="${n(box.h)}" fill="#fbfbfb" stroke="#333333" stroke-width="1"/>`);
  const gx = niceTicks(xr[0], xr[1]), gy = niceTicks(yr[0], yr[1]);
  parts.push('<g class="grid" stroke="#e4e4e4" stroke-width="1">');
  for (const v of gx) parts.push(`<line x1="${n(x(v))}" y1="${n(box.y)}" x2="${n(x(v))}" y2="${n(box.y + box.h)}"/>`);
  for (const v of gy) parts.push(`<line x1="${n(box.x)}" y1="${n(y(v))}" x2="${n(box.x + box.w)}" y2="${n(y(v))}"/>`);
  parts.push('</g>');
  parts.push('<g class="ticks" stroke="#333333" stroke-width="1">');
  for (const v of gx) parts.push(`<line x1="${n(x(v))}" y1="${n(box.y + box.h)}" x2="${n(x(v))}" y2="${n(box.y + box.h + 5)}"/>`);
  for (const v of gy) parts.push(`<line x1="${n(box.x - 5)}" y1="${n(y(v))}" x2="${n(box.x)}" y2="${n(y(v))}"/>`);
  parts.push('</g>');
  parts.push('<g class="tick-labels" fill="#333333">');
  for (const v of gx) parts.push(`<text x="${n(x(v))}" y="${n(box.y + box.h + 18)}" text-anchor="middle">${tickLabel(v)}</text>`);
  for (const v of gy) parts.push(`<text x="${n(box.x - 8)}" y="${n(y(v) + 4)}" text-anchor="end">${tickLabel(v)}</text>`);
  parts.push('</g>');
  parts.push(`<text class="axis-label" x="${n(box.x + box.w / 2)}" y="${n(H - 10)}" text-anchor="middle" font-size="13">${esc(xLabel)}</text>`);
  parts.push(`<text class="axis-label" x="16" y="${n(box.y + box.h / 2)}" text-anchor="middle" font-size="13" transform="rotate(-90 16 ${n(box.y + box.h / 2)})">${esc(yLabel)}</text>`);
  return { parts, x, y, box };
}

function polyline(f: Frame, pts: readonly [number, number][], colour: string, width = 2): string {
  const p = pts.map(([a, b]) => `${n(f.x(a))},${n(f.y(b))}`).join(' ');
  return `<polyline class="curve" points="${p}" fill="none" stroke="${colour}" stroke-width="${width}" stroke-linejoin="round"/>`;
}

/** The legend: rows of entries between the title and the plot area (out of the curves' way). */
function legend(f: Frame, entries: readonly { label: string; colour: string; marker?: boolean; dash?: boolean }[]): string {
  const out = ['<g class="legend" font-size="11">'];
  const right = f.box.x + f.box.w;
  let x = f.box.x, row = 0;
  for (const e of entries) {
    const w = 30 + e.label.length * 6.1 + 14;
    if (x > f.box.x && x + w > right) {
      x = f.box.x;
      row++;
    }
    const cy = LEGEND_Y + 15 * row;
    if (e.marker) out.push(`<circle cx="${n(x + 11)}" cy="${n(cy)}" r="4.5" fill="${e.colour}"/>`);
    else out.push(`<line x1="${n(x)}" y1="${n(cy)}" x2="${n(x + 22)}" y2="${n(cy)}" stroke="${e.colour}" stroke-width="2"${e.dash ? ' stroke-dasharray="4 3"' : ''}/>`);
    out.push(`<text x="${n(x + 28)}" y="${n(cy + 4)}">${esc(e.label)}</text>`);
    x += w;
  }
  out.push('</g>');
  return out.join('\n');
}

/** The sweep point at the chosen threshold (nearest one), or the best-F1 point. */
function chosenPoint(sweep: readonly SweepPoint[], t?: number): SweepPoint {
  if (t === undefined) return bestThreshold(sweep);
  let best = sweep[0];
  for (const p of sweep) if (Math.abs(p.threshold - t) < Math.abs(best.threshold - t)) best = p;
  return best;
}

function checkSweep(sweep: readonly SweepPoint[], what: string): void {
  if (!sweep.length) throw new Error(`${what}: empty sweep`);
  for (const p of sweep) if (!Number.isFinite(p.threshold)) throw new Error(`${what}: non-finite threshold ${p.threshold}`);
}

/** The precision-recall plane (x = recall, y = precision) with the threshold's curve. */
export function prCurveSvg(sweep: readonly SweepPoint[], opts: PrCurveOptions = {}): string {
  checkSweep(sweep, 'prCurveSvg');
  const f = frame(opts, [0, 1], [0, 1], 'recall', 'precision', 'Precision-recall');
  const { parts } = f;
  const iso = opts.isoF1 ?? [0.2, 0.4, 0.6, 0.8];
  parts.push('<g class="iso-f1">');
  for (const F of iso) {
    if (!(F > 0 && F < 1)) continue;
    // P = F R / (2R - F) for R in [F / (2 - F), 1]: from (R, 1) down to (1, F / (2 - F)).
    const pts: [number, number][] = [];
    const r0 = F / (2 - F);
    for (let k = 0; k <= 40; k++) {
      const R = r0 + ((1 - r0) * k) / 40;
      pts.push([R, clamp01((F * R) / (2 * R - F))]);
    }
    parts.push(`<polyline class="iso" points="${pts.map(([a, b]) => `${n(f.x(a))},${n(f.y(b))}`).join(' ')}" fill="none" stroke="${COLOURS.iso}" stroke-width="1" stroke-dasharray="3 3"/>`);
    parts.push(`<text x="${n(f.x(1) - 4)}" y="${n(f.y(F / (2 - F)) - 4)}" text-anchor="end" fill="#999999" font-size="10">F1=${F}</text>`);
  }
  parts.push('</g>');
  const pts = [...sweep].sort((a, b) => b.threshold - a.threshold).map((p) => [clamp01(p.scores.recall), clamp01(p.scores.precision)] as [number, number]);
  parts.push(polyline(f, pts, COLOURS.pr));
  const refs = opts.references ?? [];
  for (const r of refs) {
    const cx = f.x(clamp01(r.recall)), cy = f.y(clamp01(r.precision));
    parts.push(`<g class="reference"><rect class="marker" x="${n(cx - 3.5)}" y="${n(cy - 3.5)}" width="7" height="7" fill="${COLOURS.ref}"/><text x="${n(cx + 6)}" y="${n(cy - 5)}" font-size="10" fill="${COLOURS.ref}">${esc(r.label)}</text></g>`);
  }
  const c = chosenPoint(sweep, opts.chosenThreshold);
  parts.push(`<circle class="marker" cx="${n(f.x(clamp01(c.scores.recall)))}" cy="${n(f.y(clamp01(c.scores.precision)))}" r="5.5" fill="${COLOURS.chosen}" stroke="#ffffff" stroke-width="1.5"/>`);
  parts.push(
    legend(
      f,
      [
        { label: 'detector (threshold sweep)', colour: COLOURS.pr },
        { label: `t = ${tickLabel(Number(c.threshold.toFixed(3)))}: P ${c.scores.precision.toFixed(2)} R ${c.scores.recall.toFixed(2)} F1 ${c.scores.f1.toFixed(3)}`, colour: COLOURS.chosen, marker: true },
        ...(iso.length ? [{ label: 'iso-F1', colour: COLOURS.iso, dash: true }] : []),
      ],
    ),
  );
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** F1, precision and recall against the threshold (Fig. 3, right), the chosen t marked. */
export function f1ThresholdSvg(sweep: readonly SweepPoint[], opts: PlotOptions = {}): string {
  checkSweep(sweep, 'f1ThresholdSvg');
  const ts = sweep.map((p) => p.threshold);
  let lo = Math.min(...ts), hi = Math.max(...ts);
  if (lo >= 0 && hi <= 1) {
    lo = 0;
    hi = 1;
  } else if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const f = frame(opts, [lo, hi], [0, 1], 'threshold t', 'score', 'F1 against the threshold');
  const { parts } = f;
  const sorted = [...sweep].sort((a, b) => a.threshold - b.threshold);
  const curve = (k: 'f1' | 'precision' | 'recall') => polyline(f, sorted.map((p) => [p.threshold, clamp01(p.scores[k])] as [number, number]), COLOURS[k], k === 'f1' ? 2.5 : 1.8);
  parts.push(curve('precision'), curve('recall'), curve('f1'));
  const c = chosenPoint(sweep, opts.chosenThreshold);
  const cx = f.x(c.threshold);
  parts.push(`<line class="chosen" x1="${n(cx)}" y1="${n(f.box.y)}" x2="${n(cx)}" y2="${n(f.box.y + f.box.h)}" stroke="${COLOURS.chosen}" stroke-width="1.5" stroke-dasharray="5 4"/>`);
  parts.push(`<circle class="marker" cx="${n(cx)}" cy="${n(f.y(clamp01(c.scores.f1)))}" r="5.5" fill="${COLOURS.chosen}" stroke="#ffffff" stroke-width="1.5"/>`);
  parts.push(
    legend(f, [
      { label: 'F1', colour: COLOURS.f1 },
      { label: 'precision', colour: COLOURS.precision },
      { label: 'recall', colour: COLOURS.recall },
      { label: `t = ${tickLabel(Number(c.threshold.toFixed(3)))} (F1 ${c.scores.f1.toFixed(3)})`, colour: COLOURS.chosen, marker: true },
    ]),
  );
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

export interface RocOptions extends PlotOptions {
  /** The area under the curve, for the legend. */
  auc?: number;
  /** The operating point to mark (nearest curve point at or below this threshold's rates). */
  chosen?: { tpr: number; fpr: number; label: string };
}

/** The ROC plane (x = false-positive rate, y = true-positive rate), chance diagonal dashed. */
export function rocCurveSvg(curve: readonly RocPoint[], opts: RocOptions = {}): string {
  if (curve.length < 2) throw new Error('rocCurveSvg: the curve needs both classes (at least 2 points)');
  const f = frame(opts, [0, 1], [0, 1], 'false-positive rate (1 - specificity)', 'true-positive rate (sensitivity)', 'ROC');
  const { parts } = f;
  parts.push(`<line class="chance" x1="${n(f.x(0))}" y1="${n(f.y(0))}" x2="${n(f.x(1))}" y2="${n(f.y(1))}" stroke="${COLOURS.iso}" stroke-width="1" stroke-dasharray="3 3"/>`);
  parts.push(polyline(f, curve.map((p) => [clamp01(p.fpr), clamp01(p.tpr)] as [number, number]), COLOURS.pr));
  const entries: { label: string; colour: string; marker?: boolean; dash?: boolean }[] = [
    { label: opts.auc === undefined || Number.isNaN(opts.auc) ? 'ROC' : `ROC, AUC ${opts.auc.toFixed(3)}`, colour: COLOURS.pr },
    { label: 'chance', colour: COLOURS.iso, dash: true },
  ];
  if (opts.chosen) {
    parts.push(`<circle class="marker" cx="${n(f.x(clamp01(opts.chosen.fpr)))}" cy="${n(f.y(clamp01(opts.chosen.tpr)))}" r="5.5" fill="${COLOURS.chosen}" stroke="#ffffff" stroke-width="1.5"/>`);
    entries.push({ label: opts.chosen.label, colour: COLOURS.chosen, marker: true });
  }
  parts.push(legend(f, entries));
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

// SVG plots (Fig. 3) and the gallery (Fig. 2). Plots: well-formed standalone SVG (balanced tags,
// escaped text, finite numbers), curves and markers inside the plot area at the right places, axes,
// ticks, labels, title and legend. Gallery: crops, frames, order and the 3x5 digits, pixel-exact.
import { describe, expect, it } from 'vitest';
import { COLOURS } from '../src/detect/results.js';
import { assembleGallery, cropCentred, drawText, FONT_3X5, gallery, galleryTile, scoreLabel, textWidth } from '../src/eval/gallery.js';
import { f1ThresholdSvg, niceTicks, prCurveSvg, rocCurveSvg } from '../src/eval/plots.js';
import type { RgbaImage } from '../src/model/dense.js';
import { rocCurve, sweepThresholds, type SweepPoint } from '../src/eval/score.js';
import { rng } from './helpers/reference.js';

interface El {
  name: string;
  attrs: Record<string, string>;
  text: string;
}

/** A strict little XML reader: returns the elements, throws on unbalanced or malformed markup. */
function parseXml(svg: string): El[] {
  const els: El[] = [];
  const stack: El[] = [];
  const re = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while (pos < svg.length) {
    re.lastIndex = pos;
    m = re.exec(svg);
    if (!m) throw new Error(`malformed markup at ${pos}: ${svg.slice(pos, pos + 40)}`);
    pos = re.lastIndex;
    if (m[5] !== undefined) {
      if (/[<>]/.test(m[5]) || /&(?!amp;|lt;|gt;|quot;)/.test(m[5])) throw new Error(`unescaped text: ${m[5]}`);
      if (stack.length) stack[stack.length - 1].text += m[5];
      else if (m[5].trim()) throw new Error(`text outside the root: ${m[5]}`);
      continue;
    }
    const [, close, name, attrText, self] = m;
    if (close) {
      const top = stack.pop();
      if (!top || top.name !== name) throw new Error(`</${name}> closes <${top?.name}>`);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText.matchAll(/([\w:-]+)="([^"]*)"/g)) {
      if (a[1] in attrs) throw new Error(`duplicate attribute ${a[1]} on <${name}>`);
      attrs[a[1]] = a[2];
    }
    const el = { name, attrs, text: '' };
    if (!stack.length && els.length) throw new Error('two root elements');
    els.push(el);
    if (!self) stack.push(el);
  }
  if (stack.length) throw new Error(`unclosed <${stack[stack.length - 1].name}>`);
  return els;
}

const NUMERIC = ['x', 'y', 'x1', 'y1', 'x2', 'y2', 'cx', 'cy', 'r', 'width', 'height'];

function checkSvg(svg: string): { els: El[]; box: { x: number; y: number; w: number; h: number } } {
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  const els = parseXml(svg);
  expect(els[0].name).toBe('svg');
  for (const e of els) {
    for (const k of NUMERIC) if (k in e.attrs) expect(Number.isFinite(Number(e.attrs[k])), `<${e.name} ${k}="${e.attrs[k]}">`).toBe(true);
    if (e.attrs.points) for (const v of e.attrs.points.split(/[ ,]/)) expect(Number.isFinite(Number(v)), `points ${v}`).toBe(true);
  }
  expect(svg).not.toMatch(/NaN|Infinity|undefined/);
  const area = els.filter((e) => e.attrs.class === 'plot-area');
  expect(area).toHaveLength(1);
  const a = area[0].attrs;
  const box = { x: Number(a.x), y: Number(a.y), w: Number(a.width), h: Number(a.height) };
  const inside = (x: number, y: number) => x >= box.x - 0.01 && x <= box.x + box.w + 0.01 && y >= box.y - 0.01 && y <= box.y + box.h + 0.01;
  for (const e of els.filter((e) => e.attrs.class === 'curve' || e.attrs.class === 'iso')) {
    const v = e.attrs.points.split(/[ ,]/).map(Number);
    expect(v.length).toBeGreaterThanOrEqual(2);
    for (let i = 0; i < v.length; i += 2) expect(inside(v[i], v[i + 1]), `${e.attrs.class} point ${v[i]},${v[i + 1]}`).toBe(true);
  }
  for (const e of els.filter((e) => e.attrs.class === 'marker' && e.name === 'circle')) expect(inside(Number(e.attrs.cx), Number(e.attrs.cy))).toBe(true);
  return { els, box };
}

function demoSweep(): SweepPoint[] {
  const r = rng(11);
  const images = [0, 1, 2, 3].map(() => {
    const truth = Array.from({ length: 5 }, () => ({ x: r() * 500, y: r() * 500 }));
    const dets = [
      ...truth.filter(() => r() < 0.8).map((t) => ({ x: t.x + 3, y: t.y - 2, score: 0.4 + 0.6 * r() })),
      ...Array.from({ length: 12 }, () => ({ x: r() * 500, y: r() * 500, score: 0.1 + 0.6 * r() })),
    ];
    return { dets, truth };
  });
  return sweepThresholds(images, 20, undefined);
}

const texts = (els: El[]) => els.filter((e) => e.name === 'text').map((e) => e.text);

describe('niceTicks', () => {
  it('gives round steps covering the range', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.1, 0.9)).toEqual([0.2, 0.4, 0.6, 0.8]);
    expect(niceTicks(0, 250, 5)).toEqual([0, 50, 100, 150, 200, 250]);
    expect(niceTicks(3, 3)).toEqual([3]);
  });
});

describe('prCurveSvg', () => {
  it('is valid SVG with the curve, iso-F1 lines, ticks, labels, title, legend and the chosen point', () => {
    const sweep = demoSweep();
    const svg = prCurveSvg(sweep, { title: 'PR <T3> & co', chosenThreshold: 0.35, references: [{ label: 'IPAL', precision: 0.69, recall: 0.74 }] });
    const { els, box } = checkSvg(svg);
    const t = texts(els);
    expect(t).toContain('PR &lt;T3&gt; &amp; co');
    expect(t).toContain('recall');
    expect(t).toContain('precision');
    for (const v of ['0', '0.2', '0.4', '0.6', '0.8', '1']) expect(t).toContain(v);
    expect(t).toContain('IPAL');
    expect(t.some((s) => s.startsWith('F1=0.8'))).toBe(true);
    expect(els.filter((e) => e.attrs.class === 'curve')).toHaveLength(1);
    expect(els.filter((e) => e.attrs.class === 'iso')).toHaveLength(4);
    expect(els.some((e) => e.attrs.class === 'legend')).toBe(true);
    // The chosen point sits at (recall, precision) of the sweep point nearest t = 0.35.
    const near = sweep.reduce((a, p) => (Math.abs(p.threshold - 0.35) < Math.abs(a.threshold - 0.35) ? p : a));
    const mk = els.find((e) => e.name === 'circle' && e.attrs.class === 'marker')!;
    expect(Number(mk.attrs.cx)).toBeCloseTo(box.x + near.scores.recall * box.w, 1);
    expect(Number(mk.attrs.cy)).toBeCloseTo(box.y + box.h - near.scores.precision * box.h, 1);
    // The curve: one point per sweep point, recall non-decreasing as it is drawn.
    const pts = els.find((e) => e.attrs.class === 'curve')!.attrs.points.split(' ').map((p) => p.split(',').map(Number));
    expect(pts).toHaveLength(sweep.length);
    for (let i = 1; i < pts.length; i++) expect(pts[i][0]).toBeGreaterThanOrEqual(pts[i - 1][0] - 1e-9);
  });
  it('marks the best-F1 point by default and copes with a one-point sweep', () => {
    const one: SweepPoint[] = [{ threshold: 0.5, scores: { tp: 0, fp: 0, fn: 3, precision: 1, recall: 0, f1: 0 } }];
    checkSvg(prCurveSvg(one));
    checkSvg(f1ThresholdSvg(one, { width: 300, height: 240 }));
    expect(() => prCurveSvg([])).toThrow(/empty sweep/);
    expect(() => prCurveSvg(one, { width: 50 })).toThrow(/too small/);
  });
});

describe('rocCurveSvg', () => {
  it('draws the curve, the chance diagonal, the AUC and the operating point', () => {
    const c = rocCurve([0.9, 0.8, 0.7, 0.4, 0.3, 0.1], [1, 1, 0, 1, 0, 0]);
    const svg = rocCurveSvg(c, { title: 'Tiles', auc: 0.889, chosen: { tpr: 2 / 3, fpr: 0, label: 't = 0.75' } });
    const { els, box } = checkSvg(svg);
    const t = texts(els);
    expect(t).toContain('Tiles');
    expect(t).toContain('ROC, AUC 0.889');
    expect(t).toContain('t = 0.75');
    expect(els.filter((e) => e.attrs.class === 'chance')).toHaveLength(1);
    const pts = els.find((e) => e.attrs.class === 'curve')!.attrs.points.split(' ').map((p) => p.split(',').map(Number));
    expect(pts).toHaveLength(c.length);
    expect(pts[0][0]).toBeCloseTo(box.x, 1);
    expect(pts[0][1]).toBeCloseTo(box.y + box.h, 1);
    expect(pts.at(-1)![0]).toBeCloseTo(box.x + box.w, 1);
    expect(pts.at(-1)![1]).toBeCloseTo(box.y, 1);
    const mk = els.find((e) => e.name === 'circle' && e.attrs.class === 'marker')!;
    expect(Number(mk.attrs.cx)).toBeCloseTo(box.x, 1);
    expect(Number(mk.attrs.cy)).toBeCloseTo(box.y + box.h / 3, 1);
    expect(() => rocCurveSvg([])).toThrow(/both classes/);
  });
});

describe('f1ThresholdSvg', () => {
  it('draws F1, precision and recall against t with a marker and a line at the chosen t', () => {
    const sweep = demoSweep();
    const { els, box } = checkSvg(f1ThresholdSvg(sweep, { chosenThreshold: 0.5 }));
    expect(els.filter((e) => e.attrs.class === 'curve')).toHaveLength(3);
    const t = texts(els);
    for (const s of ['threshold t', 'F1', 'precision', 'recall', 'F1 against the threshold']) expect(t).toContain(s);
    const line = els.find((e) => e.attrs.class === 'chosen')!;
    const near = sweep.reduce((a, p) => (Math.abs(p.threshold - 0.5) < Math.abs(a.threshold - 0.5) ? p : a));
    expect(Number(line.attrs.x1)).toBeCloseTo(box.x + near.threshold * box.w, 1); // x axis 0..1
    const mk = els.find((e) => e.name === 'circle' && e.attrs.class === 'marker')!;
    expect(Number(mk.attrs.cy)).toBeCloseTo(box.y + box.h - near.scores.f1 * box.h, 1);
    expect(t.some((s) => s.includes(`F1 ${near.scores.f1.toFixed(3)}`))).toBe(true);
  });
  it('uses the data range for thresholds outside 0..1', () => {
    const sweep: SweepPoint[] = [2, 4, 6].map((th) => ({ threshold: th, scores: { tp: 1, fp: 1, fn: 1, precision: 0.5, recall: 0.5, f1: 0.5 } }));
    const { els } = checkSvg(f1ThresholdSvg(sweep));
    expect(texts(els)).toContain('6');
  });
  it('the checker catches broken markup', () => {
    expect(() => parseXml('<svg><g></svg>')).toThrow();
    expect(() => parseXml('<svg><text>a < b</text></svg>')).toThrow();
    expect(() => parseXml('<svg x="1" x="2"></svg>')).toThrow(/duplicate/);
  });
});

// ---- the gallery (Fig. 2) ------------------------------------------------------------------------

/** An image whose pixel (x, y) is (x, y, k) so that crops can be traced back. */
function coordImage(w: number, h: number, k = 0): RgbaImage {
  const data = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) data.set([x, y, k, 255], 4 * (y * w + x));
  return { width: w, height: h, data };
}
const px = (img: RgbaImage, x: number, y: number) => Array.from(img.data.subarray(4 * (y * img.width + x), 4 * (y * img.width + x) + 4));

describe('gallery', () => {
  it('crops around the detection, mirrored outside the image (-1 -> 1)', () => {
    const src = coordImage(40, 30);
    const c = cropCentred(src, 20, 10, 16); // centre pixel at (8, 8) of the crop
    expect(px(c, 8, 8)).toEqual([20, 10, 0, 255]);
    expect(px(c, 0, 0)).toEqual([12, 2, 0, 255]);
    const e = cropCentred(src, 0, 29, 8); // x0 = -4, y0 = 25
    expect(px(e, 0, 0)).toEqual([4, 25, 0, 255]); // column -4 -> 4
    expect(px(e, 3, 4)).toEqual([1, 29, 0, 255]); // column -1 -> 1
    expect(px(e, 4, 5)).toEqual([0, 28, 0, 255]); // row 30 -> 28
  });
  it('frames TPs green and FPs red and writes the score in the 3x5 font', () => {
    const src = coordImage(100, 100);
    const tp = galleryTile(src, { x: 50, y: 40, score: 0.87, tp: true }, { crop: 48, border: 3 });
    const fp = galleryTile(src, { x: 50, y: 40, score: 0.87, tp: false }, { crop: 48, border: 3 });
    expect(tp.image.width).toBe(54);
    expect(px(tp.image, 0, 0).slice(0, 3)).toEqual([...COLOURS.truePositive]);
    expect(px(tp.image, 53, 20).slice(0, 3)).toEqual([...COLOURS.truePositive]);
    expect(px(fp.image, 1, 53).slice(0, 3)).toEqual([...COLOURS.falsePositive]);
    expect(px(tp.image, 3 + 24, 3 + 24)).toEqual([50, 40, 0, 255]); // crop centre = the detection
    // The label "0.87" at scale 2, bottom-left: compare every font pixel.
    const label = scoreLabel(0.87);
    expect(label).toBe('0.87');
    const s = 2, x0 = 3 + 1, y0 = 3 + 48 - 5 * s - 2 + 1;
    [...label].forEach((ch, k) => {
      for (let r = 0; r < 5; r++)
        for (let c = 0; c < 3; c++) {
          const on = (FONT_3X5[ch][r] >> (2 - c)) & 1;
          const p = px(tp.image, x0 + (4 * k + c) * s, y0 + r * s);
          if (on) expect(p.slice(0, 3), `${ch} r${r} c${c}`).toEqual([255, 255, 255]);
          else expect(p[0] + p[1] + p[2], `${ch} r${r} c${c} off`).toBeLessThan(3 * 255);
        }
    });
    expect(textWidth('0.87', 2)).toBe(30);
  });
  it('sorts by decreasing score into rows of `columns`', () => {
    const sources = [coordImage(64, 64, 1), coordImage(64, 64, 2)];
    const items = [
      { image: 0, x: 10, y: 10, score: 0.2, tp: false },
      { image: 1, x: 20, y: 30, score: 0.9, tp: true },
      { image: 0, x: 30, y: 20, score: 0.5, tp: true },
    ];
    const g = gallery(sources, items, { crop: 16, border: 2, gap: 1, columns: 2 });
    const T = 20;
    expect([g.width, g.height]).toEqual([2 * T + 3, 2 * T + 3]);
    const centre = (k: number) => px(g, 1 + (k % 2) * (T + 1) + 2 + 8, 1 + Math.floor(k / 2) * (T + 1) + 2 + 8);
    expect(centre(0)).toEqual([20, 30, 2, 255]); // 0.9 first
    expect(centre(1)).toEqual([30, 20, 1, 255]); // then 0.5
    expect(centre(2)).toEqual([10, 10, 1, 255]); // then 0.2
    expect(px(g, g.width - 1, g.height - 1)).toEqual([240, 240, 240, 255]); // empty slot: background
    expect(gallery(sources, items, { crop: 16, border: 2, maxTiles: 1 }).width).toBe(T + 4);
    expect(() => gallery(sources, [{ image: 5, x: 0, y: 0, score: 1, tp: true }])).toThrow(/image 5/);
    const empty = assembleGallery([], { crop: 16, border: 2 });
    expect([empty.width, empty.height]).toEqual([T + 4, T + 4]);
  });
  it('drawText clips at the image border', () => {
    const img = coordImage(5, 5);
    drawText(img, '88', 3, 2, [255, 0, 0]);
    expect(px(img, 3, 2)).toEqual([255, 0, 0, 255]);
  });
});

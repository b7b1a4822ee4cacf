// Crops around labelled mitotic figures as training images (pure: text and pixels in, no file
// system). AMi-Br (Bertram et al., BVM 2025) gives every mitotic figure of MIDOG 2021 and of the
// relabelled TUPAC16 set as a 128x128 crop at 40x centred on the figure, plus AMI-BR.csv:
//
//   ,slide,dataset,uid,x,y,expert1_label,expert2_label,expert1_atypical,...,majority_atypical
//   0,002.tiff,MIDOG21,6,4422,216,NMF prometaphase,NMF metaphase,False,False,False,False
//
// (x, y = the centroid on the source slide, pixels; the crop file is patches/{normal,atypical}/
// <dataset>_<uid>.png). Crop convention, checked on the crops of figures near a slide's top/left
// edge (their outside-the-slide part is black, exactly 64 - y rows / 64 - x columns): the crop
// covers slide pixels [x - 64, x + 64) x [y - 64, y + 64), so the figure's own pixel is crop pixel
// (64, 64), and a figure at slide (x', y') is at crop (x' - x + 64, y' - y + 64).
//
// Every figure of the slide that falls inside a crop is a mitosis there too (cropCentroids), so a
// neighbouring figure is labelled positive, never drawn as a negative.
import { DatasetError } from './labels.js';
import type { RgbaImage } from '../model/dense.js';
import type { Point, Region } from '../train/sampling.js';

export interface AmiBrRow {
  /** 1-based line of the CSV. */
  line: number;
  /** The first (unnamed) column. */
  index: number;
  /** The source image, e.g. '002.tiff' (MIDOG21), '27.tif' or '04_stitched1.tif' (TUPAC16). */
  slide: string;
  dataset: string;
  uid: string;
  /** slidePatient(dataset, slide), e.g. 'TUPAC16:27', 'MIDOG21:002'. */
  patient: string;
  /** Centroid on the source slide, pixels. */
  x: number;
  y: number;
  /** majority_atypical, when the column is there. */
  atypical?: boolean;
  /** Every column by its header name (raw text). */
  fields: Record<string, string>;
}

const REQUIRED = ['slide', 'dataset', 'uid', 'x', 'y'] as const;

/** One CSV line split at commas, honouring "double quotes" ("" = a quote). */
function splitCsvLine(s: string): string[] | undefined {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === '"' && s[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  if (quoted) return undefined;
  out.push(cur.trim());
  return out;
}

/**
 * Parses AMI-BR.csv. The header must name slide, dataset, uid, x and y (any order; the first,
 * unnamed column is the row index). Errors are DatasetErrors starting with `file:line:`.
 */
export function parseAmiBrCsv(text: string, file = 'AMI-BR.csv'): AmiBrRow[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split(/\r\n|\r|\n/);
  let h = 0;
  while (h < lines.length && !lines[h].trim()) h++;
  if (h === lines.length) throw new DatasetError(file, undefined, 'empty file: expected a header line ",slide,dataset,uid,x,y,..."');
  const header = splitCsvLine(lines[h]);
  if (!header) throw new DatasetError(file, h + 1, 'unterminated quote in the header');
  const col = new Map(header.map((name, i) => [name, i]));
  const missing = REQUIRED.filter((c) => !col.has(c));
  if (missing.length) throw new DatasetError(file, h + 1, `the header lacks the column(s) ${missing.join(', ')} (got: ${header.join(', ')}); is this AMI-BR.csv?`);
  const rows: AmiBrRow[] = [];
  const seen = new Map<string, number>();
  for (let i = h + 1; i < lines.length; i++) {
    if (!lines[i].trim()) continue;
    const line = i + 1;
    const f = splitCsvLine(lines[i]);
    if (!f) throw new DatasetError(file, line, 'unterminated quote');
    if (f.length !== header.length) throw new DatasetError(file, line, `${f.length} fields, the header has ${header.length}`);
    const get = (c: string) => f[col.get(c)!];
    const num = (c: string) => {
      const v = get(c);
      const n = Number(v);
      if (!v || !Number.isFinite(n)) throw new DatasetError(file, line, `${c} is not a number: "${v}"`);
      return n;
    };
    const slide = get('slide'), dataset = get('dataset'), uid = get('uid');
    if (!slide) throw new DatasetError(file, line, 'empty slide');
    if (!dataset) throw new DatasetError(file, line, 'empty dataset');
    if (!uid) throw new DatasetError(file, line, 'empty uid');
    const key = `${dataset}_${uid}`;
    if (seen.has(key)) throw new DatasetError(file, line, `duplicate figure ${key} (first on line ${seen.get(key)})`);
    seen.set(key, line);
    const first = header[0] === '' ? Number(f[0]) : NaN;
    const fields = Object.fromEntries(header.map((name, k) => [name, f[k]]));
    const row: AmiBrRow = { line, index: Number.isFinite(first) ? first : rows.length, slide, dataset, uid, patient: slidePatient(dataset, slide), x: num('x'), y: num('y'), fields };
    if (col.has('majority_atypical')) {
      const v = get('majority_atypical').toLowerCase();
      if (v === 'true' || v === 'false') row.atypical = v === 'true';
      else if (v) throw new DatasetError(file, line, `majority_atypical must be True or False, got "${get('majority_atypical')}"`);
    }
    rows.push(row);
  }
  return rows;
}

/** The crop's file name: `<dataset>_<uid>.png`. */
export function amiBrFileName(row: Pick<AmiBrRow, 'dataset' | 'uid'>): string {
  return `${row.dataset}_${row.uid}.png`;
}

/**
 * The patient id of a slide, `<dataset>:<id>`. TUPAC16: the case number without leading zeros
 * and without the '_stitched1' suffix ('27.tif' -> 'TUPAC16:27', '04_stitched1.tif' ->
 * 'TUPAC16:4'), the same id as tupacAuxPatient gives the auxiliary patches of that case. Others:
 * the slide name without its extension ('002.tiff' -> 'MIDOG21:002').
 */
export function slidePatient(dataset: string, slide: string): string {
  const stem = slide.replace(/\.[^.]*$/, '');
  if (dataset === 'TUPAC16') {
    const m = /^0*(\d+)(?:_stitched\d*)?$/.exec(stem);
    if (m) return `TUPAC16:${Number(m[1])}`;
  }
  return `${dataset}:${stem}`;
}

/**
 * The patient of a TUPAC16 auxiliary patch `<case>_<image>_<k>.<ext>`: 'TUPAC16:<case>' with the
 * case without leading zeros. Throws for a name of another form.
 */
export function tupacAuxPatient(file: string): string {
  const base = file.replace(/^.*[\\/]/, '');
  const m = /^(\d+)_\d+_\d+\.[A-Za-z]+$/.exec(base);
  if (!m) throw new Error(`${file}: not a TUPAC16 auxiliary patch name (<case>_<image>_<k>.jpg)`);
  return `TUPAC16:${Number(m[1])}`;
}

/**
 * The centroids of ALL figures of `slide` (in `rows`) inside the crop around slide pixel
 * (cx, cy): the crop covers slide pixels [cx - half, cx + half) in x and y (AMi-Br: half = 64),
 * and a figure at (x, y) is at crop pixel (x - cx + half, y - cy + half). The crop's own figure
 * comes first (when it is in rows), the others in the order of the rows. Figures just outside
 * the crop are left out: they only matter where their disk (or exclusion ring) reaches into the
 * labelled region, which the window-fit region keeps floor(S/2) px away from the crop's edges.
 */
export function cropCentroids(rows: readonly Pick<AmiBrRow, 'slide' | 'x' | 'y'>[], slide: string, cx: number, cy: number, half: number): Point[] {
  const own: Point[] = [];
  const others: Point[] = [];
  for (const r of rows) {
    if (r.slide !== slide) continue;
    if (!(r.x >= cx - half && r.x < cx + half && r.y >= cy - half && r.y < cy + half)) continue;
    const p = { x: r.x - cx + half, y: r.y - cy + half };
    (r.x === cx && r.y === cy ? own : others).push(p);
  }
  return [...own, ...others];
}

/**
 * The part of a crop that holds tissue: the bounding box left after stripping border rows and
 * columns in which every pixel is exactly black (0, 0, 0): AMi-Br pads the part of a crop that
 * lies outside the slide with black. The whole image when there is no such border.
 */
export function contentBounds(img: RgbaImage): Region {
  const { width: W, height: H, data } = img;
  const black = (x: number, y: number) => {
    const i = 4 * (y * W + x);
    return data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 0;
  };
  const rowBlack = (y: number, x0: number, x1: number) => {
    for (let x = x0; x < x1; x++) if (!black(x, y)) return false;
    return true;
  };
  const colBlack = (x: number, y0: number, y1: number) => {
    for (let y = y0; y < y1; y++) if (!black(x, y)) return false;
    return true;
  };
  let y0 = 0, y1 = H, x0 = 0, x1 = W;
  while (y0 < y1 && rowBlack(y0, 0, W)) y0++;
  while (y1 > y0 && rowBlack(y1 - 1, 0, W)) y1--;
  while (x0 < x1 && colBlack(x0, y0, y1)) x0++;
  while (x1 > x0 && colBlack(x1 - 1, y0, y1)) x1--;
  if (y0 >= y1 || x0 >= x1) return { x0: 0, y0: 0, x1: 0, y1: 0 };
  return { x0, y0, x1, y1 };
}

/**
 * `bounds` of a width x height image, as the pixels of its resampled version of size W' x H'
 * that lie wholly inside it (each pixel i' covers the source interval [i' / s, (i' + 1) / s)).
 */
export function scaleBounds(b: Region, width: number, height: number, newWidth: number, newHeight: number): Region {
  const sx = newWidth / width, sy = newHeight / height;
  const eps = 1e-9;
  const x0 = Math.min(newWidth, Math.max(0, Math.ceil(b.x0 * sx - eps))), y0 = Math.min(newHeight, Math.max(0, Math.ceil(b.y0 * sy - eps)));
  return { x0, y0, x1: Math.min(newWidth, Math.max(x0, Math.floor(b.x1 * sx + eps))), y1: Math.min(newHeight, Math.max(y0, Math.floor(b.y1 * sy + eps))) };
}

/** A centroid of a width x height image in its resampled W' x H' version: (c + 0.5) s - 0.5. */
export function scalePoint(c: Point, width: number, height: number, newWidth: number, newHeight: number): Point {
  return { x: (c.x + 0.5) * (newWidth / width) - 0.5, y: (c.y + 0.5) * (newHeight / height) - 0.5 };
}

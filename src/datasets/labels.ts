// Parsers for the label files of the public mitosis data sets (text in, centroids out; no file
// system, so they run in browsers too). Every parser throws a DatasetError naming the file and the
// line on malformed input. Coordinates are pixels of the full-resolution image, x = column, y = row.
//
//   MITOS 2012 (ICPR contest)   one line per mitosis: the flattened pixel list `x,y,x,y,...` of its
//                               region (x first); centroid = mean of the pixels. Empty file = none.
//   AMIDA13 / TUPAC16           one `row,col` line per figure (y FIRST); extra columns ignored.
//   tutorial (Janowczyk)        `01_01.csv`: one `x,y` line per mitosis centre (order selectable).
//   MIDOG 2021 (COCO json)      images {id, file_name, width, height}; annotations {image_id, bbox,
//                               category_id}; categories "mitotic figure" and "not mitotic figure"
//                               (the hard negatives). The MIDOG file stores bbox as corners
//                               [x1, y1, x2, y2] (50 px boxes), not COCO's [x, y, w, h]: see
//                               MidogOptions.bbox.
// CSV readers accept CRLF, a UTF-8 BOM, blank lines, spaces, `;` or tab separators and one header
// line (a first line that holds no number and names a coordinate column: x, y, row, col, ...).
import { printable } from '../printable.js';

export interface Centroid {
  /** Column, pixels. */
  x: number;
  /** Row, pixels. */
  y: number;
}

/** One labelled image of a data set (src/node/datasets.ts loadDataset finds them on disk). */
export interface LabelledImage {
  /** Unique within the data set: A00_01, 01/01, 01_01, 001. */
  id: string;
  imagePath: string;
  patient: string;
  /** µm per pixel of the image. */
  umPerPixel: number;
  mitoses: Centroid[];
  /** Look-alikes labelled as not mitotic (TUPAC16 alternative labels, MIDOG), when the set has them. */
  hardNegatives?: Centroid[];
}

/** Malformed label data; the message starts with `file:line:` (or `file:` when no line applies). */
export class DatasetError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    msg: string,
  ) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${msg}`);
    this.name = 'DatasetError';
  }
}

interface CsvRow {
  /** 1-based line number in the file. */
  line: number;
  fields: string[];
}

/** Splits CSV-like text into non-blank rows of trimmed fields. */
function csvRows(text: string, file: string): CsvRow[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // a label CSV is text: NUL, other control bytes or invalid UTF-8 mean an image, an archive, ...
  const bad = /[\x00-\x08\x0e-\x1f\ufffd]/.exec(text);
  if (bad) {
    const line = text.slice(0, bad.index).split(/\r\n|\r|\n/).length;
    throw new DatasetError(file, line, `holds binary data, not text (${printable(text.slice(Math.max(0, bad.index - 10), bad.index + 20), 60)}); is it really a label CSV?`);
  }
  const out: CsvRow[] = [];
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const s = lines[i].trim();
    if (!s) continue;
    const fields = s.split(/\s*[,;\t]\s*|\s+/);
    // A trailing separator (`1,2,`) leaves an empty last field: tolerated.
    if (fields.length > 1 && fields[fields.length - 1] === '') fields.pop();
    out.push({ line: i + 1, fields });
  }
  return out;
}

export { printable };

/** A hint when text holds binary bytes (NUL, control characters or invalid UTF-8). */
function binaryHint(s: string): string {
  return /[\x00-\x08\x0e-\x1f\ufffd]/.test(s) ? ' (the file holds binary data: is it really a text label file?)' : '';
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function num(s: string, file: string, line: number, what: string): number {
  if (!NUMBER.test(s)) throw new DatasetError(file, line, `${what} '${printable(s, 20)}' is not a number${binaryHint(s)}`);
  return Number(s);
}

/**
 * True when the row is a header: no number, and a field that names a coordinate column as one of
 * its words (`x,y`, `row,col,score`, `center_x`, `"X [px]"`, `Location_Center_X`, `#x`). A line of
 * prose is not one: taken for a header, it would read the file as "no mitoses".
 */
function isHeader(r: CsvRow): boolean {
  return r.fields.length >= 2 && r.fields.every((f) => !NUMBER.test(f)) && r.fields.some((f) => f.split(/[^A-Za-z]+/).some((w) => COORDINATE_WORDS.has(w.toLowerCase())));
}
const COORDINATE_WORDS = new Set(['x', 'y', 'row', 'col', 'column', 'cx', 'cy', 'xc', 'yc']);

/** A MITOS 2012 mitosis: its region's centroid and pixel count. */
export interface Mitos2012Region {
  centroid: Centroid;
  pixels: number;
}

/** MITOS 2012: one region per line, `x,y,x,y,...`; centroid = mean pixel (x = column). */
export function parseMitos2012Regions(text: string, file = 'labels.csv'): Mitos2012Region[] {
  const out: Mitos2012Region[] = [];
  for (const r of csvRows(text, file)) {
    const f = r.fields;
    if (f.length % 2 !== 0) {
      throw new DatasetError(file, r.line, `${f.length} coordinates: a MITOS 2012 line holds x,y pairs (an even count)`);
    }
    let sx = 0, sy = 0;
    for (let k = 0; k < f.length; k += 2) {
      const x = num(f[k], file, r.line, `coordinate ${k + 1}`);
      const y = num(f[k + 1], file, r.line, `coordinate ${k + 2}`);
      if (x < 0 || y < 0) throw new DatasetError(file, r.line, `negative pixel coordinate (${x}, ${y})`);
      sx += x;
      sy += y;
    }
    const n = f.length / 2;
    out.push({ centroid: { x: sx / n, y: sy / n }, pixels: n });
  }
  return out;
}

/** MITOS 2012 centroids (see parseMitos2012Regions). */
export function parseMitos2012Csv(text: string, file = 'labels.csv'): Centroid[] {
  return parseMitos2012Regions(text, file).map((r) => r.centroid);
}

/** Two leading numeric columns per line (after an optional header), extra columns ignored. */
function parsePairs(text: string, file: string, names: [string, string]): [number, number][] {
  const rows = csvRows(text, file);
  const out: [number, number][] = [];
  rows.forEach((r, i) => {
    if (i === 0 && isHeader(r)) return;
    if (r.fields.length < 2) {
      throw new DatasetError(file, r.line, `expected '${names[0]},${names[1]}', found '${printable(r.fields.join(','))}'${binaryHint(r.fields.join(','))}`);
    }
    const a = num(r.fields[0], file, r.line, names[0]);
    const b = num(r.fields[1], file, r.line, names[1]);
    if (a < 0 || b < 0) throw new DatasetError(file, r.line, `negative coordinate (${names[0]} ${a}, ${names[1]} ${b})`);
    out.push([a, b]);
  });
  return out;
}

/** AMIDA13 / TUPAC16: `row,col` per line (y first), extra columns ignored; empty file = none. */
export function parseRowColCsv(text: string, file = 'labels.csv'): Centroid[] {
  return parsePairs(text, file, ['row', 'col']).map(([y, x]) => ({ x, y }));
}

/** Tutorial (Janowczyk & Madabhushi, use case 5): `x,y` per line, or `row,col` with order 'rowcol'. */
export function parseXyCsv(text: string, file = 'labels.csv', order: 'xy' | 'rowcol' = 'xy'): Centroid[] {
  if (order === 'rowcol') return parseRowColCsv(text, file);
  return parsePairs(text, file, ['x', 'y']).map(([x, y]) => ({ x, y }));
}

// ---- MIDOG (COCO json) ------------------------------------------------------------------------

export interface MidogImageLabels {
  /** COCO image id. */
  id: number;
  fileName: string;
  width: number;
  height: number;
  /** Centres of the "mitotic figure" boxes. */
  mitoses: Centroid[];
  /** Centres of the "not mitotic figure" boxes (look-alikes). */
  hardNegatives: Centroid[];
}

export interface MidogOptions {
  /**
   * How bbox is stored: 'xyxy' (corners; what MIDOG.json holds), 'xywh' (COCO standard) or 'auto'
   * (default): corners when every box has x2 > x1 and y2 > y1, else [x, y, w, h]. (Small COCO boxes
   * away from the top-left corner have w < x, so real COCO files are recognised.)
   */
  bbox?: 'auto' | 'xyxy' | 'xywh';
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Line (1-based) of the `n`-th occurrence (0-based) of `"key"` in the text: for error messages. */
function lineOfKey(text: string, key: string, n: number): number | undefined {
  const needle = `"${key}"`;
  let at = -1;
  for (let i = 0; i <= n; i++) {
    at = text.indexOf(needle, at + 1);
    if (at < 0) return undefined;
  }
  let line = 1;
  for (let i = 0; i < at; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Line of a JSON.parse error position ("... at position 123" / "(line 4 column 2)"). */
function jsonErrorLine(text: string, e: Error): number | undefined {
  const l = /line (\d+)/.exec(e.message);
  if (l) return Number(l[1]);
  const p = /position (\d+)/.exec(e.message);
  if (!p) return undefined;
  const pos = Math.min(Number(p[1]), text.length);
  let line = 1;
  for (let i = 0; i < pos; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * MIDOG 2021 labels: one entry per image of the json (images without annotations included, with
 * empty lists), in the order of `images`. Centres are the box centres.
 */
export function parseMidogJson(text: string, file = 'MIDOG.json', opts: MidogOptions = {}): MidogImageLabels[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    throw new DatasetError(file, jsonErrorLine(text, e as Error), `not valid JSON (${printable((e as Error).message, 120)})${binaryHint(text.slice(0, 4096))}`);
  }
  if (!isObj(doc)) throw new DatasetError(file, 1, 'expected a COCO json object with images, annotations and categories');
  for (const k of ['images', 'annotations', 'categories']) {
    if (!Array.isArray(doc[k])) throw new DatasetError(file, lineOfKey(text, k, 0), `'${k}' must be an array (a COCO json has images, annotations, categories)`);
  }
  const images = doc.images as unknown[];
  const annotations = doc.annotations as unknown[];
  const categories = doc.categories as unknown[];

  // Categories: the mitotic one and the hard-negative one, by name.
  const kindOf = new Map<number, 'mitosis' | 'negative'>();
  categories.forEach((c, i) => {
    if (!isObj(c) || typeof c.id !== 'number' || typeof c.name !== 'string') {
      throw new DatasetError(file, lineOfKey(text, 'name', i), `categories[${i}] needs a numeric id and a name`);
    }
    const name = c.name.toLowerCase().replace(/[_-]/g, ' ').trim();
    if (/^(not|non)\s*mito/.test(name) || name.includes('imposter') || name.includes('hard negative')) kindOf.set(c.id, 'negative');
    else if (name.startsWith('mito')) kindOf.set(c.id, 'mitosis');
  });
  if (![...kindOf.values()].includes('mitosis')) {
    throw new DatasetError(file, lineOfKey(text, 'categories', 0), `no category named "mitotic figure" among ${printable(JSON.stringify(categories.map((c) => (isObj(c) ? c.name : c))), 120)}`);
  }

  const byId = new Map<number, MidogImageLabels>();
  const out: MidogImageLabels[] = [];
  images.forEach((im, i) => {
    const ok = isObj(im) && typeof im.id === 'number' && typeof im.file_name === 'string' && typeof im.width === 'number' && typeof im.height === 'number';
    if (!ok) throw new DatasetError(file, lineOfKey(text, 'file_name', i), `images[${i}] needs id, file_name, width and height`);
    const rec: MidogImageLabels = { id: im.id as number, fileName: im.file_name as string, width: im.width as number, height: im.height as number, mitoses: [], hardNegatives: [] };
    if (byId.has(rec.id)) throw new DatasetError(file, lineOfKey(text, 'file_name', i), `image id ${rec.id} appears twice`);
    byId.set(rec.id, rec);
    out.push(rec);
  });

  const boxes: number[][] = annotations.map((a, i) => {
    const bbox = isObj(a) ? a.bbox : undefined;
    if (!isObj(a) || !Array.isArray(bbox) || bbox.length !== 4 || !bbox.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new DatasetError(file, lineOfKey(text, 'bbox', i), `annotations[${i}] needs a bbox of 4 numbers, got ${printable(JSON.stringify(bbox) ?? String(bbox), 80)}`);
    }
    if (typeof a.image_id !== 'number' || typeof a.category_id !== 'number') {
      throw new DatasetError(file, lineOfKey(text, 'bbox', i), `annotations[${i}] needs numeric image_id and category_id`);
    }
    return bbox as number[];
  });
  let mode = opts.bbox ?? 'auto';
  if (mode === 'auto') mode = boxes.length > 0 && boxes.every((b) => b[2] > b[0] && b[3] > b[1]) ? 'xyxy' : 'xywh';
  annotations.forEach((a, i) => {
    const { image_id, category_id } = a as { image_id: number; category_id: number };
    const rec = byId.get(image_id);
    if (!rec) throw new DatasetError(file, lineOfKey(text, 'bbox', i), `annotations[${i}] refers to image_id ${image_id}, which is not in 'images'`);
    const kind = kindOf.get(category_id);
    if (!kind) return; // another category: not ours
    const b = boxes[i];
    const c = mode === 'xyxy' ? { x: (b[0] + b[2]) / 2, y: (b[1] + b[3]) / 2 } : { x: b[0] + b[2] / 2, y: b[1] + b[3] / 2 };
    (kind === 'mitosis' ? rec.mitoses : rec.hardNegatives).push(c);
  });
  return out;
}

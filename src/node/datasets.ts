// Labelled image sets on disk (Node only): finds the images and label files of the public mitosis
// data sets in their usual folder layouts and returns paths and centroids. Images are not decoded
// here (see src/node/files.ts readImageFile).
//
//   mitos2012  A00_01.bmp + A00_01.csv (often one folder per slide, A00_v2/); 0.2456 µm/px (scanner
//              A; frames named H.. are scanner H, 0.2273 µm/px); patient = slide (A00).
//   amida13    <case>/<image>.tif with <case>/<image>.csv beside it or in a parallel tree
//              (mitoses_ground_truth/<case>/<image>.csv, TUPAC16 alternative labels mitoses/<case>/
//              and non-mitoses/<case>/ = hard negatives); 0.25 µm/px; patient = case. An image
//              without a label file has no mitoses (the ground truth of AMIDA13/TUPAC16 omits them).
//              Alias: tupac16.
//   tutorial   01_01.tif + 01_01.csv (Janowczyk & Madabhushi, use case 5: the AMIDA13 images renamed
//              <patient>_<image>); x,y per line by default; 0.25 µm/px (the 2000x2000 files are at
//              40x; the tutorial downscales them to 20x = 0.5 µm/px itself); patient = part before _.
//   midog      <name>.tiff + a COCO json (MIDOG.json: "mitotic figure", "not mitotic figure" = hard
//              negatives); 0.25 µm/px; patient = the image (one case per image in MIDOG 2021).
//              Images without any annotation (MIDOG 2021's unlabelled scanner) are left out.
// Pass umPerPixel to override the resolution of every image.
import { mkdir, readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, sep } from 'node:path';
import {
  type Centroid,
  DatasetError,
  type LabelledImage,
  parseMidogJson,
  parseMitos2012Csv,
  parseRowColCsv,
  parseXyCsv,
} from '../datasets/labels.js';
import { encodeTiff } from '../io/image.js';
import { readImageFile, readRegularFile, writeFileAtomic } from './files.js';
import { printable } from '../printable.js';

export type { Centroid, LabelledImage };
export { DatasetError };

export type Layout = 'mitos2012' | 'amida13' | 'tutorial' | 'midog';
export type LayoutOption = Layout | 'tupac16' | 'auto';

export interface LoadOptions {
  layout?: LayoutOption;
  /** µm per pixel of every image (default: the layout's). */
  umPerPixel?: number;
  /** Where the label files are (default: root). */
  labelsRoot?: string;
  /** Column order of the tutorial's CSV files (default 'xy'). */
  tutorialOrder?: 'xy' | 'rowcol';
  /** Non-fatal findings (label files for cases without images, images left out, ...). */
  onWarning?: (message: string) => void;
}

export const LAYOUT_UM_PER_PIXEL: Readonly<Record<Layout, number>> = Object.freeze({
  mitos2012: 0.2456,
  amida13: 0.25,
  tutorial: 0.25,
  midog: 0.25,
});
/** MITOS 2012 scanner H (Hamamatsu NanoZoomer). */
export const MITOS2012_H_UM_PER_PIXEL = 0.2273;

const LAYOUT_HELP: Readonly<Record<Layout, string>> = {
  mitos2012: 'mitos2012 (A00_01.bmp + A00_01.csv)',
  amida13: 'amida13/tupac16 (<case>/<image>.tif + <case>/<image>.csv)',
  tutorial: 'tutorial (01_01.tif + 01_01.csv)',
  midog: 'midog (001.tiff + a COCO json such as MIDOG.json)',
};

const IMAGE_EXT = new Set(['.tif', '.tiff', '.bmp', '.png', '.jpg', '.jpeg']);
const MITOS_NAME = /^[A-Za-z]\d\d_\d\d$/;
const TUTORIAL_NAME = /^\d+_\d+$/;
const DIGITS = /^\d+$/;

interface Entry {
  path: string;
  /** Relative to the walk root, '/'-separated. */
  rel: string;
  stem: string;
  ext: string;
  parent: string;
}

/**
 * All files under `dir` (hidden entries skipped, depth-limited), sorted. Symbolic links are
 * followed only when they stay inside `dir` (a link to / or to another data set would otherwise
 * pull in foreign files, or loop); the links left out are pushed onto `outside`.
 */
async function walk(dir: string, maxDepth = 8, outside: string[] = []): Promise<Entry[]> {
  const out: Entry[] = [];
  const top = await realpath(dir).catch(() => dir);
  const inside = (r: string) => r === top || r.startsWith(top.endsWith(sep) ? top : top + sep);
  const seen = new Set<string>([top]);
  const visit = async (d: string, depth: number): Promise<void> => {
    let ents;
    try {
      ents = await readdir(d, { withFileTypes: true });
    } catch (e) {
      if (depth === 0) throw e;
      return; // unreadable subfolder: skipped
    }
    for (const ent of ents) {
      if (ent.name.startsWith('.')) continue;
      const p = join(d, ent.name);
      let isDir = ent.isDirectory();
      let isFile = ent.isFile();
      if (ent.isSymbolicLink()) {
        const real = await realpath(p).catch(() => undefined);
        if (!real || !inside(real)) {
          outside.push(p);
          continue;
        }
        const s = await stat(p).catch(() => undefined);
        isDir = !!s?.isDirectory();
        isFile = !!s?.isFile();
        if (isDir) {
          if (seen.has(real)) continue; // a link back into a folder already walked
          seen.add(real);
        }
      }
      if (isDir && depth < maxDepth) await visit(p, depth + 1);
      else if (isFile) {
        const ext = extname(ent.name).toLowerCase();
        out.push({ path: p, rel: relative(dir, p).split(sep).join('/'), stem: basename(ent.name, extname(ent.name)), ext, parent: basename(d) });
      }
    }
  };
  await visit(dir, 0);
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

async function checkFolder(root: string, what: string): Promise<void> {
  let s;
  try {
    s = await stat(root);
  } catch {
    throw new Error(`${root}: no such folder (the ${what})`);
  }
  if (!s.isDirectory()) throw new Error(`${root}: is a file; give the folder that holds the ${what}`);
}

const isImage = (e: Entry) => IMAGE_EXT.has(e.ext);
const isCsv = (e: Entry) => e.ext === '.csv';
/** Paths of the TUPAC16 alternative labels' hard negatives: a non-mitoses folder. */
const isNegativeTree = (e: Entry) => e.rel.split('/').slice(0, -1).some((p) => /^non[-_ ]?mito/i.test(p));

/** Label files above this are not label files (MIDOG.json is 2 MB). */
const MAX_LABEL_BYTES = 256 * 1024 * 1024;

async function readText(path: string): Promise<string> {
  const b = await readRegularFile(path, 'label file', MAX_LABEL_BYTES);
  return new TextDecoder('utf-8').decode(b);
}

/** Why each layout leaves an image file out (the images of layoutImages are the ones it keeps). */
const SKIP_REASON: Readonly<Record<Layout, string>> = {
  mitos2012: 'names not of the form A00_01 (a letter, two digits, _, two digits)',
  tutorial: 'names not of the form <digits>_<digits> (such as 01_01)',
  amida13: 'not <case digits>/<image digits>.tif (such as 01/01.tif)',
  midog: 'not .tif/.tiff files',
};

function listSome(items: readonly string[], n = 5): string {
  return items.slice(0, n).join(', ') + (items.length > n ? ', ...' : '');
}

/** The images each layout recognises, for auto-detection and for the "nothing found" message. */
function layoutImages(layout: Layout, files: readonly Entry[]): Entry[] {
  const imgs = files.filter(isImage);
  switch (layout) {
    case 'mitos2012':
      return imgs.filter((e) => MITOS_NAME.test(e.stem));
    case 'tutorial':
      return imgs.filter((e) => TUTORIAL_NAME.test(e.stem));
    case 'amida13':
      return imgs.filter((e) => DIGITS.test(e.stem) && DIGITS.test(e.parent));
    case 'midog':
      return imgs.filter((e) => e.ext === '.tif' || e.ext === '.tiff');
  }
}

/** The COCO json that lists the most of `imageNames`, and why each other .json was passed over. */
async function findCocoJson(labelFiles: readonly Entry[], imageNames: ReadonlySet<string>): Promise<{ json?: { path: string; text: string }; passedOver: string[] }> {
  const found: { path: string; text: string; hits: number }[] = [];
  const passedOver: string[] = [];
  for (const j of labelFiles.filter((e) => e.ext === '.json')) {
    const s = await stat(j.path);
    if (s.size > 256 * 1024 * 1024) {
      passedOver.push(`${j.path}: over 256 MiB, not read`);
      continue;
    }
    const text = await readText(j.path);
    let hits = 0;
    if (/"annotations"/.test(text) && /"images"/.test(text)) {
      for (const m of text.matchAll(/"file_name"\s*:\s*"([^"]+)"/g)) if (imageNames.has(basename(m[1]))) hits++;
    }
    if (hits) found.push({ path: j.path, text, hits });
    else passedOver.push(`${j.path}: ${whyNotCoco(text, imageNames.size)}`);
  }
  found.sort((a, b) => b.hits - a.hits);
  if (found.length > 1 && found[0].hits === found[1].hits) {
    throw new Error(`two COCO label files list the same images: ${found[0].path} and ${found[1].path}; keep one (or point --labels at one folder)`);
  }
  return { json: found[0], passedOver };
}

/** Why a .json lists none of the images: not JSON (the parser's words), not COCO, or other images. */
function whyNotCoco(text: string, images: number): string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return `not valid JSON (${printable((err as Error).message, 80)})`;
  }
  const o = v as { images?: unknown; annotations?: unknown } | null;
  if (!o || typeof o !== 'object' || !Array.isArray(o.images) || !Array.isArray(o.annotations)) return 'not a COCO json (no "images" and "annotations" lists)';
  return `lists none of the ${images} TIFF image(s) found`;
}

/** " (a.json: why; b.json: why)" for an error message, or '' when no json was passed over. */
function passedOverNote(passedOver: readonly string[]): string {
  return passedOver.length ? `; the json file(s) here: ${passedOver.slice(0, 3).join('; ')}${passedOver.length > 3 ? `; and ${passedOver.length - 3} more` : ''}` : '';
}

/** The layout of `root` (and where its labels are): the first of midog, mitos2012, tutorial, amida13 that fits. */
export async function detectLayout(root: string, labelsRoot = root): Promise<Layout> {
  await checkFolder(root, 'data set');
  if (labelsRoot !== root) await checkFolder(labelsRoot, 'label files');
  const files = await walk(root);
  const labelFiles = labelsRoot === root ? files : await walk(labelsRoot);
  return detectFrom(root, files, labelFiles);
}

async function detectFrom(root: string, files: readonly Entry[], labelFiles: readonly Entry[]): Promise<Layout> {
  const tiffs = new Set(layoutImages('midog', files).map((e) => basename(e.path)));
  const coco = tiffs.size ? await findCocoJson(labelFiles, tiffs) : { passedOver: [] };
  if (coco.json) return 'midog';
  for (const l of ['mitos2012', 'tutorial', 'amida13'] as const) if (layoutImages(l, files).length) return l;
  const nImg = files.filter(isImage).length;
  const nCsv = files.filter(isCsv).length;
  throw new Error(
    `${root}: no labelled images found (${nImg} image file(s) and ${nCsv} CSV file(s) here); tried the layouts ${Object.values(LAYOUT_HELP).join(', ')}` +
      `${passedOverNote(coco.passedOver)}. Use --layout to name one, or check the folder.`,
  );
}

/** Images and centroids of a labelled data set under `root` (see the header for the layouts). */
export async function loadDataset(root: string, opts: LoadOptions = {}): Promise<LabelledImage[]> {
  await checkFolder(root, 'data set');
  const labelsRoot = opts.labelsRoot ?? root;
  if (labelsRoot !== root) await checkFolder(labelsRoot, 'label files');
  if (opts.umPerPixel !== undefined && !(opts.umPerPixel > 0)) throw new RangeError(`loadDataset: umPerPixel must be > 0, got ${opts.umPerPixel}`);
  const warn = opts.onWarning ?? (() => {});
  const outside: string[] = [];
  const files = await walk(root, 8, outside);
  const labelFiles = labelsRoot === root ? files : await walk(labelsRoot, 8, outside);
  if (outside.length) warn(`${outside.length} symbolic link(s) pointing outside the data set folder (or broken) were not followed: ${listSome(outside)}`);
  const opt = opts.layout ?? 'auto';
  if (!['auto', 'tupac16', 'mitos2012', 'amida13', 'tutorial', 'midog'].includes(opt)) {
    throw new Error(`loadDataset: unknown layout '${opt}' (use auto, mitos2012, amida13, tupac16, tutorial or midog)`);
  }
  const layout: Layout = opt === 'auto' ? await detectFrom(root, files, labelFiles) : opt === 'tupac16' ? 'amida13' : opt;
  const images = layoutImages(layout, files);
  if (!images.length) {
    throw new Error(`${root}: no images of the ${LAYOUT_HELP[layout]} layout found (${files.filter(isImage).length} image file(s) in all)`);
  }
  const kept = new Set(images.map((e) => e.path));
  const skipped = files.filter((e) => isImage(e) && !kept.has(e.path));
  if (skipped.length) warn(`${skipped.length} image file(s) skipped by the ${layout} layout, ${SKIP_REASON[layout]}: ${listSome(skipped.map((e) => e.rel))}`);
  const mpp = (e: Entry) => opts.umPerPixel ?? (layout === 'mitos2012' && /^h/i.test(e.stem) ? MITOS2012_H_UM_PER_PIXEL : LAYOUT_UM_PER_PIXEL[layout]);
  let out: LabelledImage[];
  switch (layout) {
    case 'mitos2012':
    case 'tutorial':
      out = await loadFlat(layout, images, labelFiles, mpp, opts.tutorialOrder ?? 'xy', warn);
      break;
    case 'amida13':
      out = await loadAmida(images, labelFiles, mpp, warn);
      break;
    case 'midog':
      out = await loadMidog(root, images, labelFiles, mpp, warn);
      break;
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function duplicateCheck(entries: readonly Entry[], key: (e: Entry) => string, what: string): Map<string, Entry> {
  const m = new Map<string, Entry>();
  for (const e of entries) {
    const k = key(e);
    const prev = m.get(k);
    if (prev) throw new Error(`two ${what} for ${k}: ${prev.path} and ${e.path}; keep one`);
    m.set(k, e);
  }
  return m;
}

/** mitos2012 and tutorial: image and CSV share a stem; the CSV may be anywhere under the label root. */
async function loadFlat(
  layout: 'mitos2012' | 'tutorial',
  images: readonly Entry[],
  labelFiles: readonly Entry[],
  mpp: (e: Entry) => number,
  order: 'xy' | 'rowcol',
  warn: (m: string) => void,
): Promise<LabelledImage[]> {
  const name = layout === 'mitos2012' ? MITOS_NAME : TUTORIAL_NAME;
  const byStem = duplicateCheck(images, (e) => e.stem, 'images');
  const csvs = duplicateCheck(labelFiles.filter((e) => isCsv(e) && name.test(e.stem) && !isNegativeTree(e)), (e) => e.stem, 'label files');
  for (const [stem, c] of csvs) {
    if (!byStem.has(stem)) throw new Error(`${c.path}: label file without an image (looked for ${stem}.bmp/.tif/.tiff/.png/.jpg); add the image or remove the label file`);
  }
  if (!csvs.size) throw new Error(`${dirname(images[0].path)}: ${images.length} image(s) of the ${LAYOUT_HELP[layout]} layout but no label file (<name>.csv) found`);
  const out: LabelledImage[] = [];
  const unlabelled: string[] = [];
  for (const img of images) {
    const c = csvs.get(img.stem);
    let mitoses: Centroid[] = [];
    if (c) {
      const text = await readText(c.path);
      mitoses = layout === 'mitos2012' ? parseMitos2012Csv(text, c.path) : parseXyCsv(text, c.path, order);
    } else unlabelled.push(img.stem);
    out.push({ id: img.stem, imagePath: img.path, patient: img.stem.split('_')[0], umPerPixel: mpp(img), mitoses });
  }
  if (unlabelled.length) warn(`${unlabelled.length} image(s) have no label file and count as having no mitoses: ${unlabelled.slice(0, 5).join(', ')}${unlabelled.length > 5 ? ', ...' : ''}`);
  return out;
}

/** amida13/tupac16: key <case>/<image>; labels beside the image or in parallel trees. */
async function loadAmida(images: readonly Entry[], labelFiles: readonly Entry[], mpp: (e: Entry) => number, warn: (m: string) => void): Promise<LabelledImage[]> {
  const key = (e: Entry) => `${e.parent}/${e.stem}`;
  const byKey = duplicateCheck(images, key, 'images');
  const cases = new Set(images.map((e) => e.parent));
  const csvs = labelFiles.filter((e) => isCsv(e) && DIGITS.test(e.stem) && DIGITS.test(e.parent));
  const pos = new Map<string, Entry>();
  const neg = new Map<string, Entry>();
  const orphanCases = new Set<string>();
  for (const c of csvs) {
    const k = key(c);
    if (!cases.has(c.parent)) {
      orphanCases.add(c.parent);
      continue;
    }
    if (!byKey.has(k)) throw new Error(`${c.path}: label file without an image (case ${c.parent} has images, but no ${c.stem}.tif); add the image or remove the label file`);
    const m = isNegativeTree(c) ? neg : pos;
    const prev = m.get(k);
    if (prev) {
      // Beside the image wins over a parallel tree; two in parallel trees is ambiguous.
      const img = byKey.get(k)!;
      const beside = (e: Entry) => dirname(e.path) === dirname(img.path);
      if (beside(prev) === beside(c)) throw new Error(`two label files for ${k}: ${prev.path} and ${c.path}; keep one (or point --labels at one tree)`);
      if (beside(c)) m.set(k, c);
    } else m.set(k, c);
  }
  if (!pos.size) {
    throw new Error(`${dirname(dirname(images[0].path))}: ${images.length} image(s) of the ${LAYOUT_HELP.amida13} layout but no mitosis label file found (<case>/<image>.csv); point --labels at the ground-truth folder`);
  }
  if (orphanCases.size) warn(`label files of ${orphanCases.size} case(s) without images were ignored: ${[...orphanCases].sort().slice(0, 8).join(', ')}${orphanCases.size > 8 ? ', ...' : ''}`);
  const out: LabelledImage[] = [];
  const unlabelled = images.filter((img) => !pos.has(key(img))).map(key);
  if (unlabelled.length) warn(`${unlabelled.length} image(s) have no label file and count as having no mitoses: ${listSome(unlabelled)}`);
  for (const img of images) {
    const k = key(img);
    const p = pos.get(k);
    const n = neg.get(k);
    const rec: LabelledImage = {
      id: k,
      imagePath: img.path,
      patient: img.parent,
      umPerPixel: mpp(img),
      mitoses: p ? parseRowColCsv(await readText(p.path), p.path) : [],
    };
    if (n) rec.hardNegatives = parseRowColCsv(await readText(n.path), n.path);
    out.push(rec);
  }
  return out;
}

async function loadMidog(root: string, images: readonly Entry[], labelFiles: readonly Entry[], mpp: (e: Entry) => number, warn: (m: string) => void): Promise<LabelledImage[]> {
  const byName = duplicateCheck(images, (e) => basename(e.path), 'images');
  const { json, passedOver } = await findCocoJson(labelFiles, new Set(byName.keys()));
  if (!json) throw new Error(`${root}: no COCO json (such as MIDOG.json) lists the TIFF images found here${passedOverNote(passedOver)}; put it beside them or point --labels at its folder`);
  const labels = parseMidogJson(json.text, json.path);
  const out: LabelledImage[] = [];
  let missing = 0, unlabelled = 0;
  for (const l of labels) {
    const img = byName.get(basename(l.fileName));
    if (!img) {
      missing++;
      continue;
    }
    if (l.mitoses.length + l.hardNegatives.length === 0) {
      unlabelled++;
      continue;
    }
    out.push({ id: img.stem, imagePath: img.path, patient: img.stem, umPerPixel: mpp(img), mitoses: l.mitoses, hardNegatives: l.hardNegatives });
  }
  if (missing) warn(`${missing} image(s) listed in ${basename(json.path)} are not under ${root}: left out`);
  const listed = new Set(labels.map((l) => basename(l.fileName)));
  const notListed = [...byName.keys()].filter((n) => !listed.has(n));
  if (notListed.length) warn(`${notListed.length} TIFF image(s) are not listed in ${basename(json.path)}: left out: ${listSome(notListed)}`);
  if (unlabelled) warn(`${unlabelled} image(s) have no annotation at all in ${basename(json.path)} (unlabelled): left out`);
  if (!out.length) throw new Error(`${root}: none of the images listed in ${json.path} is labelled and present`);
  return out;
}

// ---- patch folders ------------------------------------------------------------------------------

export interface PatchFile {
  path: string;
  /** 1 = mitosis. */
  label: 0 | 1;
  /** Case of a TUPAC name <case>_<image>_<k>.jpg (slide of a MITOS-ATYPIA name H03_00Aa_1.jpg): the part before the first _; else the file name. */
  patient: string;
}

const POSITIVE_DIR = /^(mitos[ie]s|mitotic|positives?|pos|1)$/i;
const NEGATIVE_DIR = /^(non[-_ ]?mitos[ie]s|non[-_ ]?mitotic|not[-_ ]?mitotic|negatives?|neg|0)$/i;

/** Patches sorted into class folders: root/mitosis/*.jpg and root/non-mitosis/*.jpg (also mitoses/, non-mitoses/, positive/, negative/, 1/, 0/). */
export async function loadPatchFolders(root: string): Promise<PatchFile[]> {
  await checkFolder(root, 'patch folders');
  const dirs = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory() || d.isSymbolicLink());
  const classes: { dir: string; label: 0 | 1 }[] = [];
  for (const d of dirs) {
    if (POSITIVE_DIR.test(d.name)) classes.push({ dir: join(root, d.name), label: 1 });
    else if (NEGATIVE_DIR.test(d.name)) classes.push({ dir: join(root, d.name), label: 0 });
  }
  if (!classes.length) {
    throw new Error(`${root}: no class folders found; expected mitosis/ and non-mitosis/ (found ${dirs.map((d) => d.name + '/').join(', ') || 'no folders'})`);
  }
  const out: PatchFile[] = [];
  for (const c of classes) {
    for (const e of (await walk(c.dir)).filter(isImage)) {
      const us = e.stem.indexOf('_');
      out.push({ path: e.path, label: c.label, patient: us > 0 ? e.stem.slice(0, us) : e.stem });
    }
  }
  if (!out.length) throw new Error(`${root}: the class folders hold no images (.jpg, .png, .tif, .bmp)`);
  return out.sort((a, b) => b.label - a.label || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Writes class patches as small labelled fields in the tutorial's layout, so that `train`, `eval`
 * and `crossval` (whole detector, contest scoring) run on them: every patch becomes
 * <out>/<split>/<case>_<n>.tif with a .csv holding its centre for a mitosis patch and nothing for
 * a non-mitosis one (n numbers the case's patches, mitoses first). Patches of the `test` cases go
 * to <out>/test, the others to <out>/train; `cases` keeps only those cases.
 */
export async function writePatchesAsFields(
  root: string,
  out: string,
  opts: { test?: readonly string[]; cases?: readonly string[] } = {},
): Promise<{ train: { mitoses: number; others: number }; test: { mitoses: number; others: number } }> {
  const test = new Set(opts.test ?? []);
  const keep = opts.cases ? new Set(opts.cases) : undefined;
  const counts = { train: { mitoses: 0, others: 0 }, test: { mitoses: 0, others: 0 } };
  const next = new Map<string, number>();
  for (const f of await loadPatchFolders(root)) {
    if (keep && !keep.has(f.patient)) continue;
    const img = await readImageFile(f.path);
    const split = test.has(f.patient) ? 'test' : 'train';
    const dir = join(out, split);
    await mkdir(dir, { recursive: true });
    const n = (next.get(f.patient) ?? 0) + 1;
    next.set(f.patient, n);
    const stem = `${f.patient}_${String(n).padStart(3, '0')}`;
    await writeFileAtomic(join(dir, `${stem}.tif`), encodeTiff(img));
    await writeFileAtomic(join(dir, `${stem}.csv`), f.label ? `${(img.width - 1) / 2},${(img.height - 1) / 2}\n` : '');
    if (f.label) counts[split].mitoses++;
    else counts[split].others++;
  }
  return counts;
}

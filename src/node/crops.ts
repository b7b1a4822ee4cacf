// Crops and patches on disk as training images (Node only): AMi-Br figure crops (every figure of
// the slide inside a crop labelled) and folders of mitosis/ and non-mitosis/ patches (e.g. the
// TUPAC16 auxiliary patches), each rescaled to the training resolution, with `region` = the
// centres whose whole window lies inside real tissue (src/datasets/crops.ts, cropRegion).
// A file that cannot be used (unreadable, too small for the window) is skipped and reported.
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { amiBrFileName, contentBounds, cropCentroids, parseAmiBrCsv, scaleBounds, scalePoint, type AmiBrRow } from '../datasets/crops.js';
import { rescaleToMpp, type RgbaImage } from '../io/image.js';
import { regionArea, windowRegion, type Point, type Region } from '../train/sampling.js';
import type { TrainingImage } from '../train/training-set.js';
import { readImageFile } from './files.js';

export interface CropLoadHooks {
  /** A file that was skipped, and why. */
  onWarning?: (file: string, reason: string) => void;
  /** At the end: how many images were loaded and how many files were skipped. */
  onDone?: (counts: { loaded: number; skipped: number }) => void;
}

export interface AmiBrOptions extends CropLoadHooks {
  /** µm per pixel of the training images. */
  trainMpp: number;
  /** µm per pixel of the crops (default 0.25: 40x; AMi-Br's scanners are 0.23-0.26), or per row. */
  cropMpp?: number | ((row: AmiBrRow) => number);
  /** The net's input window S (pixels at trainMpp). */
  windowSize: number;
  /** Extra pixels (at trainMpp) kept between the window and the tissue's edge (rotation/scale
   * augmentation; default 0). */
  marginPx?: number;
  /** Which slides to read (default: all). */
  slides?: (slide: string) => boolean;
  /** Half the crop side on the slide (default 64: AMi-Br's 128x128 crops). */
  half?: number;
}

const IMAGE_EXT = new Set(['.tif', '.tiff', '.bmp', '.png', '.jpg', '.jpeg']);

/** One image at trainMpp with its centroids mapped and its region set; a reason string when unusable. */
function prepare(raw: RgbaImage, mpp: number, trainMpp: number, windowSize: number, margin: number, centroids: readonly Point[], bounds: Region = { x0: 0, y0: 0, x1: raw.width, y1: raw.height }): { image: RgbaImage; mitoses: Point[]; region: Region } | string {
  const image = Math.abs(mpp / trainMpp - 1) > 1e-6 ? rescaleToMpp(raw, mpp, trainMpp) : raw;
  const content = scaleBounds(bounds, raw.width, raw.height, image.width, image.height);
  const region = windowRegion(content, windowSize, margin);
  if (!regionArea(region)) {
    const cw = content.x1 - content.x0, ch = content.y1 - content.y0;
    return `${raw.width}x${raw.height} px at ${mpp} µm/px is ${image.width}x${image.height} px at ${trainMpp} µm/px` +
      `${cw !== image.width || ch !== image.height ? ` (${cw}x${ch} px of tissue)` : ''}: too small for a ${windowSize}x${windowSize} window with real context`;
  }
  const mitoses = centroids.map((c) => scalePoint(c, raw.width, raw.height, image.width, image.height));
  return { image, mitoses, region };
}

/** The class folders under patches/ (normal, atypical), sorted. */
async function classFolders(patches: string): Promise<string[]> {
  const ents = await readdir(patches, { withFileTypes: true });
  return ents.filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

/**
 * The AMi-Br crops under `root` (AMI-BR.csv + patches/<class>/<dataset>_<uid>.png) as training
 * images at opts.trainMpp: id = the file name, patient = slidePatient (e.g. 'TUPAC16:27'),
 * mitoses = every figure of the slide inside the crop (its own at the centre), region = the
 * window-fit centres inside the tissue part of the crop (black padding outside the slide is not
 * tissue). Ordered as the CSV.
 */
export async function loadAmiBrCrops(root: string, opts: AmiBrOptions): Promise<TrainingImage[]> {
  if (!(opts.trainMpp > 0)) throw new RangeError(`loadAmiBrCrops: trainMpp must be > 0, got ${opts.trainMpp}`);
  const csvPath = join(root, 'AMI-BR.csv');
  let text: string;
  try {
    text = await readFile(csvPath, 'utf8');
  } catch (e) {
    throw new Error(`${csvPath}: cannot read the AMi-Br table (${(e as Error).message})`);
  }
  const rows = parseAmiBrCsv(text, csvPath);
  const half = opts.half ?? 64;
  const patches = join(root, 'patches');
  const folders = await classFolders(patches).catch((e: Error) => {
    throw new Error(`${patches}: cannot list the crop folders (${e.message})`);
  });
  const where = new Map<string, string>();
  for (const f of folders) for (const name of await readdir(join(patches, f))) if (!where.has(name)) where.set(name, join(patches, f, name));
  const bySlide = new Map<string, AmiBrRow[]>();
  for (const r of rows) {
    if (!bySlide.has(r.slide)) bySlide.set(r.slide, []);
    bySlide.get(r.slide)!.push(r);
  }
  const out: TrainingImage[] = [];
  let skipped = 0;
  const skip = (file: string, reason: string) => {
    skipped++;
    opts.onWarning?.(file, reason);
  };
  for (const row of rows) {
    if (opts.slides && !opts.slides(row.slide)) continue;
    const name = amiBrFileName(row);
    const path = where.get(name);
    if (!path) {
      skip(join(patches, name), `no such crop in ${folders.join('/') || 'patches/'} (${csvPath}:${row.line})`);
      continue;
    }
    let raw: RgbaImage;
    try {
      raw = await readImageFile(path);
    } catch (e) {
      skip(path, (e as Error).message);
      continue;
    }
    if (raw.width !== 2 * half || raw.height !== 2 * half) {
      skip(path, `${raw.width}x${raw.height} px, expected ${2 * half}x${2 * half} (a crop centred on the figure)`);
      continue;
    }
    const mpp = typeof opts.cropMpp === 'function' ? opts.cropMpp(row) : (opts.cropMpp ?? 0.25);
    if (!(mpp > 0)) throw new RangeError(`loadAmiBrCrops: crop µm per pixel must be > 0, got ${mpp} for ${name}`);
    const centroids = cropCentroids(bySlide.get(row.slide)!, row.slide, row.x, row.y, half);
    const p = prepare(raw, mpp, opts.trainMpp, opts.windowSize, opts.marginPx ?? 0, centroids, contentBounds(raw));
    if (typeof p === 'string') {
      skip(path, p);
      continue;
    }
    out.push({ id: name, patient: row.patient, ...p });
  }
  opts.onDone?.({ loaded: out.length, skipped });
  return out;
}

export interface PatchFolderOptions extends CropLoadHooks {
  trainMpp: number;
  /** µm per pixel of the patches. */
  mpp: number;
  windowSize: number;
  /** As AmiBrOptions.marginPx. */
  marginPx?: number;
  /** The patient of a patch from its file name (throw to skip the file), e.g. tupacAuxPatient. */
  patient: (file: string) => string;
}

/**
 * Every patch of root/mitosis/ and root/non-mitosis/ as a training image at trainMpp: a mitosis
 * patch has one centroid at its centre pixel (floor(w / 2), floor(h / 2)), as centreSample),
 * a non-mitosis patch none; region = cropRegion (window-fit centres). id = '<class>/<file>'.
 * Sorted by class, then file name.
 */
export async function loadPatchFolderImages(root: string, opts: PatchFolderOptions): Promise<TrainingImage[]> {
  if (!(opts.trainMpp > 0 && opts.mpp > 0)) throw new RangeError(`loadPatchFolderImages: µm per pixel must be > 0 (mpp ${opts.mpp}, trainMpp ${opts.trainMpp})`);
  const out: TrainingImage[] = [];
  let skipped = 0;
  const skip = (file: string, reason: string) => {
    skipped++;
    opts.onWarning?.(file, reason);
  };
  let found = 0;
  for (const cls of ['mitosis', 'non-mitosis'] as const) {
    const dir = join(root, cls);
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => IMAGE_EXT.has(extname(n).toLowerCase())).sort();
    } catch {
      continue;
    }
    found++;
    for (const name of names) {
      const path = join(dir, name);
      let patient: string;
      try {
        patient = opts.patient(name);
      } catch (e) {
        skip(path, `no patient: ${(e as Error).message}`);
        continue;
      }
      let raw: RgbaImage;
      try {
        raw = await readImageFile(path);
      } catch (e) {
        skip(path, (e as Error).message);
        continue;
      }
      const centre = { x: Math.floor(raw.width / 2), y: Math.floor(raw.height / 2) };
      const p = prepare(raw, opts.mpp, opts.trainMpp, opts.windowSize, opts.marginPx ?? 0, cls === 'mitosis' ? [centre] : []);
      if (typeof p === 'string') {
        skip(path, p);
        continue;
      }
      out.push({ id: `${cls}/${name}`, patient, ...p });
    }
  }
  if (!found) throw new Error(`${root}: neither mitosis/ nor non-mitosis/ is a readable folder`);
  opts.onDone?.({ loaded: out.length, skipped });
  return out;
}

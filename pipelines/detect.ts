// `mitoscan detect <images...> [--model a.mitoscan[,b.mitoscan]] [options]`: the detector of
// Cireşan et al. 2013 (method.md §1) on each image: dense probability map of every net on every
// dihedral variant of the preset, averaged, smoothed with a disk of radius d, greedy non-maxima
// suppression above the threshold. Images at another resolution than the model's (--mpp) are
// resampled to it; detections are reported in the image's own pixels.
//
// Writes into --out, per image (src/detect/report.ts): <name>.csv, <name>.json, <name>.geojson,
// <name>.overlay.png, <name>.heatmap.png; and summary.csv (one row per image). A bad image is
// reported on stderr and skipped; the command then exits with status 1 after the others are done.
import { basename, extname, join, resolve } from 'node:path';
import { createNodeEngine } from '../engine/node.js';
import { parseXyCsv, type Centroid } from '../src/datasets/labels.js';
import { detectMitoses, PRESETS, type Preset } from '../src/detect/detector.js';
import { badRecordedThreshold, DEFAULT_THRESHOLD, modelThreshold, recordedThreshold } from '../src/detect/threshold.js';
import { writeReport } from '../src/detect/report.js';
import type { Scores } from '../src/eval/score.js';
import { MAX_IMAGE_PIXELS, rescaleToMpp } from '../src/io/image.js';
import type { Engine } from '../engine/engine.js';
import { largestTile, maxTensorBytes } from '../src/model/dense.js';
import type { Model } from '../src/model/model-file.js';
import { loadDefaultModel } from '../src/node/default-model.js';
import { checkExistingResults, checkOutputDir, checkRegularFile, lockOutputDir, readImageFile, readRegularFile, readImagePageCount, writeFileAtomic } from '../src/node/files.js';
import { loadModel } from '../src/node/model-io.js';
import { checkFlags, flagBoolean, flagMpp, flagNumber, flagString, parseArgs, UsageError } from './args.js';
import { windowSize } from '../src/model/spec.js';
import { formatSeconds, Progress } from './progress.js';
import { table } from './table.js';

const USAGE = `usage: mitoscan detect <image...> [--model a.mitoscan[,b.mitoscan]] [options]

Finds mitoses in H&E images (TIFF, PNG, JPEG, BMP) with the detector of Cireşan et al. 2013.

options:
  --model a.mitoscan[,b.mitoscan]  the net(s) of the ensemble (default: the embedded default model)
  --preset DNNf1|DNNf12|DNN        DNNf1 = first net only (default), DNNf12 = every net,
                                   DNN = every net on 8 rotations/mirrors (8x slower)
  --threshold <t>                  keep detections whose smoothed probability is > t
                                   (default: the model's recorded threshold, else ${DEFAULT_THRESHOLD})
  --mpp <µm per pixel>             resolution of the images (default: the model's); other
                                   resolutions are resampled to the model's
  --out <dir>                      output folder (default ./mitoscan-out)
  --truth a.csv[,b.csv]            ground truth, one x,y csv per image in order: circles TP green,
                                   FP red, missed blue, and precision/recall/F1 (5 µm match radius)
  --no-heatmap                     skip <name>.heatmap.png (saves the map's memory)
  --page <n>|all                   page of multi-page TIFFs (0 = first; default 0); all: every page,
                                   written as <name>.p<k>.*
  --tile <px>                      dense-evaluation tile size (default: automatic)
  --force                          replace the results of an earlier run in --out (without it, an
                                   --out that already holds files this run would write is refused)

writes, per image <name>: <name>.csv (x,y,score), <name>.json, <name>.geojson (QuPath points),
<name>.overlay.png, <name>.heatmap.png; and summary.csv with the counts of every image.`;

const FLAGS = ['model', 'preset', 'threshold', 'mpp', 'out', 'truth', 'no-heatmap', 'page', 'tile', 'force', 'help'];

/** The files detect writes per image <name> (src/detect/report.ts), besides summary.csv. */
export const IMAGE_OUTPUTS = ['csv', 'json', 'geojson', 'overlay.png', 'heatmap.png'];

// The threshold rule lives in src/detect/threshold.ts (shared with the library and the page).
export { modelThreshold, recordedThreshold };

/** Loads `--model a,b` (or the embedded default model) and checks that the nets share one resolution. */
export async function loadModels(modelArg: string | undefined): Promise<{ models: Model[]; names: string[] }> {
  let models: Model[];
  let names: string[];
  if (modelArg === undefined) {
    models = [await loadDefaultModel()];
    names = ['(embedded default model)'];
  } else {
    names = modelArg.split(',').map((s) => s.trim()).filter(Boolean);
    if (!names.length) throw new UsageError('--model: no file given');
    models = [];
    for (const p of names) {
      await checkRegularFile(p, 'model file'); // a FIFO or /dev/zero would be read for ever
      const m = await loadModel(p);
      const bad = badRecordedThreshold(m);
      if (bad) throw new Error(`${p}: ${bad}; the file is corrupt (retrain it, or give --threshold)`);
      models.push(m);
    }
  }
  const mpp = models[0].umPerPixel;
  models.forEach((m, i) => {
    if (Math.abs(m.umPerPixel - mpp) > 1e-9) {
      throw new Error(`${names[i]}: its net works at ${m.umPerPixel} µm/px but ${names[0]} at ${mpp} µm/px; the nets of an ensemble must share one resolution`);
    }
  });
  return { models, names };
}

/** Output stems, unique: the file name without its extension, or with `_<ext>` when two images share it. */
export function outputNames(paths: readonly string[]): string[] {
  const stem = (p: string) => basename(p, extname(p)) || basename(p);
  const stems = paths.map(stem);
  const count = new Map<string, number>();
  for (const s of stems) count.set(s, (count.get(s) ?? 0) + 1);
  const used = new Set<string>();
  return paths.map((p, i) => {
    let n = stems[i];
    if (count.get(n)! > 1) n = `${n}_${extname(p).slice(1).toLowerCase() || 'noext'}`;
    n = n.replace(/[^\w.\-]+/g, '_');
    let k = 2;
    const base = n;
    while (used.has(n) || n === 'summary') n = `${base}-${k++}`;
    used.add(n);
    return n;
  });
}

/**
 * Steps of the progress bar for one image: tiles x nets x variants, the tiles as denseMap cuts the
 * image at the models' resolution (the detector reports one step per tile of each net and variant).
 */
export function detectionSteps(e: Engine, models: readonly Model[], preset: Preset, width: number, height: number, imageMpp: number, tile?: number): number {
  const f = imageMpp / models[0].umPerPixel;
  const H = Math.abs(f - 1) > 1e-6 ? Math.max(1, Math.round(height * f)) : height;
  const W = Math.abs(f - 1) > 1e-6 ? Math.max(1, Math.round(width * f)) : width;
  const p = PRESETS[preset];
  let steps = 0;
  for (const m of models.slice(0, Math.min(models.length, p.nets))) {
    const t = tile ?? largestTile(m.spec, maxTensorBytes(e), Math.max(H, W));
    steps += Math.ceil(H / t) * Math.ceil(W / t) * p.variants;
  }
  return steps;
}

/** Refuses an image that resampling to the model's resolution would make smaller than the net's window or too large. */
export function checkResampledSize(path: string, width: number, height: number, imageMpp: number, model: Model): void {
  const f = imageMpp / model.umPerPixel;
  if (Math.abs(f - 1) <= 1e-6) return;
  const W = Math.max(1, Math.round(width * f)), H = Math.max(1, Math.round(height * f));
  const S = windowSize(model.spec);
  const at = `at ${imageMpp} µm/px the ${width}x${height} image is resampled to ${W}x${H} at the net's ${model.umPerPixel} µm/px`;
  if (Math.min(W, H) < S) throw new Error(`${path}: ${at}, smaller than the net's ${S}x${S} window; check --mpp (40x scans are about 0.25 µm/px)`);
  if (W * H > MAX_IMAGE_PIXELS) throw new Error(`${path}: ${at}, more than the ${MAX_IMAGE_PIXELS / 1e6} megapixels mitoscan handles at once; check --mpp, or crop the image into fields`);
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

interface ImageRow {
  path: string;
  /** Set with --page all. */
  page?: number;
  name: string;
  width?: number;
  height?: number;
  count?: number;
  seconds?: number;
  truth?: number;
  scores?: Scores;
  error?: string;
}

async function readTruth(path: string): Promise<Centroid[]> {
  let bytes: Uint8Array;
  try {
    bytes = await readRegularFile(path, 'truth file', 256 * 1024 * 1024);
  } catch (e) {
    const msg = (e as Error).message;
    throw new Error(msg.endsWith('no such truth file') ? `${path}: no such truth file (--truth expects an x,y csv per image)` : msg);
  }
  return parseXyCsv(new TextDecoder('utf-8').decode(bytes), path);
}

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, ['help', 'no-heatmap', 'force']);
  if (args.flags.has('help')) {
    console.log(USAGE);
    return;
  }
  checkFlags(args, FLAGS);
  const images = args.positionals;
  if (!images.length) throw new UsageError('no image given');
  if (images.some((p) => !p.trim())) throw new UsageError('no input file given: an image path is empty');
  const preset = flagString(args, 'preset', 'DNNf1') as Preset;
  if (!Object.hasOwn(PRESETS, preset)) throw new UsageError(`--preset: '${preset}' is not one of ${Object.keys(PRESETS).join(', ')}`);
  const fixedT = args.flags.has('threshold') ? flagNumber(args, 'threshold', 0, (v) => v >= 0 && v < 1) : undefined;
  const mppFlag = flagMpp(args);
  const allPages = flagString(args, 'page') === 'all';
  const page = allPages ? 0 : flagNumber(args, 'page', 0, (v) => Number.isInteger(v) && v >= 0);
  const tile = args.flags.has('tile') ? flagNumber(args, 'tile', 0, (v) => Number.isInteger(v) && v >= 16 && v <= 16384) : undefined;
  const outDir = resolve(flagString(args, 'out') ?? 'mitoscan-out');
  const wantMap = !args.flags.has('no-heatmap');
  const force = flagBoolean(args, 'force');
  const truthArg = flagString(args, 'truth');
  const truthPaths = truthArg?.split(',').map((s) => s.trim()).filter(Boolean);
  if (truthPaths && allPages) throw new UsageError('--truth cannot be paired with --page all (one truth file per image); detect one page at a time');
  if (truthPaths && truthPaths.length !== images.length) {
    throw new UsageError(`--truth: ${truthPaths.length} truth file(s) for ${images.length} image(s); give one x,y csv per image, in the same order, separated by commas`);
  }

  await checkOutputDir(outDir); // before any work: a bad --out fails now, not after the last image
  const { models, names: modelNames } = await loadModels(flagString(args, 'model'));
  const modelMpp = models[0].umPerPixel;
  const mpp = mppFlag ?? modelMpp;
  const threshold = fixedT ?? modelThreshold(models[0]);
  const truths = truthPaths ? await Promise.all(truthPaths.map(readTruth)) : undefined;
  const nets = Math.min(models.length, PRESETS[preset].nets);
  const names = outputNames(images);
  // What to detect: one page of every image, or with --page all every page of every image.
  const jobs: { path: string; page: number; name: string; truth?: Centroid[]; truthPath?: string; paged: boolean }[] = [];
  for (const [i, path] of images.entries()) {
    let pages = 1;
    if (allPages) {
      try {
        pages = await readImagePageCount(path);
      } catch {
        pages = 1; // the loop below reads it again and reports the error with the others
      }
    }
    for (let k = 0; k < pages; k++) {
      jobs.push({ path, page: allPages ? k : page, name: pages > 1 ? `${names[i]}.p${k}` : names[i], truth: truths?.[i], truthPath: truthPaths?.[i], paged: pages > 1 });
    }
  }

  // One run at a time per folder (two would each write a summary.csv of only their own images),
  // and no silent overwrite of an earlier run's results.
  const lock = await lockOutputDir(outDir, ['mitoscan', 'detect', ...argv].join(' '), { onWarning: (m) => console.error(`mitoscan detect: warning: ${m}`) });
  try {
    const outputs = ['summary.csv', ...jobs.flatMap((j) => IMAGE_OUTPUTS.map((x) => `${j.name}.${x}`))];
    const replaced = await checkExistingResults(outDir, outputs, force);
    if (replaced.length) console.error(`mitoscan detect: --force: replacing ${replaced.length} file(s) of an earlier run in ${outDir}`);
    await detectAll();
  } finally {
    lock.release();
  }

  async function detectAll(): Promise<void> {
    const rows: ImageRow[] = [];
    const started = Date.now();
    // the GPU opens with the first readable image: a run whose images all fail never starts it
    let engine: Engine | undefined;
    try {
      for (const [i, job] of jobs.entries()) {
        const { path, page } = job;
        const row: ImageRow = { path, name: job.name, ...(job.paged ? { page } : {}) };
        rows.push(row);
        let progress: Progress | undefined;
        try {
          const t0 = Date.now();
          const image = await readImageFile(path, page ? { page } : undefined);
          row.width = image.width;
          row.height = image.height;
          checkResampledSize(path, image.width, image.height, mpp, models[0]);
          const e = (engine ??= await createNodeEngine());
          const truth = job.truth;
          if (truth) {
            for (const c of truth) {
              if (c.x < -0.5 || c.y < -0.5 || c.x > image.width - 0.5 || c.y > image.height - 0.5) {
                throw new Error(`${job.truthPath}: the point (${c.x}, ${c.y}) lies outside the ${image.width}x${image.height} image ${path}; is the file x,y (not row,col) and for this image?`);
              }
            }
          }
          const label = `detect ${jobs.length > 1 ? `${i + 1}/${jobs.length} ` : ''}${basename(path)}${job.paged ? ` page ${page}` : ''}`;
          const bar = new Progress(label, detectionSteps(e, models, preset, image.width, image.height, mpp, tile));
          progress = bar;
          bar.update(0);
          let step = 0;
          const res = await detectMitoses(e, models, image, {
            preset,
            threshold,
            umPerPixel: mpp,
            rescale: rescaleToMpp,
            keepMap: wantMap,
            tileSize: tile,
            onProgress: () => bar.update(++step),
          });
          bar.done();
          progress = undefined;
          row.seconds = (Date.now() - t0) / 1000;
          row.count = res.detections.length;
          const rep = await writeReport(
            outDir,
            {
              name: job.name,
              imageName: resolve(path),
              image,
              umPerPixel: mpp,
              detections: res.detections,
              map: res.map,
              truth,
              meta: {
                models: modelNames.slice(0, nets).map((m) => (m.startsWith('(') ? m : resolve(m))),
                nets: models.slice(0, nets).map((m) => m.spec.name),
                preset,
                threshold,
                modelUmPerPixel: modelMpp,
                smoothingRadiusPx: res.radius,
                resampled: res.scale !== 1,
                page,
                seconds: row.seconds,
              },
            },
            writeFileAtomic,
          );
          if (truth) {
            row.truth = truth.length;
            row.scores = rep.scores;
          }
        } catch (err) {
          if (progress && process.stderr.isTTY) process.stderr.write('\n'); // end the bar's line
          const msg = err instanceof Error ? err.message : String(err);
          row.error = msg.includes(path) ? msg : `${path}: ${msg}`;
          console.error(`mitoscan detect: ${row.error}`);
        }
      }
    } finally {
      engine?.destroy();
    }

    // summary.csv and the table
    const withTruth = !!truths;
    const header = ['image', ...(allPages ? ['page'] : []), 'name', 'width', 'height', 'count', 'seconds', ...(withTruth ? ['truth', 'tp', 'fp', 'fn', 'precision', 'recall', 'f1'] : []), 'error'];
    const f3 = (v: number | undefined) => (v === undefined ? '' : v.toFixed(3));
    const csvRows = rows.map((r) => [
      csvField(r.path),
      ...(allPages ? [`${r.page ?? ''}`] : []),
      r.name,
      `${r.width ?? ''}`,
      `${r.height ?? ''}`,
      `${r.count ?? ''}`,
      r.seconds === undefined ? '' : r.seconds.toFixed(2),
      ...(withTruth ? [`${r.truth ?? ''}`, `${r.scores?.tp ?? ''}`, `${r.scores?.fp ?? ''}`, `${r.scores?.fn ?? ''}`, f3(r.scores?.precision), f3(r.scores?.recall), f3(r.scores?.f1)] : []),
      csvField(r.error ?? ''),
    ]);
    await writeFileAtomic(join(outDir, 'summary.csv'), [header.join(','), ...csvRows.map((r) => r.join(','))].join('\n') + '\n');

    const failed = rows.filter((r) => r.error);
    const tRows = [['image', 'size', 'count', 'seconds', ...(withTruth ? ['truth', 'TP', 'FP', 'FN', 'F1'] : [])]];
    const shown = (r: ImageRow) => basename(r.path) + (r.page !== undefined ? ` p${r.page}` : '');
    for (const r of rows) {
      if (r.error) tRows.push([shown(r), r.width ? `${r.width}x${r.height}` : '-', 'failed', '-', ...(withTruth ? ['-', '-', '-', '-', '-'] : [])]);
      else
        tRows.push([
          shown(r),
          `${r.width}x${r.height}`,
          `${r.count}`,
          r.seconds!.toFixed(1),
          ...(withTruth ? [`${r.truth}`, `${r.scores!.tp}`, `${r.scores!.fp}`, `${r.scores!.fn}`, r.scores!.f1.toFixed(3)] : []),
        ]);
    }
    console.log(
      `mitoscan detect: ${rows.length - failed.length}/${rows.length} image(s), ${preset} with ${nets} net(s) (${models.slice(0, nets).map((m) => m.spec.name).join(', ')}) at ${modelMpp} µm/px, ` +
        `threshold ${threshold}, images at ${mpp} µm/px, ${formatSeconds((Date.now() - started) / 1000)}`,
    );
    console.log(table(tRows));
    console.log(`wrote ${outDir}/{<name>.csv,.json,.geojson,.overlay.png${wantMap ? ',.heatmap.png' : ''}} and summary.csv`);
    if (failed.length) {
      throw new Error(`${failed.length} of ${rows.length} image(s) failed: ${failed.map((r) => r.path).join(', ')} (see the messages above)`);
    }
  }
}

// `mitoscan detect <images...> [--model a.mitoscan[,b.mitoscan]] [options]`: the detector of
// Cireşan et al. 2013 (method.md §1) on each image: dense probability map of every net on every
// dihedral variant of the preset, averaged, smoothed with a disk of radius d, greedy non-maxima
// suppression above the threshold. Images at another resolution than the model's (--mpp) are
// resampled to it; detections are reported in the image's own pixels.
//
// Writes into --out, per image (src/detect/report.ts): <name>.csv, <name>.json, <name>.geojson,
// <name>.overlay.png, <name>.heatmap.png; and summary.csv (one row per image). A bad image is
// reported on stderr and skipped; the command then exits with status 1 after the others are done.
//
// Whole slides (a tiled pyramidal TIFF, any TIFF whose level 0 is over 50 megapixels, or any TIFF
// with --slide) go through src/slide/detect-slide.ts: tiles over the tissue, one global suppression,
// a per-tile journal (--resume, --shard k/n + `mitoscan merge`), and <name>.csv, <name>.geojson
// (level-0 px), <name>.heatmap.png (density on a low level, hotspot outlined) and
// <name>.hotspot.json (the count a pathologist grades with). docs/SLIDES.md.
import { realpath } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { createNodeEngine } from '../engine/node.js';
import { parseXyCsv, type Centroid } from '../src/datasets/labels.js';
import { detectMitoses, PRESETS, type Preset } from '../src/detect/detector.js';
import { badRecordedThreshold, DEFAULT_THRESHOLD, modelThreshold, recordedThreshold } from '../src/detect/threshold.js';
import { writeReport } from '../src/detect/report.js';
import type { Scores } from '../src/eval/score.js';
import { MAX_IMAGE_PIXELS, rescaleToMpp } from '../src/io/image.js';
import type { Engine } from '../engine/engine.js';
import { denseTiling, maxTensorBytes } from '../src/model/dense.js';
import { checkMapStrideFlag, mapStrideFlag } from './spec-flag.js';
import type { Model } from '../src/model/model-file.js';
import { loadDefaultModel } from '../src/node/default-model.js';
import { checkExistingResults, checkOutputDir, checkRegularFile, lockOutputDir, readImageFile, readRegularFile, readImagePageCount, writeFileAtomic } from '../src/node/files.js';
import { loadModel } from '../src/node/model-io.js';
import { checkFlags, flagBoolean, flagMpp, flagNumber, flagString, parseArgs, UsageError, range, whole } from './args.js';
import { windowSize } from '../src/model/spec.js';
import { formatSeconds, Progress } from './progress.js';
import { crc32, flattenParams } from '../src/model/model-file.js';
import { encodePng, resizeTo } from '../src/io/image.js';
import { openFileSource } from '../src/node/slide-file.js';
import { journalKey, JOURNAL_FORMAT, JOURNAL_VERSION, SlideJournalFile, slideStamp, type JournalHeader } from '../src/node/slide-journal.js';
import { detectSlide, planSlide, type SlideRegion } from '../src/slide/detect-slide.js';
import { areaWindow, densityGrid, findHotspot, hpfWindow, renderDensity, slideGeoJson, type Hotspot, type TissueMask, type Window } from '../src/slide/hotspot.js';
import { detectionsCsv, type Detection } from '../src/detect/results.js';
import { openSlide, type Slide } from '../src/slide/slide.js';
import { slideOverview, slideTissueMask } from '../src/slide/tissue.js';
import { table } from './table.js';

const USAGE = `usage: mitoscan detect <image...> [--model a.mitoscan[,b.mitoscan]] [options]

Finds mitoses in H&E images (TIFF, PNG, JPEG, BMP) with the detector of Cireşan et al. 2013.

options:
  --model a.mitoscan[,b.mitoscan]  the net(s) of the ensemble (default: the embedded default model)
  --preset DNNf1|DNNf12|DNN        DNNf1 = first net only (default), DNNf12 = every net,
                                   DNN = every net on 8 rotations/mirrors (8x slower)
  --map-stride 1|2                 1 = the nets at every pixel (default, the paper's); 2 = at every
                                   second pixel of every second row, the map filled in between:
                                   about 3x faster, a few figures fewer (docs/RESULTS.md)
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
  --tile <px>                      dense-evaluation tile size (default: automatic); for slides,
                                   the slide tile's core side in pixels of the read level (default 512)
  --force                          replace the results of an earlier run in --out (without it, an
                                   --out that already holds files this run would write is refused)

writes, per image <name>: <name>.csv (x,y,score), <name>.json, <name>.geojson (QuPath points),
<name>.overlay.png, <name>.heatmap.png; and summary.csv with the counts of every image.

whole slides (a tiled pyramidal TIFF, e.g. Aperio SVS, OME-TIFF, vips/libtiff pyramids; any TIFF
whose level 0 is over 50 megapixels; or any TIFF with --slide): detected tile by tile over the
tissue at the level nearest the model's µm/px, with one suppression over all tiles (no mitosis
lost or doubled at the seams). The slide's µm/px is read from the file (--mpp when it is missing).
  --slide                          treat every TIFF given as a whole slide
  --region x,y,w,h                 only this rectangle (level-0 pixels)
  --hotspot-area <mm²>             the counting window: the circle of this area holding the most
                                   mitoses (default 2 mm², as recent guidance recommends)
  --hpf <n> --field-diameter <mm>  or n high-power fields of this diameter (e.g. --hpf 10
                                   --field-diameter 0.55), as one circle of their total area
  --shard k/n                      process only the tiles with index % n == k (a job array); the
                                   run writes only its journal: combine them with mitoscan merge
  --resume                         continue a killed run from <name>.journal.jsonl in --out
writes, per slide <name>: <name>.csv and <name>.geojson (level-0 pixels; the geojson holds QuPath
points and the hotspot circle), <name>.heatmap.png (mitoses per cell on a low level, hotspot in
cyan), <name>.hotspot.json and <name>.journal.jsonl (the per-tile journal).
grading: the hotspot's count is graded with the Nottingham mitotic score (Elston & Ellis 1991:
0-9 / 10-19 / >= 20 mitoses in 10 fields of 0.274 mm²), the cut-offs scaled with the window's area
as in the NHSBSP/RCPath table of field diameters (2 mm²: score 1 up to 7, 2 for 8-14, 3 from 15;
10 HPF of 0.55 mm: up to 8, 9-17, from 18).`;

const FLAGS = ['model', 'preset', 'map-stride', 'threshold', 'mpp', 'out', 'truth', 'no-heatmap', 'page', 'tile', 'force', 'help', 'slide', 'region', 'hotspot-area', 'hpf', 'field-diameter', 'shard', 'resume'];

/** The files detect writes per slide <name> (besides summary.csv); the journal is SLIDE_JOURNAL. */
export const SLIDE_OUTPUTS = ['csv', 'geojson', 'heatmap.png', 'hotspot.json'];
export const SLIDE_JOURNAL = 'journal.jsonl';
/** A TIFF whose level 0 is over this many pixels is read as a slide. */
export const SLIDE_PIXELS = 50_000_000;

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
    names = ['(embedded default model: real tissue, see mitoscan info)'];
  } else {
    names = modelArg.split(',').map((s) => s.trim()).filter(Boolean);
    if (!names.length) throw new UsageError('--model: no file given');
    models = [];
    for (const p of names) {
      await checkRegularFile(p, 'model file'); // a FIFO or /dev/zero would be read for ever
      const m = await loadModel(p);
      const bad = badRecordedThreshold(m);
      if (bad) throw new Error(`${p}: ${bad}; the file is corrupt (retrain it)`);
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
export function detectionSteps(e: Engine, models: readonly Model[], preset: Preset, width: number, height: number, imageMpp: number, tile?: number, mapStride = 1): number {
  const f = imageMpp / models[0].umPerPixel;
  const H = Math.abs(f - 1) > 1e-6 ? Math.max(1, Math.round(height * f)) : height;
  const W = Math.abs(f - 1) > 1e-6 ? Math.max(1, Math.round(width * f)) : width;
  const p = PRESETS[preset];
  let steps = 0;
  for (const m of models.slice(0, Math.min(models.length, p.nets))) {
    const { rows, cols } = denseTiling(m.spec, H, W, maxTensorBytes(e), tile, mapStride);
    steps += rows.length * cols.length * p.variants;
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
  const args = parseArgs(argv, ['help', 'no-heatmap', 'force', 'slide', 'resume']);
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
  const fixedT = args.flags.has('threshold') ? flagNumber(args, 'threshold', 0, range(0, 1, { from: true })) : undefined;
  const mapStride = mapStrideFlag(args);
  const mppFlag = flagMpp(args);
  const allPages = flagString(args, 'page') === 'all';
  const page = allPages ? 0 : flagNumber(args, 'page', 0, whole(0));
  const tile = args.flags.has('tile') ? flagNumber(args, 'tile', 0, whole(16, 16384)) : undefined;
  const outDir = resolve(flagString(args, 'out') ?? 'mitoscan-out');
  const wantMap = !args.flags.has('no-heatmap');
  const force = flagBoolean(args, 'force');
  const truthArg = flagString(args, 'truth');
  const truthPaths = truthArg?.split(',').map((s) => s.trim()).filter(Boolean);
  if (truthPaths && allPages) throw new UsageError('--truth cannot be paired with --page all (one truth file per image); detect one page at a time');
  if (truthPaths && truthPaths.length !== images.length) {
    throw new UsageError(`--truth: ${truthPaths.length} truth file(s) for ${images.length} image(s); give one x,y csv per image, in the same order, separated by commas`);
  }

  const slideOpts = parseSlideFlags(args);
  if (tile !== undefined) slideOpts.tile = tile;

  await checkOutputDir(outDir); // before any work: a bad --out fails now, not after the last image
  const { models, names: modelNames } = await loadModels(flagString(args, 'model'));
  checkMapStrideFlag(mapStride, models, modelNames);
  const modelMpp = models[0].umPerPixel;
  const mpp = mppFlag ?? modelMpp;
  const threshold = fixedT ?? modelThreshold(models[0]);
  const truths = truthPaths ? await Promise.all(truthPaths.map(readTruth)) : undefined;
  const nets = Math.min(models.length, PRESETS[preset].nets);
  const names = outputNames(images);
  // What to detect: one page of every image, or with --page all every page of every image.
  const jobs: { path: string; page: number; name: string; truth?: Centroid[]; truthPath?: string; paged: boolean; slide?: boolean }[] = [];
  for (const [i, path] of images.entries()) {
    let pages = 1;
    if (allPages) {
      try {
        pages = await readImagePageCount(path);
      } catch {
        pages = 1; // the loop below reads it again and reports the error with the others
      }
    }
    const slide = !allPages && !page && !truths ? await isSlideFile(path, slideOpts.force) : false;
    for (let k = 0; k < pages; k++) {
      jobs.push({ path, page: allPages ? k : page, name: pages > 1 ? `${names[i]}.p${k}` : names[i], truth: truths?.[i], truthPath: truthPaths?.[i], paged: pages > 1, slide });
    }
  }
  if ((slideOpts.shard || slideOpts.resume) && jobs.some((j) => !j.slide)) {
    throw new UsageError(`--shard and --resume are for whole slides; ${jobs.find((j) => !j.slide)!.path} is read as an image (add --slide to read a TIFF as a slide)`);
  }

  // One run at a time per folder (two would each write a summary.csv of only their own images),
  // and no silent overwrite of an earlier run's results.
  const lock = await lockOutputDir(outDir, ['mitoscan', 'detect', ...argv].join(' '), { onWarning: (m) => console.error(`mitoscan detect: warning: ${m}`) });
  try {
    const outputs = [
      ...(slideOpts.shard || slideOpts.resume ? [] : ['summary.csv']), // --resume continues (and completes) the run that wrote them
      ...jobs.flatMap((j) =>
        !j.slide ? IMAGE_OUTPUTS.map((x) => `${j.name}.${x}`) : slideOpts.resume ? [] : [...(slideOpts.shard ? [] : SLIDE_OUTPUTS), SLIDE_JOURNAL].map((x) => `${j.name}.${x}`),
      ),
    ];
    await checkInputsNotOutputs([...images, ...(truthPaths ?? [])], outDir, outputs);
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
          if (job.slide) {
            const e = (engine ??= await createNodeEngine());
            const r = await runSlide(e, { path, name: job.name, outDir, models, modelNames, preset, mapStride, threshold, mpp: mppFlag, opts: slideOpts, label: `detect ${jobs.length > 1 ? `${i + 1}/${jobs.length} ` : ''}${basename(path)}` });
            row.width = r.width;
            row.height = r.height;
            row.count = r.count;
            row.seconds = (Date.now() - t0) / 1000;
            continue;
          }
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
          const bar = new Progress(label, detectionSteps(e, models, preset, image.width, image.height, mpp, tile, mapStride));
          progress = bar;
          bar.update(0);
          let step = 0;
          const res = await detectMitoses(e, models, image, {
            preset,
            mapStride,
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
                ...(mapStride > 1 ? { mapStride } : {}),
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
    if (!slideOpts.shard) await writeFileAtomic(join(outDir, 'summary.csv'), [header.join(','), ...csvRows.map((r) => r.join(','))].join('\n') + '\n');

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
      `mitoscan detect: ${rows.length - failed.length}/${rows.length} image(s), ${preset}${mapStride > 1 ? ` (map stride ${mapStride})` : ''} with ${nets} net(s) (${models.slice(0, nets).map((m) => m.spec.name).join(', ')} from ${modelNames.slice(0, nets).join(', ')}) at ${modelMpp} µm/px, ` +
        `threshold ${threshold}, images at ${mpp} µm/px, ${formatSeconds((Date.now() - started) / 1000)}`,
    );
    console.log(table(tRows));
    // rows[i] is jobs[i]: name only the outputs of the images that did not fail
    const done = (slide: boolean) => rows.some((r, i) => !r.error && !!jobs[i].slide === slide);
    if (done(false)) console.log(`wrote ${outDir}/{<name>.csv,.json,.geojson,.overlay.png${wantMap ? ',.heatmap.png' : ''}} and summary.csv`);
    else if (!done(true) && !slideOpts.shard) console.log(`wrote ${outDir}/summary.csv only (every image failed; its error column says why)`);
    if (done(true)) {
      console.log(slideOpts.shard ? `wrote ${outDir}/<name>.${SLIDE_JOURNAL} (shard ${slideOpts.shard.k}/${slideOpts.shard.n}); combine the shards with: mitoscan merge <dirs...> --out <dir>` : `wrote ${outDir}/{<name>.csv,.geojson,.heatmap.png,.hotspot.json,.${SLIDE_JOURNAL}} and summary.csv`);
    }
    if (failed.length) {
      throw new Error(`${failed.length} of ${rows.length} image(s) failed: ${failed.map((r) => r.path).join(', ')} (see the messages above)`);
    }
  }
}

/** The path a file is reached by: its real path (links followed) when it exists, else the resolved one. */
async function canonicalPath(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    return resolve(path);
  }
}

/**
 * Refuses a run whose outputs include one of its inputs: `detect dir/*.png --out dir --force` after
 * an earlier run lists dir/a.overlay.png as an input, and the run would replace it before reading it.
 */
async function checkInputsNotOutputs(inputs: readonly string[], outDir: string, outputs: readonly string[]): Promise<void> {
  const byPath = new Map<string, string>();
  for (const p of inputs) byPath.set(await canonicalPath(p), p);
  for (const o of outputs) {
    const input = byPath.get(await canonicalPath(join(outDir, o)));
    if (input !== undefined) {
      throw new UsageError(`${input} is an input of this run and also one of its outputs (${o} in ${outDir}); write the results to another --out, or leave an earlier run's outputs out of the inputs`);
    }
  }
}

// ------------------------------------------------------------------ whole slides

export interface SlideFlags {
  force: boolean;
  region?: SlideRegion;
  window: Window;
  shard?: { k: number; n: number };
  resume: boolean;
  tile?: number;
}

function parseSlideFlags(args: ReturnType<typeof parseArgs>): SlideFlags {
  const force = flagBoolean(args, 'slide');
  const resume = flagBoolean(args, 'resume');
  let region: SlideRegion | undefined;
  const r = flagString(args, 'region');
  if (r !== undefined) {
    const v = r.split(',').map((s) => Number(s.trim()));
    if (v.length !== 4 || !v.every((n) => Number.isInteger(n) && n >= 0) || v[2] < 1 || v[3] < 1) throw new UsageError(`--region: expected x,y,w,h in level-0 pixels (integers, w and h >= 1), got '${r}'`);
    region = { x: v[0], y: v[1], w: v[2], h: v[3] };
  }
  let shard: SlideFlags['shard'];
  const s = flagString(args, 'shard');
  if (s !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(s.trim());
    if (!m || +m[2] < 1 || +m[1] >= +m[2]) throw new UsageError(`--shard: expected k/n with 0 <= k < n (e.g. --shard $SLURM_ARRAY_TASK_ID/16), got '${s}'`);
    shard = { k: +m[1], n: +m[2] };
  }
  const hasHpf = args.flags.has('hpf') || args.flags.has('field-diameter');
  if (hasHpf && args.flags.has('hotspot-area')) throw new UsageError('give either --hotspot-area or --hpf with --field-diameter, not both');
  let window: Window;
  if (hasHpf) {
    if (!args.flags.has('field-diameter')) throw new UsageError('--hpf needs --field-diameter <mm> (the diameter of one high-power field, e.g. 0.55)');
    const n = flagNumber(args, 'hpf', 10, whole(1, 1000));
    const d = flagNumber(args, 'field-diameter', 0, range(0, 10, { upTo: true }));
    window = hpfWindow(d, n);
  } else window = areaWindow(flagNumber(args, 'hotspot-area', 2, range(0, 1000, { upTo: true })));
  return { force, region, window, shard, resume };
}

/** Whether `path` is read as a slide: a TIFF with --slide, a tiled pyramid, or over SLIDE_PIXELS at level 0. */
export async function isSlideFile(path: string, force = false): Promise<boolean> {
  let src: Awaited<ReturnType<typeof openFileSource>> | undefined;
  let tiff = false;
  try {
    src = await openFileSource(path);
    const head = await src.read(0, 4);
    tiff = head.length === 4 && ((head[0] === 0x49 && head[1] === 0x49) || (head[0] === 0x4d && head[1] === 0x4d));
    if (!tiff) return false;
    const slide = await openSlide(src);
    const l0 = slide.levels[0];
    if (force || (slide.levels.length > 1 && l0.tiled)) return true;
    if (l0.width * l0.height <= SLIDE_PIXELS) return false;
    // a big flat TIFF: a slide only when its pixels are really there (a header that claims a huge
    // image over truncated data goes to the image reader, which reports the size)
    await slide.readRegion(0, l0.width - 1, l0.height - 1, 1, 1);
    return true;
  } catch {
    // read again as a slide with --slide (the slide reader's error fits what was asked), else as
    // an image, which reports the problem
    return force && tiff;
  } finally {
    await src?.close();
  }
}

/** A short, stable identity of a net (its spec, resolution, stain and weights). */
export function modelId(m: Model): string {
  const w = flattenParams(m);
  const meta = new TextEncoder().encode(JSON.stringify([m.spec, m.umPerPixel, m.stain ?? null, m.normalisation]));
  return `${m.spec.name}:${crc32(meta).toString(16)}:${crc32(new Uint8Array(w.buffer, w.byteOffset, w.byteLength)).toString(16)}`;
}

/** What a slide's outputs are computed from (kept in the journal's settings; merge reads it back). */
export interface SlideOutputInfo {
  slidePath: string;
  mpp0: number;
  threshold: number;
  preset: string;
  /** The dense maps' stride, when not 1 (--map-stride). */
  mapStride?: number;
  nets: string[];
  window: Window;
}

/**
 * Writes <name>.csv, .geojson, .heatmap.png and .hotspot.json of a slide from its level-0
 * detections; returns the hotspot and the line printed. Shared by detect and merge (so one run and
 * a merge of shards write the same files).
 */
export async function writeSlideOutputs(outDir: string, name: string, slide: Slide, dets: Detection[], mask: TissueMask & { level: number }, info: SlideOutputInfo): Promise<{ hotspot: Hotspot; line: string }> {
  const L0 = slide.levels[0];
  // detections come from tile journals too (--resume, merge): a pixel outside the slide means an edited file
  // (a coarse level maps to level 0 by one mean factor: its last column may land a few pixels past the edge)
  const slack = 1 + Math.max(...slide.levels.map((l) => l.downsample));
  const outside = dets.find((d) => !(d.x >= -slack && d.x <= L0.width + slack && d.y >= -slack && d.y <= L0.height + slack));
  if (outside) {
    throw new Error(`${name}: a detection at (${outside.x}, ${outside.y}) lies outside the slide (${L0.width}x${L0.height} px): a tile journal it came from is corrupt (an edited file); delete that journal and run its detect again without --resume`);
  }
  const hotspot = findHotspot(dets, info.mpp0, info.window, mask);
  await writeFileAtomic(join(outDir, `${name}.csv`), detectionsCsv(dets));
  await writeFileAtomic(join(outDir, `${name}.geojson`), slideGeoJson(dets, hotspot));
  // the density map at the mask's scale, over the slide's overview (at least 1024 px on its longer
  // side when the slide has that many; a slide without a pyramid averaged while read)
  const ds = mask.downsample;
  const w = Math.max(1, Math.round(L0.width / ds)), h = Math.max(1, Math.round(L0.height / ds));
  let under = (await slideOverview(slide)).image;
  if (under.width !== w || under.height !== h) under = resizeTo(under, w, h);
  const cellPx = Math.max(ds, Math.round(hotspot.radiusPx / 4));
  const grid = densityGrid(dets, L0.width, L0.height, cellPx);
  await writeFileAtomic(join(outDir, `${name}.heatmap.png`), encodePng(renderDensity(grid, L0.width, L0.height, ds, { under, hotspot })));
  const found = Number.isFinite(hotspot.x);
  const hs = {
    slide: info.slidePath,
    width: L0.width,
    height: L0.height,
    umPerPixel: info.mpp0,
    detections: dets.length,
    window: { label: hotspot.label, areaMm2: hotspot.areaMm2, radiusPx: +hotspot.radiusPx.toFixed(3), radiusMm: +((hotspot.radiusPx * info.mpp0) / 1000).toFixed(5) },
    centre: found ? { x: +hotspot.x.toFixed(2), y: +hotspot.y.toFixed(2) } : null,
    count: hotspot.count,
    perMm2: +hotspot.perMm2.toFixed(4),
    per10ReferenceHpf: +hotspot.per10ReferenceHpf.toFixed(4),
    mitoticScore: hotspot.score.score,
    score2From: hotspot.score.score2From,
    score3From: hotspot.score.score3From,
    tissueFraction: hotspot.tissueFraction === undefined ? null : +hotspot.tissueFraction.toFixed(4),
    offTissue: hotspot.offTissue,
    grading:
      'Nottingham mitotic score (Elston & Ellis, Histopathology 1991;19:403-410: 0-9 / 10-19 / >= 20 mitoses in 10 fields of 0.274 mm²), cut-offs scaled with the window area as in the NHSBSP/RCPath table of field diameters',
    threshold: info.threshold,
    preset: info.preset,
    ...(info.mapStride && info.mapStride > 1 ? { mapStride: info.mapStride } : {}),
    nets: info.nets,
  };
  await writeFileAtomic(join(outDir, `${name}.hotspot.json`), JSON.stringify(hs, null, 2) + '\n');
  const line = found
    ? `${name}: ${dets.length} mitoses; hotspot (${hotspot.label}) at (${Math.round(hotspot.x)}, ${Math.round(hotspot.y)}): ${hotspot.count} mitoses, ${hotspot.perMm2.toFixed(1)}/mm², mitotic score ${hotspot.score.score} (2 from ${hotspot.score.score2From}, 3 from ${hotspot.score.score3From})`
    : `${name}: no mitoses found; mitotic score 1`;
  return { hotspot, line };
}

interface SlideRun {
  path: string;
  name: string;
  outDir: string;
  models: Model[];
  modelNames: string[];
  preset: Preset;
  mapStride: number;
  threshold: number;
  mpp?: number;
  opts: SlideFlags;
  label: string;
}

async function runSlide(e: Engine, r: SlideRun): Promise<{ width: number; height: number; count: number }> {
  const src = await openFileSource(r.path);
  const slide = await openSlide(src);
  let journal: SlideJournalFile | undefined;
  try {
    const mpp0 = r.mpp ?? slide.resolution.mpp;
    if (mpp0 == null) {
      throw new Error(`${r.path}: the slide does not record its µm per pixel${slide.resolution.reason ? ` (${slide.resolution.reason})` : ''}; give it with --mpp (about 0.25 for a 40x scan, 0.5 for 20x)`);
    }
    if (r.mpp !== undefined && slide.resolution.mpp != null && Math.abs(r.mpp - slide.resolution.mpp) / slide.resolution.mpp > 0.01) {
      console.error(`mitoscan detect: warning: ${r.path}: --mpp ${r.mpp} overrides the file's ${slide.resolution.mpp} µm/px`);
    }
    const nets = r.models.slice(0, Math.min(r.models.length, PRESETS[r.preset].nets));
    const base = { preset: r.preset, mapStride: r.mapStride, threshold: r.threshold, tileSize: r.opts.tile, region: r.opts.region, mpp: mpp0 };
    const plan = await planSlide(slide, r.models, base);
    const info: SlideOutputInfo = { slidePath: resolve(r.path), mpp0, threshold: r.threshold, preset: r.preset, ...(r.mapStride > 1 ? { mapStride: r.mapStride } : {}), nets: nets.map((m) => m.spec.name), window: r.opts.window };
    // (info holds the map stride only when not the default, so that journals of earlier versions still resume)
    const settings = { ...info, models: nets.map(modelId), tileSize: plan.tileSize, region: r.opts.region ?? null, level: plan.level, toLevel0: plan.toLevel0, radius: plan.radius };
    const stamp = await slideStamp(r.path);
    const header: JournalHeader = { format: JOURNAL_FORMAT, version: JOURNAL_VERSION, key: journalKey(stamp, settings), slide: { path: resolve(r.path), ...stamp }, settings, tiles: plan.tiles.map((t) => t.id), shard: r.opts.shard ?? null };
    journal = await SlideJournalFile.open(join(r.outDir, `${r.name}.${SLIDE_JOURNAL}`), header, { resume: r.opts.resume });
    if (journal.resumedTiles) console.error(`mitoscan detect: ${r.path}: resuming: ${journal.resumedTiles} tile(s) from the journal`);
    const share = r.opts.shard ? plan.tiles.filter((_, i) => i % r.opts.shard!.n === r.opts.shard!.k).length : plan.tiles.length;
    const bar = new Progress(`${r.label}${r.opts.shard ? ` shard ${r.opts.shard.k}/${r.opts.shard.n}` : ''} (level ${plan.level}, ${plan.tiles.length} tissue tiles of ${plan.gridTiles})`, share);
    const res = await detectSlide(e, r.models, slide, {
      ...base,
      tissue: plan.mask,
      shard: r.opts.shard,
      journal,
      onProgress: (p) => bar.update(p.done, p.resumed ? `(${p.resumed} from the journal)` : ''),
    });
    bar.done();
    console.error(`mitoscan detect: ${r.path}: ${res.computed} tile(s) computed, ${res.resumed} from the journal`);
    const L0 = slide.levels[0];
    if (r.opts.shard) {
      const kept = [...res.kept.values()].reduce((a, k) => a + k.score.length, 0);
      console.log(`${r.name}: shard ${r.opts.shard.k}/${r.opts.shard.n}: ${res.kept.size} tile(s), ${kept} pixel(s) above the threshold kept in ${r.name}.${SLIDE_JOURNAL}`);
      return { width: L0.width, height: L0.height, count: res.detections.length };
    }
    const { line } = await writeSlideOutputs(r.outDir, r.name, slide, res.detections, plan.mask ?? { ...(await slideTissueMask(slide)) }, info);
    console.log(line);
    return { width: L0.width, height: L0.height, count: res.detections.length };
  } finally {
    await journal?.close();
    await slide.close();
    await src.close();
  }
}

// `mitoscan eval <dataset-root> --model <file>[,<file2>] [options]`: runs the detector on every image
// of a labelled data set and scores it as the ICPR 2012 contest did (method.md §1): detections
// closer than 5 µm to a ground-truth centroid are true positives, one per centroid. The detector
// runs once per image at a low threshold (CANDIDATE_THRESHOLD = 0.02 of src/train/flow.ts, the
// floor `train` chooses its threshold above, or the operating threshold when that is lower), so the
// whole precision-recall curve comes from one pass (raising t only removes detections; see
// src/eval/score.ts). The operating threshold is --threshold, or the best-F1 threshold on a
// validation set (--val-root, the paper's T2), or the one the model file records (chosen by
// `mitoscan train` on its validation patients), or the detector's default t0 = 0.35; the best F1 on
// the evaluated set itself is reported too, marked as optimistic.
//
// Writes into --out: scores.json (everything), counts.csv (per image at t), detections.csv (all
// candidates with their TP flags), pr.svg and f1.svg (Fig. 3), gallery.png (Fig. 2).
import { basename, join, resolve } from 'node:path';
import type { Engine } from '../engine/engine.js';
import { createNodeEngine } from '../engine/node.js';
import { scoreText } from '../src/detect/results.js';
import { detectMitoses, PRESETS, type Preset } from '../src/detect/detector.js';
import { DEFAULT_THRESHOLD, recordedThreshold } from '../src/detect/threshold.js';
import { CANDIDATE_THRESHOLD } from '../src/train/flow.js';
import type { LabelledImage } from '../src/datasets/labels.js';
import { assembleGallery, galleryCropPx, galleryTile, type GalleryTile } from '../src/eval/gallery.js';
import { f1ThresholdSvg, prCurveSvg } from '../src/eval/plots.js';
import {
  bestThreshold,
  CONTEST_RADIUS_UM,
  countPer10Hpf,
  defaultThresholds,
  matchDetections,
  mitoticGrade,
  type ImageResult,
  type Scores,
  type SweepPoint,
  sweepThresholds,
} from '../src/eval/score.js';
import { encodePng, rescaleToMpp } from '../src/io/image.js';
import type { Model } from '../src/model/model-file.js';
import { checkMapStrideFlag, mapStrideFlag } from './spec-flag.js';
import { detectLayout, loadDataset, type LayoutOption } from '../src/node/datasets.js';
import { checkExistingResults, checkOutputDir, lockOutputDir, readImageFile, writeFileAtomic } from '../src/node/files.js';
import { checkFlags, flagBoolean, flagMpp, flagNumber, flagString, parseArgs, UsageError, range, whole } from './args.js';
import { checkResampledSize, loadModels } from './detect.js';
import { evaluateTiles } from './eval-tiles.js';
import { formatSeconds, Progress } from './progress.js';
import { table } from './table.js';

/** How the summary names a threshold read from the model file. */
const MODEL_T_SOURCE = "the model's, chosen on its validation images";

/** Tiles of the tiles layout come without a resolution: 40x. */
const TILES_DEFAULT_MPP = 0.25;

/** What eval writes into --out (label layouts; --layout tiles writes TILES_OUTPUTS). */
export const EVAL_OUTPUTS = ['scores.json', 'counts.csv', 'detections.csv', 'pr.svg', 'f1.svg', 'gallery.png'];
export const TILES_OUTPUTS = ['scores.json', 'tiles.csv', 'roc.svg', 'gallery.png'];

const USAGE = `usage: mitoscan eval <dataset-root> --model <file>[,<file2>] [options]

Runs the detector on a labelled data set and scores it like the ICPR 2012 contest
(a detection within 5 µm of a ground-truth mitosis is a true positive, one per mitosis).

options:
  --model a.mitoscan[,b.mitoscan]  the net(s) of the ensemble (required)
  --preset DNNf1|DNNf12|DNN        ensemble preset (default DNNf1; DNN = 8 rotations/mirrors per net)
  --map-stride 1|2                 2: the nets at every second pixel, the map filled in between
                                   (about 3x faster; default 1, every pixel; see mitoscan detect)
  --layout auto|mitos2012|amida13|tupac16|tutorial|midog|tiles   folder layout (default auto);
                                   tiles: mitosis/ and non-mitosis/ folders of tiles without locations,
                                   scored as a tile classifier (ROC AUC; writes tiles.csv, roc.svg)
  --labels <dir>                   where the label files are, when not under the data set root
  --mpp <µm per pixel>             resolution of the images (default: the layout's)
  --threshold <t>                  operating threshold (default: chosen on --val-root, else the one the
                                   (first) model records, chosen on its validation images; else ${DEFAULT_THRESHOLD})
  --val-root <dir>                 validation set (same layout options): t = its best-F1 threshold
  --out <dir>                      output folder (default eval-<dataset name>)
  --gallery-max <n>                most tiles in gallery.png (default 600)
  --tile <px>                      dense-evaluation tile size (default: automatic)
  --force                          replace the results of an earlier run in --out (without it, an
                                   --out that already holds them is refused)`;

const FLAGS = ['model', 'preset', 'map-stride', 'layout', 'labels', 'mpp', 'threshold', 'val-root', 'out', 'gallery-max', 'tile', 'force', 'help'];

export interface ImageEval {
  item: LabelledImage;
  width: number;
  height: number;
  /** Candidates above RunOptions.candidates, image pixels. */
  dets: { x: number; y: number; score: number }[];
  /** TP flag of every candidate (valid for any threshold below its score). */
  tp: boolean[];
  seconds: number;
}

interface RunOptions {
  preset: Preset;
  mapStride: number;
  /** The candidates' threshold: CANDIDATE_THRESHOLD, or the operating threshold when lower. */
  candidates: number;
  tile?: number;
  galleryMax: number;
}

/** Points in µm, so that one radius (5 µm) serves images of different resolutions. */
function inMicrons(r: { item: LabelledImage; dets: readonly { x: number; y: number; score: number }[] }): ImageResult {
  const s = r.item.umPerPixel;
  return { dets: r.dets.map((d) => ({ x: d.x * s, y: d.y * s, score: d.score })), truth: r.item.mitoses.map((c) => ({ x: c.x * s, y: c.y * s })) };
}

async function evaluateSet(e: Engine, models: Model[], items: LabelledImage[], opts: RunOptions, label: string, tiles?: GalleryTile[]): Promise<ImageEval[]> {
  const progress = new Progress(label, items.length);
  progress.update(0);
  const out: ImageEval[] = [];
  const crop = galleryCropPx(items[0]?.umPerPixel ?? 0.25);
  for (const [k, item] of items.entries()) {
    const t0 = Date.now();
    const image = await readImageFile(item.imagePath);
    checkResampledSize(item.imagePath, image.width, image.height, item.umPerPixel, models[0]);
    for (const c of item.mitoses) {
      if (c.x < -0.5 || c.y < -0.5 || c.x > image.width - 0.5 || c.y > image.height - 0.5) {
        throw new Error(`${item.imagePath}: a labelled mitosis at (${c.x.toFixed(1)}, ${c.y.toFixed(1)}) lies outside the ${image.width}x${image.height} image; check the layout (row,col vs x,y) and the label file`);
      }
    }
    const res = await detectMitoses(e, models, image, {
      preset: opts.preset,
      mapStride: opts.mapStride,
      threshold: opts.candidates,
      umPerPixel: item.umPerPixel,
      rescale: rescaleToMpp,
      tileSize: opts.tile,
    });
    const dets = res.detections;
    const m = inMicrons({ item, dets });
    const { tp } = matchDetections(m.dets, m.truth, CONTEST_RADIUS_UM);
    if (tiles) {
      // Only tiles that can make the final cut are kept (memory stays bounded).
      dets.forEach((d, i) => tiles.push(galleryTile(image, { ...d, tp: tp[i] }, { crop })));
      if (tiles.length > 2 * opts.galleryMax) {
        tiles.sort((a, b) => b.score - a.score);
        tiles.length = opts.galleryMax;
      }
    }
    out.push({ item, width: image.width, height: image.height, dets, tp, seconds: (Date.now() - t0) / 1000 });
    progress.update(k + 1, item.id);
  }
  progress.done();
  return out;
}

function perImageScores(r: ImageEval, t: number): Scores {
  const m = inMicrons(r);
  const kept = m.dets.filter((d) => d.score > t);
  return matchDetections(kept, m.truth, CONTEST_RADIUS_UM).scores;
}

const f3 = (v: number) => v.toFixed(3);

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, ['help', 'force']);
  if (args.flags.has('help')) {
    console.log(USAGE);
    return;
  }
  checkFlags(args, FLAGS);
  if (args.positionals.length === 1 && !args.positionals[0].trim()) throw new UsageError('no data set folder given: the path is empty');
  if (args.positionals.length !== 1) throw new UsageError(args.positionals.length ? `one data set folder expected, got ${args.positionals.length}: ${args.positionals.join(' ')}` : 'the data set folder is missing');
  const root = resolve(args.positionals[0]);
  const modelArg = flagString(args, 'model');
  if (!modelArg) throw new UsageError('--model <file>[,<file2>] is required');
  const preset = (flagString(args, 'preset', 'DNNf1') as Preset);
  if (!(preset in PRESETS)) throw new UsageError(`--preset: '${preset}' is not one of ${Object.keys(PRESETS).join(', ')}`);
  const mapStride = mapStrideFlag(args);
  const layout = flagString(args, 'layout', 'auto') as LayoutOption | 'tiles';
  if (!['auto', 'mitos2012', 'amida13', 'tupac16', 'tutorial', 'midog', 'tiles'].includes(layout)) throw new UsageError(`--layout: '${layout}' is not one of auto, mitos2012, amida13, tupac16, tutorial, midog, tiles`);
  const mppFlag = flagMpp(args);
  const fixedT = args.flags.has('threshold') ? flagNumber(args, 'threshold', 0, range(0, 1, { from: true })) : undefined;
  const valRoot = flagString(args, 'val-root');
  if (fixedT !== undefined && valRoot) throw new UsageError('give either --threshold or --val-root, not both');
  const galleryMax = flagNumber(args, 'gallery-max', 600, whole(0));
  const tile = args.flags.has('tile') ? flagNumber(args, 'tile', 0, whole(16, 16384)) : undefined;
  const outDir = resolve(flagString(args, 'out') ?? `eval-${basename(root)}`);
  const labelsRoot = flagString(args, 'labels');
  const force = flagBoolean(args, 'force');
  const command = ['mitoscan', 'eval', ...argv].join(' ');
  const lockOut = async (names: readonly string[]) => {
    const lock = await lockOutputDir(outDir, command, { onWarning: (m) => console.error(`mitoscan eval: warning: ${m}`) });
    try {
      const replaced = await checkExistingResults(outDir, names, force);
      if (replaced.length) console.error(`mitoscan eval: --force: replacing ${replaced.join(', ')} in ${outDir}`);
    } catch (e) {
      lock.release();
      throw e;
    }
    return lock;
  };

  await checkOutputDir(outDir); // before any work: a bad --out fails now, not after the last image
  const { models, names: modelPaths } = await loadModels(modelArg);
  checkMapStrideFlag(mapStride, models, modelPaths);
  if (layout === 'tiles') {
    if (valRoot || labelsRoot) throw new UsageError('--val-root and --labels do not apply to --layout tiles');
    const umPerPixel = mppFlag ?? TILES_DEFAULT_MPP;
    if (mppFlag === undefined) console.error(`mitoscan eval: tiles assumed at ${TILES_DEFAULT_MPP} µm/px (40x); give --mpp otherwise`);
    const recorded = recordedThreshold(models[0]);
    const lock = await lockOut(TILES_OUTPUTS);
    try {
      await evaluateTiles(root, {
        models, modelPaths: modelPaths.map((p) => resolve(p)), preset, mapStride, umPerPixel, tile, outDir, galleryMax,
        threshold: fixedT ?? recorded ?? DEFAULT_THRESHOLD,
        thresholdSource: fixedT !== undefined ? '--threshold' : recorded !== undefined ? MODEL_T_SOURCE : 'the default t0',
      });
    } finally {
      lock.release();
    }
    return;
  }
  const warn = (m: string) => console.error(`mitoscan eval: warning: ${m}`);
  const labelsDir = labelsRoot ? resolve(labelsRoot) : undefined;
  const resolvedLayout = layout === 'auto' ? await detectLayout(root, labelsDir ?? root) : layout === 'tupac16' ? 'amida13' : layout;
  const items = await loadDataset(root, { layout: resolvedLayout, umPerPixel: mppFlag, labelsRoot: labelsDir, onWarning: warn });
  const valItems = valRoot ? await loadDataset(resolve(valRoot), { layout, umPerPixel: mppFlag, onWarning: warn }) : undefined;
  // The operating threshold when it is known before the run (--threshold, or the model's); a
  // validation choice is always >= CANDIDATE_THRESHOLD. Candidates reach down to it, so that the
  // threshold scored is the threshold asked for (never raised to the candidates' floor).
  const knownT = fixedT ?? (valItems ? undefined : recordedThreshold(models[0]) ?? DEFAULT_THRESHOLD);
  const candidates = Math.min(CANDIDATE_THRESHOLD, knownT ?? CANDIDATE_THRESHOLD);
  const opts: RunOptions = { preset, mapStride, tile, galleryMax, candidates };
  const lock = await lockOut(EVAL_OUTPUTS);
  try {
    await evaluateAndWrite();
  } finally {
    lock.release();
  }

  async function evaluateAndWrite(): Promise<void> {

    const started = Date.now();
    const e = await createNodeEngine();
    let results: ImageEval[];
    let valResults: ImageEval[] | undefined;
    const tiles: GalleryTile[] = [];
    try {
      if (valItems) valResults = await evaluateSet(e, models, valItems, opts, 'eval (validation)', undefined);
      results = await evaluateSet(e, models, items, opts, 'eval', galleryMax > 0 ? tiles : undefined);
    } finally {
      e.destroy();
    }

    // Threshold: fixed, from validation, or the default t0.
    let threshold: number;
    let thresholdSource: 'fixed' | 'validation' | 'model' | 'default';
    let validation: { root: string; images: number; best: SweepPoint } | undefined;
    if (fixedT !== undefined) {
      threshold = fixedT;
      thresholdSource = 'fixed';
    } else if (valResults) {
      const vm = valResults.map(inMicrons);
      const vs = sweepThresholds(vm, CONTEST_RADIUS_UM, defaultThresholds(vm.flatMap((r) => r.dets.map((d) => d.score)), { floor: candidates }));
      const best = bestThreshold(vs);
      threshold = best.threshold;
      thresholdSource = 'validation';
      validation = { root: resolve(valRoot!), images: valResults.length, best };
    } else {
      const recorded = recordedThreshold(models[0]);
      threshold = recorded ?? DEFAULT_THRESHOLD;
      thresholdSource = recorded !== undefined ? 'model' : 'default';
    }
    const tEff = threshold; // >= candidates by construction: nothing is clamped

    const micro = results.map(inMicrons);
    const allScores = micro.flatMap((r) => r.dets.map((d) => d.score));
    const ts = [...new Set([...defaultThresholds(allScores, { floor: candidates }), tEff])];
    const sweep = sweepThresholds(micro, CONTEST_RADIUS_UM, ts);
    const atT = sweep.find((p) => p.threshold === tEff)!.scores;
    const best = bestThreshold(sweep);

    const perImage = results.map((r) => {
      const s = perImageScores(r, tEff);
      return {
        id: r.item.id,
        patient: r.item.patient,
        image: r.item.imagePath,
        width: r.width,
        height: r.height,
        umPerPixel: r.item.umPerPixel,
        truth: r.item.mitoses.length,
        detected: s.tp + s.fp,
        tp: s.tp,
        fp: s.fp,
        fn: s.fn,
        precision: s.precision,
        recall: s.recall,
        f1: s.f1,
        seconds: r.seconds,
      };
    });
    // Mitotic counts per 10 HPF (MITOS HPF: 512 x 512 µm) over the whole set, and their grades.
    const areaUm2 = results.reduce((a, r) => a + r.width * r.height * r.item.umPerPixel ** 2, 0);
    const truthCount = perImage.reduce((a, p) => a + p.truth, 0);
    const detCount = perImage.reduce((a, p) => a + p.detected, 0);
    const per10 = { truth: countPer10Hpf(truthCount, areaUm2), detected: countPer10Hpf(detCount, areaUm2) };

    const summary = {
      dataset: root,
      layout: resolvedLayout,
      models: modelPaths.map((p) => resolve(p)),
      preset,
      ...(mapStride > 1 ? { mapStride } : {}),
      radiusUm: CONTEST_RADIUS_UM,
      candidateThreshold: candidates,
      threshold: tEff,
      thresholdSource,
      validation,
      images: results.length,
      scores: atT,
      bestOnThisSet: { ...best, note: 'chosen on the evaluated set itself: optimistic' },
      countPer10Hpf: { ...per10, gradeTruth: mitoticGrade(per10.truth), gradeDetected: mitoticGrade(per10.detected), areaMm2: areaUm2 / 1e6 },
      seconds: (Date.now() - started) / 1000,
      perImage,
      sweep,
    };

    const countsCsv =
      'image,patient,truth,detected,tp,fp,fn,precision,recall,f1\n' +
      perImage
        .map((p) => [csvField(p.id), csvField(p.patient), p.truth, p.detected, p.tp, p.fp, p.fn, f3(p.precision), f3(p.recall), f3(p.f1)].join(','))
        .join('\n') +
      '\n';
    const detsCsv =
      'image,x,y,score,tp\n' + results.flatMap((r) => r.dets.map((d, i) => `${csvField(r.item.id)},${d.x},${d.y},${scoreText(d.score)},${r.tp[i] ? 1 : 0}`)).join('\n') + '\n';
    const title = `${basename(root)}: ${preset}, ${results.length} image(s)`;
    await writeFileAtomic(join(outDir, 'scores.json'), JSON.stringify(summary, null, 2) + '\n');
    await writeFileAtomic(join(outDir, 'counts.csv'), countsCsv);
    await writeFileAtomic(join(outDir, 'detections.csv'), detsCsv);
    await writeFileAtomic(join(outDir, 'pr.svg'), prCurveSvg(sweep, { title: `Precision-recall, ${title}`, chosenThreshold: tEff }));
    await writeFileAtomic(join(outDir, 'f1.svg'), f1ThresholdSvg(sweep, { title: `F1 against t, ${title}`, chosenThreshold: tEff }));
    if (galleryMax > 0) {
      const crop = galleryCropPx(items[0].umPerPixel);
      const g = assembleGallery(tiles, { crop, maxTiles: galleryMax });
      await writeFileAtomic(join(outDir, 'gallery.png'), encodePng(g));
    }

    // Summary table.
    const src = {
      fixed: '--threshold',
      validation: `best F1 on ${validation?.images} validation image(s)`,
      model: MODEL_T_SOURCE,
      default: 'the default t0',
    }[thresholdSource];
    const rows = [
      ['', 'threshold', 'precision', 'recall', 'F1', 'TP', 'FP', 'FN'],
      [`at t (${src})`, f3(tEff), f3(atT.precision), f3(atT.recall), f3(atT.f1), `${atT.tp}`, `${atT.fp}`, `${atT.fn}`],
      ['best on this set (optimistic)', f3(best.threshold), f3(best.scores.precision), f3(best.scores.recall), f3(best.scores.f1), `${best.scores.tp}`, `${best.scores.fp}`, `${best.scores.fn}`],
    ];
    if (validation) {
      const v = validation.best.scores;
      rows.push(['validation at its best t', f3(validation.best.threshold), f3(v.precision), f3(v.recall), f3(v.f1), `${v.tp}`, `${v.fp}`, `${v.fn}`]);
    }
    console.log(`mitoscan eval: ${results.length} image(s), ${truthCount} labelled mitoses (${resolvedLayout} layout), ${preset} with ${models.length} net(s), match radius ${CONTEST_RADIUS_UM} µm, ${formatSeconds(summary.seconds)}`);
    console.log(table(rows));
    console.log(`mitotic count per 10 HPF: labelled ${per10.truth.toFixed(1)} (grade ${summary.countPer10Hpf.gradeTruth}), detected ${per10.detected.toFixed(1)} (grade ${summary.countPer10Hpf.gradeDetected})`);
    console.log(`wrote ${outDir}/{scores.json,counts.csv,detections.csv,pr.svg,f1.svg${galleryMax > 0 ? ',gallery.png' : ''}}`);
  }
}

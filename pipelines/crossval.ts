// `mitoscan crossval <dataset-root...> --out <dir> [options]`: the two evaluation protocols of
// method.md, each scoring images that no training step and no threshold choice has seen.
//
//   kfold (the tutorial's): patients are split into k folds (src/eval/folds.ts); for each fold a net
//     is trained on the other folds (its threshold chosen on a share of *their* patients, as
//     `mitoscan train` does) and the held-out fold is scored at that threshold.
//   t1t2t3 (the paper's): train on T1 with T2 as validation, t = best F1 on T2; retrain on T1+T2
//     for the first run's best epoch count; score T3 once at t.
//
// Scoring is the contest's (5 µm one-to-one matching, src/eval/score.ts). Each finished step writes
// its model and a JSON of its held-out detections atomically, so `--resume` after a kill skips the
// finished steps and continues the running one from its epoch checkpoint.
//
// Writes into --out: fold-<k>.mitoscan (or t1.mitoscan, final.mitoscan), fold-<k>.json, summary.json,
// summary.csv, pr.svg and f1.svg (all held-out detections pooled, one common t).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createNodeEngine } from '../engine/node.js';
import { patientKFold, splitT1T2T3 } from '../src/eval/folds.js';
import { f1ThresholdSvg, prCurveSvg } from '../src/eval/plots.js';
import { aucRoc, contestRadiusPx, defaultThresholds, scoresAt, scoresFrom, sweepThresholds, type Scores } from '../src/eval/score.js';
import { checkOutputDir, lockOutputDir, writeFileAtomic } from '../src/node/files.js';
import { saveModel } from '../src/node/model-io.js';
import { runDifferences } from '../src/train/checkpoint.js';
import { CANDIDATE_THRESHOLD, type ScoredImage } from '../src/train/flow.js';
import type { TrainingImage } from '../src/train/training-set.js';
import { checkFlags, flagBoolean, flagNumber, flagString, parseArgs, UsageError, whole } from './args.js';
import { modelThreshold } from './detect.js';
import { formatSeconds } from './progress.js';
import { detectWithProgress, loadTrainingData, parseTrainSettings, TRAIN_BOOLEANS, TRAIN_FLAGS, TRAIN_OPTIONS_HELP, trainOnImages } from './train.js';
import { table } from './table.js';

const USAGE = `usage: mitoscan crossval <dataset-root...> --out <dir> [options]

Scores the whole training recipe on images it never trained on, with a summary table.
  --protocol kfold     patient-level k-fold cross-validation (the tutorial's; default)
  --protocol t1t2t3    the paper's: train on T1, choose t on T2, retrain on T1+T2, score T3 once

protocol:
  --out <dir>                output folder (required): models, per-step JSON, summary, plots
  --folds <k>                folds for kfold (default 5)
  --sizes a:b:c              relative sizes of T1:T2:T3 (default 26:9:15, the paper's MITOS split)
  --split patient|image      keep a patient's images in one of T1/T2/T3 (default patient)
  --resume                   skip the finished folds/steps, continue the running one from its checkpoint

${TRAIN_OPTIONS_HELP}
  --no-threshold             score at 0.35 instead of the threshold chosen on validation images
  --progress-every <n>       read the loss for the progress line every n batches (default 10)`;

// the folds are the test sets here: a train-only held-out test set or forced validation patients would cut across them
const NOT_HERE = ['hold-out', 'hold-out-patients', 'hold-out-seed', 'keep-patients', 'val-patients'];
const FLAGS = [...TRAIN_FLAGS.filter((f) => !NOT_HERE.includes(f)), 'out', 'protocol', 'folds', 'sizes', 'split', 'resume', 'help'];

/** A held-out image and what the step's net found on it (pixels at the training resolution). */
type HeldOut = ScoredImage;

/** One trained-and-scored step: a fold, or the protocol's final net on T3. */
interface StepResult {
  name: string;
  model: string;
  trainImages: number;
  trainPatients: string[];
  testPatients: string[];
  threshold: number;
  scores: Scores;
  /** Image level: highest detection score per image vs. "holds a labelled mitosis" (NaN with one class). */
  imageAuc: number;
  valAuc?: number;
  bestEpoch: number;
  epochs: number;
  seconds: number;
  heldOut: HeldOut[];
}

const uniq = (xs: string[]) => [...new Set(xs)].sort();

function imageAuc(h: readonly HeldOut[]): number {
  const scores = h.map((x) => x.dets.reduce((m, d) => Math.max(m, d.score), 0));
  const labels = h.map((x) => x.truth.length > 0);
  return labels.some(Boolean) && labels.some((l) => !l) ? aucRoc(scores, labels) : NaN;
}

function parseSizes(s: string): [number, number, number] {
  const v = s.split(':').map(Number);
  if (v.length !== 3 || v.some((x) => !(x >= 0)) || v[0] <= 0 || v[1] <= 0 || v[2] <= 0) throw new UsageError(`--sizes: '${s}' is not three positive numbers a:b:c`);
  return v as [number, number, number];
}

const f3 = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(3));

function shortList(xs: string[], max = 32): string {
  const s = xs.join(',');
  return s.length > max ? s.slice(0, max - 3) + '...' : s;
}

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, TRAIN_BOOLEANS);
  if (args.flags.has('help')) {
    console.log(USAGE);
    return;
  }
  checkFlags(args, FLAGS);
  const outArg = flagString(args, 'out');
  if (!outArg) throw new UsageError('--out <dir> is required (models, results and checkpoints go there)');
  const out = resolve(outArg);
  await checkOutputDir(out); // before any work: a bad --out fails now, not after the first fold
  const protocol = flagString(args, 'protocol', 'kfold');
  if (protocol !== 'kfold' && protocol !== 't1t2t3') throw new UsageError(`--protocol: '${protocol}' is not kfold or t1t2t3`);
  if (protocol === 'kfold' && (args.flags.has('sizes') || args.flags.has('split'))) throw new UsageError('--sizes and --split apply to --protocol t1t2t3');
  if (protocol === 't1t2t3' && args.flags.has('folds')) throw new UsageError('--folds applies to --protocol kfold');
  const folds = flagNumber(args, 'folds', 5, whole(2));
  const sizes = parseSizes(flagString(args, 'sizes', '26:9:15')!);
  const split = flagString(args, 'split', 'patient');
  if (split !== 'patient' && split !== 'image') throw new UsageError(`--split: '${split}' is not patient or image`);
  const resume = flagBoolean(args, 'resume');
  const settings = await parseTrainSettings(args);
  const command = ['mitoscan', 'crossval', ...argv.filter((a) => a !== '--resume')].join(' ');

  const data = await loadTrainingData(settings);
  const images = data.images;
  const seed = settings.opts.seed;

  // The split first: one that cannot be made (more folds than patients, an empty T2) fails before
  // the folder is marked as holding this run, so the corrected command can use the same --out.
  const kfold = protocol === 'kfold' ? patientKFold(images, folds, seed) : undefined;
  const t123 = protocol === 'kfold' ? undefined : splitT1T2T3(images, { sizes, seed, byPatient: split === 'patient' });
  if (t123) {
    if (!t123.T1.length || !t123.T2.length || !t123.T3.length) throw new Error(`t1t2t3: ${images.length} image(s) give T1/T2/T3 of ${t123.T1.length}/${t123.T2.length}/${t123.T3.length}: every set needs an image (more images, or --split image)`);
    if (!t123.T2.some((im) => im.mitoses.length)) throw new Error('t1t2t3: T2 holds no mitosis, so no threshold can be chosen on it; try another --seed or --sizes');
  }

  // One run at a time in a folder: a second crossval (or --resume) on it while this one runs is refused.
  const lock = await lockOutputDir(out, command, { onWarning: (m) => console.error(`mitoscan crossval: warning: ${m}`) });
  try {
    // The folder remembers what it holds: a resumed run must be the same experiment.
    const manifestPath = join(out, 'crossval.json');
    const manifest = { protocol, folds: protocol === 'kfold' ? folds : null, sizes: protocol === 't1t2t3' ? sizes : null, split: protocol === 't1t2t3' ? split : null, settings: { ...settings, roots: undefined, opts: { ...settings.opts, progressEvery: undefined } }, data: data.fingerprint };
    if (existsSync(manifestPath)) {
      if (!resume) throw new Error(`${out} already holds a cross-validation run: add --resume to continue it, or choose another --out`);
      const { command: _, ...saved } = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
      const diffs = runDifferences(saved, JSON.parse(JSON.stringify(manifest)) as Record<string, unknown>);
      if (diffs.length) throw new Error(`${manifestPath}: this folder holds a run with other settings:\n  ${diffs.join('\n  ')}\nrun the original command with --resume, or choose another --out`);
    } else {
      await writeFileAtomic(manifestPath, JSON.stringify({ ...manifest, command }, null, 2) + '\n');
    }

    const started = Date.now();
    const radius = contestRadiusPx(settings.trainMpp);
    const steps: StepResult[] = [];
    const e = await createNodeEngine();
    try {
      /** Trains on `train`, scores `test` at the threshold; or reads the step's result when it is done. */
      const step = async (name: string, of: string, train: TrainingImage[], test: TrainingImage[], extra: { validation?: boolean[]; epochs?: number; threshold?: number } = {}): Promise<StepResult> => {
        const resultPath = join(out, `${name}.json`);
        const modelPath = join(out, `${name}.mitoscan`);
        if (resume && existsSync(resultPath) && existsSync(modelPath)) {
          console.error(`mitoscan crossval: ${name} was finished: read from ${resultPath}`);
          return JSON.parse(readFileSync(resultPath, 'utf8'), (k, v) => (v === null && (k === 'imageAuc' || k === 'valAuc') ? NaN : v)) as StepResult;
        }
        const t0 = Date.now();
        const ckpt = `${modelPath}.ckpt`;
        const trainP = uniq(train.map((im) => im.patient));
        const testP = uniq(test.map((im) => im.patient));
        console.error(`mitoscan crossval: ${name}${of}: training on ${train.length} image(s) of ${trainP.length} patient(s)` + (test.length ? `, holding out ${test.length} image(s) of patient(s) ${shortList(testP, 60)}` : ''));
        const trained = await trainOnImages(e, train, settings, {
          ...extra,
          checkpoint: ckpt,
          resume,
          command,
          dataset: `${data.description} (${name}: ${train.length} training images)`,
          fingerprint: { data: data.fingerprint, step: name, train: train.map((im) => im.id) },
          tag: `mitoscan crossval ${name}`,
        });
        await saveModel(modelPath, trained.model);
        const threshold = modelThreshold(trained.model);
        const heldOut = test.length ? await detectWithProgress(e, trained.model, test, `${name}: held-out images`) : [];
        const r: StepResult = {
          name,
          model: modelPath,
          trainImages: train.length,
          trainPatients: trainP,
          testPatients: testP,
          threshold,
          scores: scoresAt(heldOut, radius, threshold),
          imageAuc: imageAuc(heldOut),
          valAuc: trained.model.provenance?.metrics?.valAuc,
          bestEpoch: trained.bestEpoch,
          epochs: trained.epochs,
          seconds: (Date.now() - t0) / 1000,
          heldOut,
        };
        await writeFileAtomic(resultPath, JSON.stringify(r) + '\n');
        rmSync(ckpt, { force: true });
        const s = r.scores;
        if (test.length) console.error(`mitoscan crossval: ${name}: ${test.length} held-out image(s) at t = ${threshold.toFixed(3)}: precision ${f3(s.precision)}, recall ${f3(s.recall)}, F1 ${f3(s.f1)} (${formatSeconds(r.seconds)})`);
        return r;
      };

      if (protocol === 'kfold') {
        const kf = kfold!;
        for (const [f, fold] of kf.entries()) steps.push(await step(`fold-${f + 1}`, ` of ${folds}`, fold.train, fold.test));
      } else {
        const s3 = t123!;
        const pats = (xs: TrainingImage[]) => uniq(xs.map((im) => im.patient)).length;
        console.error(`mitoscan crossval: T1 ${s3.T1.length} image(s) (${pats(s3.T1)} patients), T2 ${s3.T2.length} (${pats(s3.T2)}), T3 ${s3.T3.length} (${pats(s3.T3)}), split by ${split}`);
        const t12 = [...s3.T1, ...s3.T2];
        const isT2 = t12.map((_, i) => i >= s3.T1.length);
        const first = await step('t1', ' (train on T1, choose t on T2)', t12, [], { validation: isT2 });
        console.error(`mitoscan crossval: t = ${first.threshold.toFixed(3)} chosen on T2; the final net trains ${first.bestEpoch} epoch(s) (t1's best) on T1+T2`);
        steps.push(await step('final', ' (retrain on T1+T2, score T3)', t12, s3.T3, { validation: t12.map(() => false), epochs: first.bestEpoch, threshold: first.threshold }));
      }
    } finally {
      e.destroy();
    }

    // ---- summary ----
    const heldOut = steps.flatMap((s) => s.heldOut);
    const pooled = scoresFrom(
      steps.reduce((a, s) => a + s.scores.tp, 0),
      steps.reduce((a, s) => a + s.scores.fp, 0),
      steps.reduce((a, s) => a + s.scores.fn, 0),
    );
    const sweep = sweepThresholds(heldOut, radius, defaultThresholds(heldOut.flatMap((h) => h.dets.map((d) => d.score)), { floor: CANDIDATE_THRESHOLD }));
    const pooledImageAuc = imageAuc(heldOut);
    const head = ['step', 'held-out patients', 'train', 'test', 'mit', 't', 'P', 'R', 'F1', 'TP', 'FP', 'FN', 'img AUC', 'val AUC'];
    const rows = steps.map((s) => [
      s.name, shortList(s.testPatients), `${s.trainImages}`, `${s.heldOut.length}`, `${s.heldOut.reduce((a, h) => a + h.truth.length, 0)}`,
      f3(s.threshold), f3(s.scores.precision), f3(s.scores.recall), f3(s.scores.f1), `${s.scores.tp}`, `${s.scores.fp}`, `${s.scores.fn}`, f3(s.imageAuc), f3(s.valAuc),
    ]);
    if (steps.length > 1) {
      rows.push(['pooled', '', '', `${heldOut.length}`, `${heldOut.reduce((a, h) => a + h.truth.length, 0)}`, 'per step', f3(pooled.precision), f3(pooled.recall), f3(pooled.f1), `${pooled.tp}`, `${pooled.fp}`, `${pooled.fn}`, f3(pooledImageAuc), '']);
    }
    const summary = {
      protocol,
      command,
      dataset: data.description,
      trainMpp: settings.trainMpp,
      radiusPx: radius,
      steps: steps.map(({ heldOut: h, ...s }) => ({ ...s, heldOutImages: h.length, heldOutMitoses: h.reduce((a, x) => a + x.truth.length, 0) })),
      pooled: { scores: pooled, imageAuc: pooledImageAuc, note: 'TP/FP/FN summed over the steps, each at its own threshold' },
      seconds: (Date.now() - started) / 1000,
      sweep,
    };
    const json = JSON.stringify(summary, (_, v) => (typeof v === 'number' && Number.isNaN(v) ? null : v), 2);
    await writeFileAtomic(join(out, 'summary.json'), json + '\n');
    await writeFileAtomic(join(out, 'summary.csv'), [head, ...rows].map((r) => r.map((v) => (/[",]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)).join(',')).join('\n') + '\n');
    if (heldOut.length) {
      const title = `${protocol === 'kfold' ? `${folds}-fold` : 'T3'} held-out, ${heldOut.length} image(s)`;
      await writeFileAtomic(join(out, 'pr.svg'), prCurveSvg(sweep, { title: `Precision-recall, ${title}` }));
      await writeFileAtomic(join(out, 'f1.svg'), f1ThresholdSvg(sweep, { title: `F1 against t, ${title}` }));
    }
    console.log(`mitoscan crossval (${protocol}): ${images.length} image(s) of ${uniq(images.map((im) => im.patient)).length} patient(s), ${settings.spec.name} at ${settings.trainMpp} µm/px, match radius 5 µm, ${formatSeconds(summary.seconds)}`);
    console.log(table([head, ...rows], 2));
    console.log(`wrote ${out}/{summary.json,summary.csv${heldOut.length ? ',pr.svg,f1.svg' : ''}} and the models of every step`);
  } finally {
    lock.release();
  }
}

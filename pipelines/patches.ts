// `mitoscan train-patches <root> --out model.mitoscan [options]`: trains a mitosis net on labelled
// patches (root/mitosis/*.jpg and root/non-mitosis/*.jpg, e.g. the TUPAC16 auxiliary patches; the
// patient of a file `<case>_<image>_<k>.jpg` is its case) and measures it on held-out patients:
// k-fold cross-validation by patient (--folds k: k models, per-fold and pooled ROC AUC and accuracy),
// or one patient-level split (--val-fraction f). Held-out patients are never seen in training (fixed
// epochs, no early stopping on them). Writes the model (trained on all patches after k-fold, on the
// training patients of the split otherwise), a results JSON with every held-out score, and a summary
// table on stdout. --positives scores extra images that are all mitoses (e.g. a multi-page TIFF of
// MIDOG figures) and reports the share called mitosis at p > 0.5.
import { readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Engine } from '../engine/engine.js';
import { createNodeEngine } from '../engine/node.js';
import { decodeImagePages, ImageFormatError, rescaleToMpp, type RgbaImage } from '../src/io/image.js';
import type { Model } from '../src/model/model-file.js';
import { describeSpec } from '../src/model/spec.js';
import { loadPatchFolders } from '../src/node/datasets.js';
import { checkOutputFile, MAX_FILE_BYTES, readImageFile, readRegularFile, writeFileAtomic } from '../src/node/files.js';
import { saveModel } from '../src/node/model-io.js';
import { patchFolds, pooledScores, scorePatches, trainPatchModel, type LabelledPatch, type PatchFoldResult } from '../src/train/patch-folders.js';
import { trainOptions, type BatchProgress, type TrainOptions } from '../src/train/trainer.js';
import { checkFlags, flagMpp, flagNumber, flagString, parseArgs, UsageError, flagBoolean, range, whole } from './args.js';
import { resolveSpec } from './spec-flag.js';
import { formatSeconds, Progress } from './progress.js';

const USAGE = `usage: mitoscan train-patches <root> --out model.mitoscan [options]

Trains a mitosis net on patches sorted into <root>/mitosis/ and <root>/non-mitosis/ (the centre
pixel of each patch is its sample; patient = the part of the name before the first _) and reports
ROC AUC and accuracy on held-out patients.

  --out <file>               the model file (required)
  --folds <k>                k-fold cross-validation by patient (k models; the written model is then
                             trained on all patches, unless --no-final)
  --val-fraction <f>         without --folds: hold out about f of the patches, whole patients (default 0.2)
  --no-final                 with --folds: do not train the final model on all patches (no --out written)
  --results <file>           results JSON (default <out>.results.json)
  --force                    replace an existing --out or --results file
  --mpp <µm/px>              resolution of the patches (default 0.25, TUPAC16 at 40x)
  --train-mpp <µm/px>        resolution to train at; patches are rescaled (default 0.4912)
  --spec DNN1|DNN2|compact20x|wide20x|<spec.json>   the net (default compact20x)
  --epochs <n>               epochs per model (default 20; no early stopping)
  --batch <n>                patches per batch (default 32)
  --optimizer sgd|adagrad    (default sgd)
  --lr <x>                   (default 0.01)      --lr-decay <x>   (default 0.95)
  --momentum <x>             (default 0.9)       --weight-decay <x> (default 0.0001)
  --balance plain|balanced   batch composition (default balanced: half mitoses)
  --no-augment               no random rotation / mirroring
  --seed <n>                 folds, initial weights and batches (default 1)
  --positives <file|folder>  extra images that are all mitoses (multi-page TIFFs: every page), scored
                             by the written model: share with p > 0.5
  --positives-mpp <µm/px>    their resolution (default 0.248, MIDOG)`;

const FLAGS = [
  'out', 'folds', 'val-fraction', 'no-final', 'results', 'force', 'mpp', 'train-mpp', 'spec', 'epochs', 'batch', 'optimizer', 'lr', 'lr-decay',
  'momentum', 'weight-decay', 'balance', 'no-augment', 'seed', 'positives', 'positives-mpp', 'help',
];
const BOOLEANS = ['no-final', 'no-augment', 'force', 'help'];

const IMAGE_RE = /\.(jpe?g|png|tiff?|bmp)$/i;

/** Every image (every page of multi-page TIFFs) of a file or a folder (not recursive), sorted by name. */
async function readPositives(path: string): Promise<{ id: string; image: RgbaImage }[]> {
  let files: string[];
  try {
    files = (await stat(path)).isDirectory() ? (await readdir(path)).filter((f) => IMAGE_RE.test(f)).sort().map((f) => join(path, f)) : [path];
  } catch (e) {
    throw new Error(`--positives ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : (e as Error).message}`);
  }
  if (!files.length) throw new Error(`--positives ${path}: the folder holds no images (.jpg, .png, .tif, .bmp)`);
  const out: { id: string; image: RgbaImage }[] = [];
  for (const f of files) {
    const pages = decodeImagePages(await readRegularFile(f, 'image', MAX_FILE_BYTES, ImageFormatError), f); // stat first: no FIFO or device
    pages.forEach((image, p) => out.push({ id: pages.length > 1 ? `${f}#${p}` : f, image }));
  }
  return out;
}

const fmt = (v: number, d = 3) => (Number.isFinite(v) ? v.toFixed(d) : '  n/a');
const num = (v: number) => (Number.isFinite(v) ? v : null);

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, BOOLEANS);
  if (args.flags.has('help')) {
    console.log(USAGE);
    return;
  }
  checkFlags(args, FLAGS);
  if (args.positionals.length !== 1) throw new UsageError(`give exactly one patch folder root (got ${args.positionals.length})`);
  const root = resolve(args.positionals[0]);
  const noFinal = flagBoolean(args, 'no-final');
  const outFlag = flagString(args, 'out');
  if (!outFlag && !noFinal) throw new UsageError('--out <model file> is required');
  const out = outFlag ? resolve(outFlag) : undefined;
  const resultsPath = resolve(flagString(args, 'results') ?? `${out ?? resolve('train-patches')}.results.json`);
  const foldsStr = flagString(args, 'folds');
  const folds = foldsStr === undefined ? undefined : flagNumber(args, 'folds', 5, whole(2));
  if (folds !== undefined && args.flags.has('val-fraction')) throw new UsageError('give --folds or --val-fraction, not both');
  if (noFinal && folds === undefined) throw new UsageError('--no-final goes with --folds');
  const valFraction = flagNumber(args, 'val-fraction', 0.2, range(0, 1));
  const mpp = flagMpp(args) ?? 0.25;
  const trainMpp = flagMpp(args, 'train-mpp') ?? 0.4912;
  const spec = await resolveSpec(flagString(args, 'spec', 'compact20x')!);
  const opt = flagString(args, 'optimizer', 'sgd');
  const bal = flagString(args, 'balance', 'balanced');
  let opts: TrainOptions;
  try {
    opts = trainOptions({
      epochs: flagNumber(args, 'epochs', 20),
      batch: flagNumber(args, 'batch', 32),
      optimizer: opt as TrainOptions['optimizer'],
      lr: flagNumber(args, 'lr', 0.01),
      lrDecay: flagNumber(args, 'lr-decay', 0.95),
      momentum: flagNumber(args, 'momentum', 0.9),
      weightDecay: flagNumber(args, 'weight-decay', 1e-4),
      balance: bal as TrainOptions['balance'],
      augment: !flagBoolean(args, 'no-augment'),
      patience: 0,
      seed: flagNumber(args, 'seed', 1),
      progressEvery: 5,
    });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^train: /, ''));
  }
  const positivesPath = flagString(args, 'positives');
  const positivesMpp = flagMpp(args, 'positives-mpp') ?? 0.248;

  // before any work: a bad --out or --results fails now, not after the training
  const force = flagBoolean(args, 'force');
  if (out && out === resultsPath) throw new UsageError(`--results and --out are the same file (${out}); the results need their own, such as ${out}.results.json`);
  if (out && !noFinal) await checkOutputFile(out, '--out', { force }); // --no-final writes no model
  await checkOutputFile(resultsPath, '--results', { force });

  // ---- data ----
  const files = await loadPatchFolders(root);
  const patches: LabelledPatch[] = [];
  for (const f of files) patches.push({ id: f.path, image: rescaleToMpp(await readImageFile(f.path), mpp, trainMpp), label: f.label, patient: f.patient });
  const nPos = patches.filter((p) => p.label === 1).length;
  if (!nPos || nPos === patches.length) throw new Error(`${root}: training needs both classes; found ${nPos} mitosis and ${patches.length - nPos} non-mitosis patches`);
  const patients = [...new Set(patches.map((p) => p.patient))].sort();
  let split: { k: number; fold: number[] };
  try {
    split = patchFolds(patches, { folds, valFraction, seed: opts.seed });
  } catch (e) {
    throw new Error(`${root}: ${(e as Error).message} (patients are the part of the file name before the first _)`);
  }
  const positives = positivesPath ? (await readPositives(positivesPath)).map((p) => ({ id: p.id, image: rescaleToMpp(p.image, positivesMpp, trainMpp) })) : [];

  const e: Engine = await createNodeEngine();
  const t0 = performance.now();
  const runs = folds !== undefined ? folds + (noFinal ? 0 : 1) : 1;
  console.error(
    `mitoscan train-patches: ${describeSpec(spec)} at ${trainMpp} µm/px on ${e.adapterName}; ${patches.length} patches ` +
      `(${nPos} mitosis) from ${patients.length} patients; ${folds !== undefined ? `${folds}-fold by patient` : `hold-out ~${valFraction} of the patches by patient`}; ${runs} model(s) x ${opts.epochs} epochs`,
  );
  const foldResults: PatchFoldResult[] = [];
  let finalModel: Model | undefined;
  try {
    const runOne = async (label: string, train: number[], test: number[]) => {
      const bar = new Progress(label, opts.epochs);
      const res = await trainPatchModel(e, spec, trainMpp, patches, train, test, opts, {
        onBatch: (p: BatchProgress) => {
          if (p.batch === p.batches) bar.update(p.epoch, Number.isFinite(p.loss) ? `loss ${p.loss.toFixed(3)}` : '');
        },
      });
      bar.done(`loss ${res.history[res.history.length - 1]?.trainLoss.toFixed(3) ?? ''}`);
      return res;
    };
    const idx = patches.map((_, i) => i);
    const testFolds = folds !== undefined ? folds : 1;
    for (let f = 0; f < testFolds; f++) {
      const t1 = performance.now();
      const train = idx.filter((i) => split.fold[i] !== f);
      const test = idx.filter((i) => split.fold[i] === f);
      const res = await runOne(folds !== undefined ? `fold ${f + 1}/${folds}` : 'train', train, test);
      foldResults.push({
        fold: f,
        patients: [...new Set(test.map((i) => patches[i].patient))].sort(),
        nTrain: train.length,
        nTest: test.length,
        auc: res.auc,
        accuracy: res.accuracy,
        loss: res.loss,
        test: test.map((index, k) => ({ index, score: res.probs[k] })),
        history: res.history,
        seconds: (performance.now() - t1) / 1000,
      });
      if (folds === undefined) finalModel = res.model;
    }
    if (folds !== undefined && !noFinal) finalModel = (await runOne('final (all patches)', idx, [])).model;

    const pooled = pooledScores(patches, foldResults.flatMap((r) => r.test));
    let posResult: { n: number; fractionCalledMitosis: number; meanScore: number; scores: { id: string; score: number }[] } | undefined;
    if (finalModel && positives.length) {
      const s = await scorePatches(e, finalModel, positives.map((p) => p.image));
      const called = [...s].filter((v) => v > 0.5).length;
      posResult = { n: s.length, fractionCalledMitosis: called / s.length, meanScore: [...s].reduce((a, b) => a + b, 0) / s.length, scores: positives.map((p, i) => ({ id: p.id, score: s[i] })) };
    }
    const seconds = (performance.now() - t0) / 1000;
    const command = `mitoscan train-patches ${argv.join(' ')}`;
    if (finalModel && out) {
      await saveModel(out, {
        ...finalModel,
        provenance: {
          command,
          dataset: basename(root),
          date: new Date(process.env.SOURCE_DATE_EPOCH ? Number(process.env.SOURCE_DATE_EPOCH) * 1000 : Date.now()).toISOString(),
          epochs: opts.epochs,
          seed: opts.seed,
          metrics: { heldOutAuc: pooled.auc, heldOutAccuracy: pooled.accuracy },
          trainedOn: folds !== undefined ? 'all patches' : 'training patients of the split',
        },
      });
    }
    const results = {
      command,
      root,
      adapter: e.adapterName,
      spec: spec.name,
      specDescription: describeSpec(spec),
      mpp,
      trainMpp,
      options: opts,
      split: folds !== undefined ? { kind: 'patient k-fold', k: folds } : { kind: 'patient hold-out', valFraction },
      patches: patches.length,
      mitoses: nPos,
      patients: patients.length,
      folds: foldResults.map((r) => ({
        fold: r.fold + 1,
        testPatients: r.patients,
        nTrain: r.nTrain,
        nTest: r.nTest,
        nTestMitoses: r.test.filter((t) => patches[t.index].label === 1).length,
        auc: num(r.auc),
        accuracy: num(r.accuracy),
        loss: num(r.loss),
        seconds: r.seconds,
        finalTrainLoss: r.history[r.history.length - 1]?.trainLoss,
      })),
      pooled: { auc: num(pooled.auc), accuracy: num(pooled.accuracy), n: pooled.n },
      scores: foldResults.flatMap((r) => r.test.map((t) => ({ path: patches[t.index].id, patient: patches[t.index].patient, label: patches[t.index].label, fold: r.fold + 1, score: t.score }))),
      positives: posResult ? { path: positivesPath, mpp: positivesMpp, ...posResult } : undefined,
      model: finalModel && out ? out : null,
      seconds,
    };
    await writeFileAtomic(resultsPath, JSON.stringify(results, null, 1) + '\n');

    // ---- summary ----
    const lines = [`${'fold'.padEnd(8)} ${'patients'.padEnd(24)} ${'train'.padStart(5)} ${'test'.padStart(5)} ${'mit'.padStart(4)} ${'AUC'.padStart(6)} ${'acc'.padStart(6)}`];
    for (const r of results.folds) {
      const pts = r.testPatients.join(',');
      lines.push(`${String(r.fold).padEnd(8)} ${(pts.length > 24 ? pts.slice(0, 21) + '...' : pts).padEnd(24)} ${String(r.nTrain).padStart(5)} ${String(r.nTest).padStart(5)} ${String(r.nTestMitoses).padStart(4)} ${fmt(r.auc ?? NaN).padStart(6)} ${fmt(r.accuracy ?? NaN).padStart(6)}`);
    }
    if (foldResults.length > 1) lines.push(`${'pooled'.padEnd(8)} ${''.padEnd(24)} ${''.padStart(5)} ${String(pooled.n).padStart(5)} ${String(results.scores.filter((s) => s.label === 1).length).padStart(4)} ${fmt(pooled.auc).padStart(6)} ${fmt(pooled.accuracy).padStart(6)}`);
    console.log(lines.join('\n'));
    if (posResult) console.log(`positives: ${posResult.n} image(s), ${(100 * posResult.fractionCalledMitosis).toFixed(1)}% called mitosis at p > 0.5 (mean p ${posResult.meanScore.toFixed(3)})`);
    console.log(`${finalModel && out ? `wrote ${out} and ` : 'wrote '}${resultsPath} in ${formatSeconds(seconds)}`);
  } finally {
    e.destroy();
  }
}

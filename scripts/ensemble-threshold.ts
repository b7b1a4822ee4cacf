// The detection threshold of an ensemble (the nets' maps averaged, the paper's DNNf12), chosen by
// the rule `mitoscan train` applies to one net: the largest detection F1 over the validation
// images (disk smoothing with d, suppression within 2d, 5 µm one-to-one matching). The nets must
// have been trained on the same crops with the same validation images (the first model's
// provenance.trainingSet.valImages; same --hold-out, --val-* flags, another --seed). Each net is
// also scored alone on the same images, so the first line reproduces what training recorded.
// Every row also gives the validation crop AUC: the validation figures (crops centred on one)
// against the validation look-alikes (TUPAC16 non-mitosis patches: case 30's 20 for the shipped
// split), each image scored by its best detection within 5 µm of its centre, as heldout-eval.ts
// scores the test crops; a criterion that, unlike F1 over crops, weighs the look-alikes.
// With --imposters-per-figure r, each row also gives the threshold of largest F1 when the
// look-alikes' detections count as r look-alikes per validation figure would (their false alarms
// weighted by r * figures / look-alikes; the crops' own false alarms unweighted): what a whole
// field with r imposters per figure would choose (MIDOG 2021's labels: 2714 "not mitotic figure"
// for 1721 figures, r = 1.58). Validation images only, like the rest.
// Reads the AMi-Br crops and TUPAC16 auxiliary patches from `../shared/data` as training did.
// Usage: node scripts/run-ts.mjs scripts/ensemble-threshold.ts --models a.mitoscan,b.mitoscan
//        [--data ../shared/data] [--crop-mpp 0.25] [--imposters-per-figure 1.58] [--out result.json]
import { join, resolve } from 'node:path';
import { createNodeEngine } from '../engine/node.js';
import { tupacAuxPatient } from '../src/datasets/crops.js';
import type { Model } from '../src/model/model-file.js';
import { loadAmiBrCrops, loadPatchFolderImages } from '../src/node/crops.js';
import { writeFileAtomic } from '../src/node/files.js';
import { loadModel } from '../src/node/model-io.js';
import { aucRoc, contestRadiusPx, cropScore, sweepThresholds } from '../src/eval/score.js';
import { chooseThreshold, detectCandidates } from '../src/train/flow.js';

const argv = process.argv.slice(2);
const flag = (name: string, dflt?: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const paths = (flag('models') ?? '').split(',').filter(Boolean);
if (paths.length < 1) {
  console.error('usage: node scripts/run-ts.mjs scripts/ensemble-threshold.ts --models a.mitoscan,b.mitoscan [--data ../shared/data] [--out result.json]');
  process.exit(2);
}
const data = resolve(flag('data', '../shared/data')!);
const cropMpp = Number(flag('crop-mpp', '0.25'));
const impostersArg = flag('imposters-per-figure');
const imposters = impostersArg === undefined ? undefined : Number(impostersArg);
if (imposters !== undefined && !(imposters > 0)) {
  console.error(`--imposters-per-figure: expected a positive number, got '${impostersArg}'`);
  process.exit(2);
}
const models: Model[] = [];
for (const p of paths) models.push(await loadModel(p));
const valOf = (m: Model) => (m.provenance.trainingSet as { valImages?: string[] } | undefined)?.valImages;
const val = valOf(models[0]);
if (!Array.isArray(val) || !val.length) {
  console.error(`${paths[0]}: the model records no validation images (provenance.trainingSet.valImages)`);
  process.exit(2);
}
for (const [i, m] of models.entries()) {
  if (JSON.stringify(valOf(m)) !== JSON.stringify(val)) {
    console.error(`${paths[i]}: its validation images are not ${paths[0]}'s: the nets were not trained on the same split`);
    process.exit(2);
  }
  if (m.umPerPixel !== models[0].umPerPixel || m.spec.input.size !== models[0].spec.input.size) {
    console.error(`${paths[i]}: another resolution or window than ${paths[0]}'s`);
    process.exit(2);
  }
}
const trainMpp = models[0].umPerPixel, windowSize = models[0].spec.input.size;
const warn = (file: string, reason: string) => console.error(`warning: ${file}: ${reason}`);
const images = [
  ...(await loadAmiBrCrops(join(data, 'amibr-figures'), { trainMpp, cropMpp, windowSize, onWarning: warn })),
  ...(await loadPatchFolderImages(join(data, 'tupac16-aux-patches'), { trainMpp, mpp: cropMpp, windowSize, patient: tupacAuxPatient, onWarning: warn })),
];
const valIds = new Set(val);
const valImages = images.filter((im) => valIds.has(im.id));
if (valImages.length !== valIds.size) {
  console.error(`found ${valImages.length} of the ${valIds.size} validation images under ${data}: not the data the models were trained on`);
  process.exit(2);
}
const e = await createNodeEngine();
// crop-level labels: a look-alike patch is a negative, every other validation image is centred on a figure
const cropLabel = valImages.map((im) => (im.id.startsWith('non-mitosis/') ? 0 : 1));
const radius = contestRadiusPx(trainMpp);
type Weighted = { imposters: number; weight: number; threshold: number; f1: number; sensitivity: number; lookAlikeDetections: number };
const rows: { nets: string; recorded?: number; f1: number; precision: number; recall: number; threshold: number; cropAuc: number; weighted?: Weighted }[] = [];

/** The threshold of largest F1 with the look-alikes' detections weighted to r per figure. */
function impostorWeighted(per: Awaited<ReturnType<typeof detectCandidates>>, r: number): Weighted {
  const figures = per.filter((_, k) => cropLabel[k] === 1), looks = per.filter((_, k) => cropLabel[k] === 0);
  const nFig = figures.reduce((a, p) => a + p.truth.length, 0);
  const weight = looks.length ? (r * nFig) / looks.length : 0;
  const thresholds = [...new Set(per.flatMap((p) => p.dets.map((d) => d.score)))].sort((a, b) => a - b);
  let best: Weighted = { imposters: r, weight, threshold: 1, f1: 0, sensitivity: 0, lookAlikeDetections: 0 };
  for (const p of sweepThresholds(figures, radius, thresholds)) {
    const above = looks.reduce((a, q) => a + q.dets.filter((d) => d.score >= p.threshold).length, 0);
    const { tp, fp, fn } = p.scores;
    const f1 = (2 * tp) / (2 * tp + fp + weight * above + fn);
    if (f1 > best.f1) best = { imposters: r, weight, threshold: p.threshold, f1, sensitivity: tp / (tp + fn), lookAlikeDetections: above };
  }
  return best;
}
try {
  const started = Date.now();
  for (const [label, nets] of [...models.map((m, i) => [paths[i], [m]] as const), ...(models.length > 1 ? [[paths.join(' + '), models] as const] : [])]) {
    const per = await detectCandidates(e, nets, valImages);
    const c = chooseThreshold(per, trainMpp);
    const cropAuc = aucRoc(per.map((r, k) => cropScore(valImages[k].image, r.dets, radius)), cropLabel);
    const recorded = nets.length === 1 ? (nets[0].provenance.metrics as { valF1?: number } | undefined)?.valF1 : undefined;
    const weighted = imposters === undefined ? undefined : impostorWeighted(per, imposters);
    rows.push({ nets: label, ...(recorded !== undefined ? { recorded } : {}), f1: c.f1, precision: c.precision, recall: c.recall, threshold: c.threshold, cropAuc, ...(weighted ? { weighted } : {}) });
    console.log(`${label}: validation F1 ${c.f1.toFixed(4)} (precision ${c.precision.toFixed(4)}, recall ${c.recall.toFixed(4)}) at t = ${c.threshold.toFixed(4)}` +
      (recorded !== undefined ? `; recorded in training: ${recorded.toFixed(4)}` : '') +
      `; crop AUC ${cropAuc.toFixed(4)} (${cropLabel.filter((l) => l === 1).length} figures vs ${cropLabel.filter((l) => l === 0).length} look-alikes) [${((Date.now() - started) / 1000).toFixed(0)} s]`);
    if (weighted) console.log(`  with ${weighted.imposters} imposters per figure (look-alike detections x ${weighted.weight.toFixed(1)}): t = ${weighted.threshold.toFixed(4)}, weighted F1 ${weighted.f1.toFixed(4)}, ` +
      `validation sensitivity ${weighted.sensitivity.toFixed(4)}, ${weighted.lookAlikeDetections} look-alike detection(s) at or above t`);
  }
} finally {
  e.destroy();
}
const out = flag('out');
if (out) await writeFileAtomic(out, JSON.stringify({ validationImages: valImages.length, rows }, null, 2) + '\n');

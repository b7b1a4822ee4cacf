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
// Reads the AMi-Br crops and TUPAC16 auxiliary patches from `../shared/data` as training did.
// Usage: node scripts/run-ts.mjs scripts/ensemble-threshold.ts --models a.mitoscan,b.mitoscan
//        [--data ../shared/data] [--crop-mpp 0.25] [--out result.json]
import { join, resolve } from 'node:path';
import { createNodeEngine } from '../engine/node.js';
import { tupacAuxPatient } from '../src/datasets/crops.js';
import type { Model } from '../src/model/model-file.js';
import { loadAmiBrCrops, loadPatchFolderImages } from '../src/node/crops.js';
import { writeFileAtomic } from '../src/node/files.js';
import { loadModel } from '../src/node/model-io.js';
import { aucRoc, contestRadiusPx, cropScore } from '../src/eval/score.js';
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
const rows: { nets: string; recorded?: number; f1: number; precision: number; recall: number; threshold: number; cropAuc: number }[] = [];
try {
  const started = Date.now();
  for (const [label, nets] of [...models.map((m, i) => [paths[i], [m]] as const), ...(models.length > 1 ? [[paths.join(' + '), models] as const] : [])]) {
    const per = await detectCandidates(e, nets, valImages);
    const c = chooseThreshold(per, trainMpp);
    const cropAuc = aucRoc(per.map((r, k) => cropScore(valImages[k].image, r.dets, radius)), cropLabel);
    const recorded = nets.length === 1 ? (nets[0].provenance.metrics as { valF1?: number } | undefined)?.valF1 : undefined;
    rows.push({ nets: label, ...(recorded !== undefined ? { recorded } : {}), f1: c.f1, precision: c.precision, recall: c.recall, threshold: c.threshold, cropAuc });
    console.log(`${label}: validation F1 ${c.f1.toFixed(4)} (precision ${c.precision.toFixed(4)}, recall ${c.recall.toFixed(4)}) at t = ${c.threshold.toFixed(4)}` +
      (recorded !== undefined ? `; recorded in training: ${recorded.toFixed(4)}` : '') +
      `; crop AUC ${cropAuc.toFixed(4)} (${cropLabel.filter((l) => l === 1).length} figures vs ${cropLabel.filter((l) => l === 0).length} look-alikes) [${((Date.now() - started) / 1000).toFixed(0)} s]`);
  }
} finally {
  e.destroy();
}
const out = flag('out');
if (out) await writeFileAtomic(out, JSON.stringify({ validationImages: valImages.length, rows }, null, 2) + '\n');

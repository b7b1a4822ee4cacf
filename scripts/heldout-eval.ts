// Held-out figures of the shared real data, scored by a model that never saw their slides:
//   - sensitivity: the share of held-out AMi-Br mitotic figures (crops of slides the model records
//     as held out) with a detection at or above the model's threshold within 5 µm of the figure;
//   - crop-level ROC AUC: those figures against the held-out TUPAC16 non-mitosis candidates (hard
//     look-alikes picked by the TUPAC16 organisers) of the held-out cases, each scored by the
//     highest detection within 5 µm of its centre (0 when there is none);
//   - MIDOG 2025 figures (another challenge, other scanners; never used in training): the share of
//     the 16 pages with a detection >= t within 5 µm of the centre, and the other detections >= t
//     per page (false alarms: each 32 µm page holds one figure);
//   - extra detections near figures: detections > t in the labelled region of the held-out crops
//     (every figure of their slides labelled; the region reaches ~8 µm from the crop's figure)
//     farther than 5 µm from every figure: in contest scoring each is a false alarm next to a figure
//     (a large figure detected twice, or a peak beside it), counted per held-out figure;
//   - false alarms on tissue without figures: detections > t in the MITOS-ATYPIA-14 non-mitosis
//     tiles (another scanner), per mm² and per MITOS high-power field (0.262 mm²);
//   - MITOS-ATYPIA-14 tiles (another scanner; never used in training): each tile scored by its
//     highest detection, tile-level ROC AUC, sensitivity and specificity at t.
// (TUPAC16 patch-fields of the held-out cases: `mitoscan eval` on scripts/patches-as-fields.ts
// output, as docs/RESULTS.md shows.)
// The held-out patients are read from the model (provenance.heldOut.patients, written by
// `mitoscan train --hold-out ...`), so the test set is the one training kept out.
// An ensemble: --model a.mitoscan,b.mitoscan (the nets' maps averaged: preset DNNf12 by default; the
// held-out slides are the first model's) with --threshold t (scripts/ensemble-threshold.ts chooses it).
// Usage: node scripts/run-ts.mjs scripts/heldout-eval.ts --model m.mitoscan[,m2.mitoscan] [--data ../shared/data]
//        [--out dir] [--preset DNNf1] [--map-stride 1|2] [--threshold t] [--limit n] [--held-out-of other.mitoscan]
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createNodeEngine } from '../engine/node.js';
import { detectMitoses, detectMitosesMany, toImagePixels, type Preset } from '../src/detect/detector.js';
import { rocCurveSvg } from '../src/eval/plots.js';
import { aucRoc, contestRadiusPx, cropScore, rocCurve } from '../src/eval/score.js';
import { parseAmiBrCsv } from '../src/datasets/crops.js';
import { rescaleToMpp } from '../src/io/image.js';
import { decodeImagePages } from '../src/io/image.js';
import { readImageFile, writeFileAtomic } from '../src/node/files.js';
import { loadModel } from '../src/node/model-io.js';
import { loadAmiBrCrops } from '../src/node/crops.js';

const argv = process.argv.slice(2);
const flag = (name: string, dflt?: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const modelPath = flag('model');
if (!modelPath) {
  console.error('usage: node scripts/run-ts.mjs scripts/heldout-eval.ts --model m.mitoscan [--data ../shared/data] [--out dir] [--preset DNNf1]');
  process.exit(2);
}
const data = resolve(flag('data', '../shared/data')!);
const outDir = flag('out');
const limit = Number(flag('limit', 'Infinity'));
const modelPaths = modelPath.split(',').filter(Boolean);
const models = await Promise.all(modelPaths.map((p) => loadModel(p)));
const model = models[0];
const preset = (flag('preset', models.length > 1 ? 'DNNf12' : 'DNNf1') as Preset);
// --map-stride 2: the nets at every second pixel, the maps filled in between (src/model/dense.ts)
const mapStride = Number(flag('map-stride', '1'));
// --held-out-of m2: score a model (e.g. one trained elsewhere) on the slides that m2 held out
const heldFrom = flag('held-out-of');
const held = ((heldFrom ? await loadModel(heldFrom) : model).provenance.heldOut as { patients?: string[] } | undefined)?.patients;
if (!Array.isArray(held) || !held.length) {
  console.error(`${heldFrom ?? modelPath}: the model records no held-out patients (provenance.heldOut.patients); train it with --hold-out, or give --held-out-of <a model that does>`);
  process.exit(2);
}
const heldSet = new Set(held);
const tFlag = flag('threshold');
if (models.length > 1 && tFlag === undefined) {
  console.error('an ensemble needs --threshold (scripts/ensemble-threshold.ts chooses it on the validation images)');
  process.exit(2);
}
const t = tFlag !== undefined ? Number(tFlag) : typeof model.provenance.threshold === 'number' ? model.provenance.threshold : 0.35;

const CROP_MPP = 0.25; // AMi-Br and TUPAC16 auxiliary patches: 40x, about 0.25 µm/px
interface Item { path: string; label: 0 | 1; patient: string; group: string }
const items: Item[] = [];
const csv = parseAmiBrCsv(readFileSync(join(data, 'amibr-figures/AMI-BR.csv'), 'utf8'), 'AMI-BR.csv');
for (const row of csv) {
  const patient = row.patient;
  if (!heldSet.has(patient)) continue;
  items.push({ path: join(data, 'amibr-figures/patches', row.atypical ? 'atypical' : 'normal', `${row.dataset}_${row.uid}.png`), label: 1, patient, group: row.dataset });
}
for (const f of readdirSync(join(data, 'tupac16-aux-patches/non-mitosis')).sort()) {
  const patient = `TUPAC16:${Number(f.split('_')[0])}`;
  if (heldSet.has(patient)) items.push({ path: join(data, 'tupac16-aux-patches/non-mitosis', f), label: 0, patient, group: 'TUPAC16 aux non-mitosis' });
}
const use = items.slice(0, Math.min(items.length, limit));
const radius = contestRadiusPx(CROP_MPP);
const e = await createNodeEngine();
const scores: number[] = [];
const started = Date.now();
const midog: { page: number; centre: number; others: number }[] = [];
const atypia: { path: string; label: 0 | 1; score: number }[] = [];
const fa = { crops: 0, count: 0 };
const bg = { count: 0, areaMm2: 0 };
try {
  // MIDOG 2025 pages: 128x128 at 0.248 µm/px, a figure at the centre of each
  const midogPath = join(data, 'midog25-figures/stack_5.tiff');
  const pages = decodeImagePages(readFileSync(midogPath), midogPath);
  for (const [k, page] of pages.entries()) {
    const r = await detectMitoses(e, models, page, { preset, mapStride, threshold: t, umPerPixel: 0.248, rescale: rescaleToMpp });
    const cx = (page.width - 1) / 2, cy = (page.height - 1) / 2;
    const rad = contestRadiusPx(0.248);
    const near = r.detections.filter((d) => (d.x - cx) ** 2 + (d.y - cy) ** 2 <= rad * rad && d.score > t);
    midog.push({ page: k, centre: near.length ? 1 : 0, others: r.detections.filter((d) => d.score > t).length - (near.length ? 1 : 0) });
  }
  // MITOS-ATYPIA-14 tiles (scanner H, 0.2273 µm/px): tile score = its highest detection
  for (const [cls, label] of [['mitosis', 1], ['non-mitosis', 0]] as const) {
    const dir = join(data, 'mitos-atypia14-tiles', cls);
    for (const f of readdirSync(dir).sort()) {
      const image = await readImageFile(join(dir, f));
      const r = await detectMitoses(e, models, image, { preset, mapStride, threshold: 0.02, umPerPixel: 0.2273, rescale: rescaleToMpp });
      atypia.push({ path: join(dir, f), label, score: r.detections.reduce((m, d) => Math.max(m, d.score), 0) });
      if (label === 0) {
        bg.count += r.detections.filter((d) => d.score > t).length;
        bg.areaMm2 += (image.width * image.height * 0.2273 ** 2) / 1e6;
      }
    }
  }
  // the crops: DNNf1 and DNNf12 batch the dense maps of same-sized crops (detectMitosesMany, the
  // same detections as detectMitoses one by one); the 8-variant preset goes image by image
  const shown = (k: number) => { if ((k + 1) % 50 === 0 || k === use.length - 1) process.stderr.write(`\rheldout-eval: ${k + 1}/${use.length}`); };
  if (preset === 'DNNf1' || preset === 'DNNf12') {
    const images = await Promise.all(use.map((it) => readImageFile(it.path)));
    const inputs = images.map((im) => rescaleToMpp(im, CROP_MPP, model.umPerPixel));
    const rs = await detectMitosesMany(e, preset === 'DNNf1' ? [model] : models, inputs, { threshold: 0.02, mapStride, onProgress: (d) => shown(d - 1) });
    for (const [k, r] of rs.entries()) {
      scores.push(cropScore(images[k], toImagePixels(r.detections, images[k].width / inputs[k].width, images[k].height / inputs[k].height), radius));
    }
  } else {
    for (const [k, it] of use.entries()) {
      const image = await readImageFile(it.path);
      const r = await detectMitoses(e, models, image, { preset, mapStride, threshold: 0.02, umPerPixel: CROP_MPP, rescale: rescaleToMpp });
      scores.push(cropScore(image, r.detections, radius));
      shown(k);
    }
  }
  // Extra detections near figures: the held-out AMi-Br crops at the model's resolution, in which
  // AMi-Br labels every figure of the slide; detections > t inside each crop's labelled region (the
  // centres whose whole window is tissue, within ~8 µm of the crop's figure) farther than 5 µm from
  // every figure. The region is too close to a figure to say anything about tissue far from one.
  const heldSlides = new Set(csv.filter((r) => heldSet.has(r.patient)).map((r) => r.slide));
  const crops = (await loadAmiBrCrops(join(data, 'amibr-figures'), { trainMpp: model.umPerPixel, cropMpp: CROP_MPP, windowSize: model.spec.input.size, slides: (sl) => heldSlides.has(sl) }))
    .filter((c) => heldSet.has(c.patient))
    .slice(0, limit);
  const faDets = preset === 'DNNf1' || preset === 'DNNf12'
    ? (await detectMitosesMany(e, preset === 'DNNf1' ? [model] : models, crops.map((c) => c.image), { threshold: t, mapStride })).map((r) => r.detections)
    : await Promise.all(crops.map(async (c) => (await detectMitoses(e, models, c.image, { preset, mapStride, threshold: t })).detections));
  const near = contestRadiusPx(model.umPerPixel);
  for (const [k, c] of crops.entries()) {
    const reg = c.region ?? { x0: 0, y0: 0, x1: c.image.width, y1: c.image.height };
    fa.count += faDets[k].filter((d) => d.score > t && d.x >= reg.x0 && d.x < reg.x1 && d.y >= reg.y0 && d.y < reg.y1 && c.mitoses.every((m) => (m.x - d.x) ** 2 + (m.y - d.y) ** 2 > near * near)).length;
  }
  fa.crops = crops.length;
} finally {
  e.destroy();
}
process.stderr.write('\n');
const labels = use.map((i) => i.label);
const pos = use.map((it, i) => ({ it, s: scores[i] })).filter((x) => x.it.label === 1);
const neg = use.map((it, i) => ({ it, s: scores[i] })).filter((x) => x.it.label === 0);
const sens = (xs: typeof pos) => (xs.length ? xs.filter((x) => x.s > t).length / xs.length : NaN);
const atPos = atypia.filter((a) => a.label === 1), atNeg = atypia.filter((a) => a.label === 0);
const f3 = (v: number) => (Number.isNaN(v) ? '-' : v.toFixed(3));
const byGroup = (g: string) => pos.filter((x) => x.it.group === g);
const result = {
  model: modelPaths.map((p) => resolve(p)).join(', '),
  threshold: t,
  preset,
  heldOutPatients: held,
  figures: pos.length,
  negatives: neg.length,
  sensitivity: sens(pos),
  sensitivityMidog21: sens(byGroup('MIDOG21')),
  sensitivityTupac16: sens(byGroup('TUPAC16')),
  figuresMidog21: byGroup('MIDOG21').length,
  figuresTupac16: byGroup('TUPAC16').length,
  negativesAboveT: neg.filter((x) => x.s > t).length,
  cropAuc: aucRoc(scores, labels),
  midog25: { pages: midog.length, found: midog.reduce((a, m) => a + m.centre, 0), falseAlarmsPerPage: midog.reduce((a, m) => a + m.others, 0) / Math.max(1, midog.length) },
  atypia: {
    tiles: atypia.length, mitotic: atPos.length,
    auc: aucRoc(atypia.map((a) => a.score), atypia.map((a) => a.label)),
    sensitivity: atPos.filter((a) => a.score > t).length / Math.max(1, atPos.length),
    specificity: atNeg.filter((a) => !(a.score > t)).length / Math.max(1, atNeg.length),
    scores: atypia,
  },
  nearFigures: { crops: fa.crops, extraDetections: fa.count, perFigure: fa.count / Math.max(1, fa.crops) },
  // a MITOS 2012 high-power field: 2084 x 2084 px at 0.2456 µm/px
  background: { tiles: atNeg.length, areaMm2: bg.areaMm2, detections: bg.count, perMm2: bg.count / bg.areaMm2, perHpf: (bg.count / bg.areaMm2) * ((2084 * 0.2456) ** 2 / 1e6) },
  seconds: (Date.now() - started) / 1000,
  scores: use.map((it, i) => ({ path: it.path, patient: it.patient, label: it.label, score: scores[i] })),
};
console.log(
  `held-out figures: ${pos.length} (${result.figuresMidog21} MIDOG21, ${result.figuresTupac16} TUPAC16) from ${new Set(pos.map((x) => x.it.patient)).size} slides; ` +
    `sensitivity at t = ${t.toFixed(4)}: ${f3(result.sensitivity)} (MIDOG21 ${f3(result.sensitivityMidog21)}, TUPAC16 ${f3(result.sensitivityTupac16)})`,
);
console.log(`held-out TUPAC16 non-mitosis candidates: ${neg.length}, ${result.negativesAboveT} with a detection > t; crop ROC AUC (figures vs candidates): ${f3(result.cropAuc)}`);
console.log(`MIDOG 2025 figures: ${result.midog25.found}/${result.midog25.pages} found at t; ${result.midog25.falseAlarmsPerPage.toFixed(2)} other detections > t per 32 µm page`);
console.log(`extra detections near figures: ${fa.count} detection(s) > t 5-8 µm from a labelled figure in ${fa.crops} held-out crops (${result.nearFigures.perFigure.toFixed(3)} per figure)`);
console.log(
  `false alarms on tissue without figures: ${bg.count} detection(s) > t in the ${atNeg.length} MITOS-ATYPIA-14 non-mitosis tiles (${bg.areaMm2.toFixed(3)} mm²): ` +
    `${result.background.perMm2.toFixed(1)} per mm², ${result.background.perHpf.toFixed(2)} per MITOS high-power field (0.262 mm²)`,
);
console.log(`MITOS-ATYPIA-14 tiles: AUC ${f3(result.atypia.auc)} (${atPos.length} mitotic of ${atypia.length}); at t sensitivity ${f3(result.atypia.sensitivity)}, specificity ${f3(result.atypia.specificity)}`);
if (outDir) {
  await writeFileAtomic(join(outDir, 'heldout.json'), JSON.stringify(result, null, 1));
  await writeFileAtomic(join(outDir, 'heldout-roc.svg'), rocCurveSvg(rocCurve(scores, labels), { title: `held-out figures vs TUPAC16 candidates (AUC ${f3(result.cropAuc)})` }));
  console.log(`wrote ${join(outDir, 'heldout.json')} and heldout-roc.svg`);
}

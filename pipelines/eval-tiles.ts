// `mitoscan eval <root> --layout tiles`: tiles known only by class (root/mitosis/*.jpg and
// root/non-mitosis/*.jpg, the mitosis anywhere in the tile, as in the MITOS-ATYPIA-14 excerpt), so
// no location can be matched: each tile is scored by its highest detection score, and the detector
// is judged as a tile classifier (ROC AUC; at t, a tile with a detection above t is called mitotic).
//
// Writes into --out: scores.json, tiles.csv (every tile's score and count above t), roc.svg and
// gallery.png (every tile's best detection, sorted by score, framed green when the tile is labelled
// mitotic and red when not).
import { join, relative } from 'node:path';
import { createNodeEngine } from '../engine/node.js';
import { scoreText } from '../src/detect/results.js';
import { detectMitoses, type Preset } from '../src/detect/detector.js';
import { assembleGallery, galleryCropPx, galleryTile, type GalleryTile } from '../src/eval/gallery.js';
import { rocCurveSvg } from '../src/eval/plots.js';
import { aucRoc, rocCurve } from '../src/eval/score.js';
import { encodePng, rescaleToMpp } from '../src/io/image.js';
import type { Model } from '../src/model/model-file.js';
import { loadPatchFolders } from '../src/node/datasets.js';
import { readImageFile, writeFileAtomic } from '../src/node/files.js';
import { formatSeconds, Progress } from './progress.js';

/** Detections down to this score count for a tile's score (a tile without any scores 0). */
const TILE_FLOOR = 0.02;

export interface TileEvalOptions {
  models: Model[];
  modelPaths: string[];
  preset: Preset;
  /** The dense maps' stride (1 = exact; src/model/dense.ts). */
  mapStride: number;
  umPerPixel: number;
  threshold: number;
  thresholdSource: string;
  outDir: string;
  galleryMax: number;
  tile?: number;
}

const f3 = (v: number) => (Number.isNaN(v) ? '-' : v.toFixed(3));

export async function evaluateTiles(root: string, o: TileEvalOptions): Promise<void> {
  const files = await loadPatchFolders(root);
  const started = Date.now();
  const crop = galleryCropPx(o.umPerPixel);
  const rows: { path: string; label: 0 | 1; score: number; above: number; width: number; height: number }[] = [];
  const tiles: GalleryTile[] = [];
  const e = await createNodeEngine();
  try {
    const progress = new Progress('eval (tiles)', files.length);
    progress.update(0);
    for (const [k, f] of files.entries()) {
      const image = await readImageFile(f.path);
      const r = await detectMitoses(e, o.models, image, { preset: o.preset, mapStride: o.mapStride, threshold: TILE_FLOOR, umPerPixel: o.umPerPixel, rescale: rescaleToMpp, tileSize: o.tile });
      const best = r.detections.reduce<(typeof r.detections)[number] | undefined>((b, d) => (!b || d.score > b.score ? d : b), undefined);
      rows.push({ path: f.path, label: f.label, score: best?.score ?? 0, above: r.detections.filter((d) => d.score > o.threshold).length, width: image.width, height: image.height });
      if (best && o.galleryMax > 0) tiles.push(galleryTile(image, { ...best, tp: f.label === 1 }, { crop }));
      progress.update(k + 1, relative(root, f.path));
    }
    progress.done();
  } finally {
    e.destroy();
  }

  const scores = rows.map((r) => r.score);
  const labels = rows.map((r) => r.label);
  const auc = aucRoc(scores, labels);
  const curve = rocCurve(scores, labels);
  const pos = rows.filter((r) => r.label === 1);
  const neg = rows.filter((r) => r.label === 0);
  const tp = pos.filter((r) => r.score > o.threshold).length;
  const fp = neg.filter((r) => r.score > o.threshold).length;
  const at = {
    tp, fn: pos.length - tp, fp, tn: neg.length - fp,
    sensitivity: pos.length ? tp / pos.length : NaN,
    specificity: neg.length ? (neg.length - fp) / neg.length : NaN,
    accuracy: rows.length ? (tp + neg.length - fp) / rows.length : NaN,
  };
  const summary = {
    dataset: root,
    layout: 'tiles',
    models: o.modelPaths,
    preset: o.preset,
    ...(o.mapStride > 1 ? { mapStride: o.mapStride } : {}),
    umPerPixel: o.umPerPixel,
    tileScore: `highest detection score in the tile (detections down to ${TILE_FLOOR}; none = 0)`,
    threshold: o.threshold,
    thresholdSource: o.thresholdSource,
    tiles: rows.length,
    mitosisTiles: pos.length,
    auc,
    atThreshold: at,
    seconds: (Date.now() - started) / 1000,
    perTile: rows.map((r) => ({ ...r, path: relative(root, r.path) })),
    roc: curve.map((p) => ({ ...p, threshold: Number.isFinite(p.threshold) ? p.threshold : null })),
  };
  const json = JSON.stringify(summary, (_, v) => (typeof v === 'number' && Number.isNaN(v) ? null : v), 2);
  await writeFileAtomic(join(o.outDir, 'scores.json'), json + '\n');
  const csv = 'tile,label,score,detections_above_t\n' + rows.map((r) => `${JSON.stringify(relative(root, r.path))},${r.label},${scoreText(r.score)},${r.above}`).join('\n') + '\n';
  await writeFileAtomic(join(o.outDir, 'tiles.csv'), csv);
  const written = ['scores.json', 'tiles.csv'];
  if (curve.length) {
    const chosen = curve.reduce((b, p) => (p.threshold > o.threshold ? p : b), curve[0]);
    await writeFileAtomic(
      join(o.outDir, 'roc.svg'),
      rocCurveSvg(curve, { title: `Tiles: ${pos.length} mitotic, ${neg.length} not`, auc, chosen: { tpr: chosen.tpr, fpr: chosen.fpr, label: `t = ${o.threshold.toFixed(3)}: sensitivity ${f3(at.sensitivity)}, specificity ${f3(at.specificity)}` } }),
    );
    written.push('roc.svg');
  }
  if (o.galleryMax > 0 && tiles.length) {
    await writeFileAtomic(join(o.outDir, 'gallery.png'), encodePng(assembleGallery(tiles, { crop, maxTiles: o.galleryMax })));
    written.push('gallery.png');
  }
  console.log(`mitoscan eval: ${rows.length} tile(s) (${pos.length} labelled mitotic), ${o.preset} with ${o.models.length} net(s) at ${o.umPerPixel} µm/px, ${formatSeconds(summary.seconds)}`);
  console.log(`tile-level ROC AUC (highest detection score per tile): ${f3(auc)}`);
  console.log(`at t = ${o.threshold.toFixed(3)} (${o.thresholdSource}): sensitivity ${f3(at.sensitivity)} (${tp}/${pos.length}), specificity ${f3(at.specificity)} (${at.tn}/${neg.length}), accuracy ${f3(at.accuracy)}`);
  console.log(`wrote ${o.outDir}/{${written.join(',')}}`);
}

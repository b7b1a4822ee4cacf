// `mitoscan demo [options]`: the whole method on one procedural H&E field with known mitoses, no
// data needed. Generates the field (src/synth/tissue.ts) at the model's µm per pixel, runs the
// detector once at a low candidate threshold (raising t only removes detections: the greedy
// suppression visits maxima by decreasing score, so the detections above t are exactly the
// candidates above t), and scores it as the ICPR 2012 contest did (5 µm match radius).
//
// Writes into --out: field.png, truth.csv, field.{csv,json,geojson,overlay.png,heatmap.png}
// (detections at the model's threshold; src/detect/report.ts), candidates.csv (every candidate
// with its TP flag), pr.svg and f1.svg (the paper's Fig. 3), scores.json.
import { join, resolve } from 'node:path';
import { createNodeEngine } from '../engine/node.js';
import { detectMitoses, PRESETS, type Preset } from '../src/detect/detector.js';
import { writeReport } from '../src/detect/report.js';
import { scoreText } from '../src/detect/results.js';
import { f1ThresholdSvg, prCurveSvg } from '../src/eval/plots.js';
import { bestThreshold, CONTEST_RADIUS_UM, contestRadiusPx, defaultThresholds, matchDetections, sweepThresholds } from '../src/eval/score.js';
import { encodePng } from '../src/io/image.js';
import { loadDemoModel } from '../src/node/default-model.js';
import { checkOutputDir, writeFileAtomic } from '../src/node/files.js';
import { generateField } from '../src/synth/tissue.js';
import { checkFlags, flagNumber, flagString, parseArgs, UsageError, range, whole } from './args.js';
import { detectionSteps, loadModels, modelThreshold } from './detect.js';
import { table } from './table.js';
import { formatSeconds, Progress } from './progress.js';

/**
 * Default field side, pixels. Measured on the CPU adapter (lavapipe, 2 shared cores under load)
 * with compact20x at 0.4912 µm/px, DNNf1: 512 -> 33 s of detection (one tile), 768 -> 1 min 56 s
 * (four tiles). 512 keeps the demo well inside a couple of minutes; GPUs can take --size 2084.
 */
export const DEMO_SIZE = 512;
/**
 * Candidates for the demo's threshold sweep: every detection above 0.1, or above the operating
 * threshold when that is lower (candT below), so no threshold is ever raised.
 */
export const DEMO_CANDIDATE_THRESHOLD = 0.1;

const USAGE = `usage: mitoscan demo [options]

Runs the detector on a procedural H&E field with known mitoses and scores it: no data needed.

options:
  --out <dir>        output folder (default ./mitoscan-demo)
  --size <px>        side of the square field (default ${DEMO_SIZE})
  --seed <n>         which field (default 7)
  --preset DNNf1|DNNf12|DNN   ensemble preset (default DNNf1)
  --model <file>     the net (default: the demonstration model models/demo.mitoscan, trained on
                     procedural fields like this one; the real-tissue default model is for real slides)
  --threshold <t>    operating threshold (default: the model's recorded threshold, else 0.35)
  --tile <px>        dense-evaluation tile size (default: automatic)

writes: field.png, truth.csv, field.csv/.json/.geojson (detections at the threshold),
field.overlay.png (TP green, FP red, missed blue), field.heatmap.png, candidates.csv,
pr.svg, f1.svg (precision-recall and F1 against the threshold), scores.json`;

const FLAGS = ['out', 'size', 'seed', 'preset', 'model', 'threshold', 'tile', 'help'];

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, ['help']);
  if (args.flags.has('help')) {
    console.log(USAGE);
    return;
  }
  checkFlags(args, FLAGS);
  if (args.positionals.length) throw new UsageError(`unexpected argument '${args.positionals[0]}' (demo takes options only)`);
  const outDir = resolve(flagString(args, 'out') ?? 'mitoscan-demo');
  const size = flagNumber(args, 'size', DEMO_SIZE, whole(16, 8192));
  const seed = flagNumber(args, 'seed', 7, whole(0));
  const preset = flagString(args, 'preset', 'DNNf1') as Preset;
  if (!Object.hasOwn(PRESETS, preset)) throw new UsageError(`--preset: '${preset}' is not one of ${Object.keys(PRESETS).join(', ')}`);
  const fixedT = args.flags.has('threshold') ? flagNumber(args, 'threshold', 0, range(0, 1, { from: true })) : undefined;
  const tile = args.flags.has('tile') ? flagNumber(args, 'tile', 0, whole(16)) : undefined;

  await checkOutputDir(outDir); // before any work: a bad --out fails now, not after the detection
  const modelArg = flagString(args, 'model');
  const { models, names } = modelArg === undefined
    ? { models: [await loadDemoModel()], names: ['models/demo.mitoscan: the demo model, trained on procedural fields'] }
    : await loadModels(modelArg);
  const model = models[0];
  const mpp = model.umPerPixel;
  const threshold = fixedT ?? modelThreshold(model);
  const candT = Math.min(DEMO_CANDIDATE_THRESHOLD, threshold);

  const started = Date.now();
  const field = generateField({ width: size, height: size, seed, mpp });
  const image = field.image;
  const truth = field.mitoses.map((m) => ({ x: m.x, y: m.y }));
  const genSeconds = (Date.now() - started) / 1000;

  const e = await createNodeEngine();
  const adapter = e.adapterName;
  let res;
  const t0 = Date.now();
  try {
    const bar = new Progress(`demo ${size}x${size}`, detectionSteps(e, [model], preset, size, size, mpp, tile));
    bar.update(0);
    let step = 0;
    res = await detectMitoses(e, [model], image, {
      preset,
      threshold: candT,
      keepMap: true,
      tileSize: tile,
      onProgress: () => bar.update(++step),
    });
    bar.done();
  } finally {
    e.destroy();
  }
  const detectSeconds = (Date.now() - t0) / 1000;

  const candidates = res.detections;
  const dets = candidates.filter((d) => d.score > threshold);
  const radiusPx = contestRadiusPx(mpp);
  const cand = matchDetections(candidates, truth, radiusPx);
  const thresholds = [...new Set([...defaultThresholds(candidates.map((d) => d.score), { floor: candT }), threshold])].sort((a, b) => a - b);
  const sweep = sweepThresholds([{ dets: candidates, truth }], radiusPx, thresholds);
  const atT = sweep.find((p) => p.threshold === threshold)!.scores;
  const best = bestThreshold(sweep);

  await writeFileAtomic(join(outDir, 'field.png'), encodePng(image));
  await writeFileAtomic(
    join(outDir, 'truth.csv'),
    'x,y,phase\n' + field.mitoses.map((m) => `${m.x},${m.y},${m.phase}`).join('\n') + (field.mitoses.length ? '\n' : ''),
  );
  const rep = await writeReport(
    outDir,
    {
      name: 'field',
      imageName: 'field.png',
      image,
      umPerPixel: mpp,
      detections: dets,
      map: res.map,
      truth,
      meta: { model: names[0], net: model.spec.name, preset, threshold, seed, size, seconds: detectSeconds },
    },
    writeFileAtomic,
  );
  await writeFileAtomic(
    join(outDir, 'candidates.csv'),
    'x,y,score,tp\n' + candidates.map((d, i) => `${d.x},${d.y},${scoreText(d.score)},${cand.tp[i] ? 1 : 0}`).join('\n') + (candidates.length ? '\n' : ''),
  );
  const title = `demo field ${size}x${size} (seed ${seed}), ${model.spec.name} ${preset}`;
  await writeFileAtomic(join(outDir, 'pr.svg'), prCurveSvg(sweep, { title: `Precision-recall, ${title}`, chosenThreshold: threshold }));
  await writeFileAtomic(join(outDir, 'f1.svg'), f1ThresholdSvg(sweep, { title: `F1 against t, ${title}`, chosenThreshold: threshold }));
  const summary = {
    model: names[0],
    net: model.spec.name,
    umPerPixel: mpp,
    preset,
    size,
    seed,
    adapter,
    truth: truth.length,
    radiusUm: CONTEST_RADIUS_UM,
    candidateThreshold: candT,
    threshold,
    scores: atT,
    best,
    seconds: { field: genSeconds, detect: detectSeconds, total: (Date.now() - started) / 1000 },
    sweep,
  };
  await writeFileAtomic(join(outDir, 'scores.json'), JSON.stringify(summary, null, 2) + '\n');
  if (rep.scores && (rep.scores.tp !== atT.tp || rep.scores.fp !== atT.fp || rep.scores.fn !== atT.fn)) {
    throw new Error(`demo: internal error, the report's scores ${JSON.stringify(rep.scores)} differ from the sweep's ${JSON.stringify(atT)}`);
  }

  const f3 = (v: number) => v.toFixed(3);
  console.log(
    `mitoscan demo: ${size}x${size} field (seed ${seed}) at ${mpp} µm/px with ${truth.length} mitoses; ${model.spec.name} (${names[0]}) ${preset} on ${adapter}: ` +
      `detection ${formatSeconds(detectSeconds)}`,
  );
  console.log(
    table([
      ['', 'threshold', 'precision', 'recall', 'F1', 'TP', 'FP', 'FN'],
      ["at the model's threshold", f3(threshold), f3(atT.precision), f3(atT.recall), f3(atT.f1), `${atT.tp}`, `${atT.fp}`, `${atT.fn}`],
      ['best over thresholds', f3(best.threshold), f3(best.scores.precision), f3(best.scores.recall), f3(best.scores.f1), `${best.scores.tp}`, `${best.scores.fp}`, `${best.scores.fn}`],
    ]),
  );
  console.log(`wrote ${outDir}/{field.png,truth.csv,field.csv,field.json,field.geojson,field.overlay.png,field.heatmap.png,candidates.csv,pr.svg,f1.svg,scores.json}`);
}

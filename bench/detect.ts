// npm run bench:detect [-- --size 512 --presets DNNf1,DNNf12,DNN --tile 512 --reps 2 --profile --map-stride 2]
// (--profile: GPU time per kernel over each preset's runs; --dilated-tile 1x4: the forward conv's
// register tile at dilation > 1, CG vec4s of channels x PX pixels, for an A/B against the default;
// --conv-weights storage: the conv weights from a storage binding instead of a uniform buffer, A/B)
// Time of the whole detector (dense maps of every net and variant, disk smoothing, suppression) on a
// procedural H&E field the size of a MITOS high-power field (2084x2084 at 0.2456 µm/px), for the
// paper's three presets with DNN1 + DNN2 (Table 1) at random weights (initModel): the work per pixel
// does not depend on the weights. The paper (MATLAB GPU code, 2013): DNNf1 31 s, DNNf12 ~1 min,
// DNN ~8 min per image. A benchmark, not a test: it asserts nothing.
// On a CPU adapter (lavapipe) the full field with DNN takes long: use --size 512 (or less).
import { createNodeEngine } from '../engine/node.js';
import { detectMitoses, PRESETS, type Preset } from '../src/detect/detector.js';
import { CONV_TILE } from '../engine/ops/conv2d.js';
import { MATMUL_FORM } from '../engine/ops/matmul.js';
import { initModel } from '../src/model/model-file.js';
import { DNN1, DNN2 } from '../src/model/spec.js';
import { generateField } from '../src/synth/tissue.js';
import { convWeightsFlag, subgroupsFlag, flag, intFlag } from './flags.js';
import { printKernelTimes, profileFlag } from './profile.js';


const FULL = 2084; // MITOS scanner A high-power field, pixels
const size = intFlag('size', FULL, 16);
const reps = intFlag('reps', 1, 1);
const tile = flag('tile') === undefined ? undefined : intFlag('tile', 0, 16);
// --map-stride 2: the nets on every second pixel, the map filled in between (src/model/dense.ts)
const mapStride = intFlag('map-stride', 1, 1);
const presets = (flag('presets') ?? 'DNNf1,DNNf12,DNN').split(',').map((s) => s.trim()).filter(Boolean) as Preset[];
for (const p of presets) if (!Object.hasOwn(PRESETS, p)) throw new Error(`--presets: '${p}' is not one of ${Object.keys(PRESETS).join(', ')}`);

// --dilated-tile CGxPX: the forward conv's register tile at dilation > 1 (A/B against the default)
const dt = flag('dilated-tile');
if (dt !== undefined) {
  const m = /^([1-4])x([1-4])$/.exec(dt);
  if (!m) throw new Error(`--dilated-tile: '${dt}' is not CGxPX with CG, PX in 1..4 (e.g. 1x4)`);
  CONV_TILE.dilated = { CG: Number(m[1]), PX: Number(m[2]) };
}

const weightsNote = convWeightsFlag(CONV_TILE);
const mpp = 0.2456;
const models = [initModel(DNN1, 1, { umPerPixel: mpp }), initModel(DNN2, 2, { umPerPixel: mpp })];
const field = generateField({ width: size, height: size, seed: 2084, mpp });
const mp = (size * size) / 1e6;

const e = await createNodeEngine(profileFlag ? { profile: true } : {});
try {
  console.log(`adapter: ${e.adapterName}; forward conv tile at dilation > 1: ${CONV_TILE.dilated.CG * 4} channels x ${CONV_TILE.dilated.PX} pixels; ${weightsNote}; ${subgroupsFlag([CONV_TILE, MATMUL_FORM], e.subgroupMinSize)}`);
  console.log(
    `field: ${size}x${size} px (${mp.toFixed(2)} MP)${size === FULL ? ', a full MITOS high-power field' : `, not the full ${FULL}x${FULL} field (--size)`}; ` +
      `nets DNN1 + DNN2 (random weights); ${reps} rep(s); tile ${tile ?? 'automatic'}`,
  );
  // Borders: every image is mirror-padded by the window (S - 1 = 100 px in all), so the nets run on
  // (size + 100)^2 pixels; small sizes pay more per megapixel.
  const pad = ((size + 100) / size) ** 2;
  console.log(`padded area / image area: ${pad.toFixed(2)} (the 101x101 windows of the border pixels; s/MP falls with size)`);
  // Warm-up: compiles the size-independent pipelines (a tiny field, both nets, one variant). The
  // engine passes tensor shapes as pipeline constants, so the first run at a new image size still
  // compiles the dense nets' pipelines for that size: with --reps >= 2 the table shows both the
  // first run and the best of the later ones (steady state).
  const w0 = performance.now();
  const warm = generateField({ width: 16, height: 16, seed: 1, mpp });
  await detectMitoses(e, models, warm.image, { preset: 'DNNf12' });
  if (profileFlag) await e.kernelTimes(); // resets them: the profile covers the timed runs only
  console.log(`warm-up (16x16 DNNf12): ${((performance.now() - w0) / 1000).toFixed(1)} s\n`);

  const header = ['preset', 'nets x variants', 'first run s', reps > 1 ? `best of ${reps - 1} s` : 'later runs s', 's / MP', 's / net / variant', 'detections'];
  const print = (r: string[]) => console.log(r.map((v, c) => (c === 0 ? v.padEnd(8) : v.padStart(c === 1 ? 15 : 13))).join('  '));
  print(header);
  for (const preset of presets) {
    const nets = Math.min(models.length, PRESETS[preset].nets);
    const runs = nets * PRESETS[preset].variants;
    const times: number[] = [];
    let count = 0;
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      const res = await detectMitoses(e, models, field.image, { preset, tileSize: tile, mapStride });
      times.push((performance.now() - t0) / 1000);
      count = res.detections.length;
    }
    const later = times.length > 1 ? Math.min(...times.slice(1)) : undefined;
    const s = later ?? times[0];
    print([preset, `${nets} x ${PRESETS[preset].variants}`, times[0].toFixed(2), later === undefined ? '-' : later.toFixed(2), (s / mp).toFixed(2), (s / runs).toFixed(2), `${count}`]);
    if (profileFlag) await printKernelTimes(e, 1000 * times.reduce((a, t) => a + t, 0));
  }
  console.log(
    `\nsize run: ${size}x${size}; s / MP and s / net / variant from ${reps > 1 ? 'the best later run' : 'the first run (includes pipeline compilation; --reps 2 for steady state)'}; ` +
      'paper (2013 GPU, 2084x2084): DNNf1 31 s, DNNf12 ~60 s, DNN ~480 s',
  );
} finally {
  e.destroy();
}

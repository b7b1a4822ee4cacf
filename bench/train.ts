// npm run bench:train [-- --spec DNN1 --batch 256 --batches 20 --conv-weights storage]
// Training throughput (patches per second) of the real training loop (src/train/trainer.ts): patches
// cut on the GPU from whole images with a random rotation and mirroring, forward, backward, SGD step,
// the loss summed on the GPU. DNN1 at 101x101 by default, batch 256, reduced (halved) when the
// adapter's storage-binding limit cannot hold the largest activation; prints the adapter it ran on.
// A benchmark, not a test: it asserts nothing.
import { createNodeEngine } from '../engine/node.js';
import { DEFAULT_NORMALISATION, initModel } from '../src/model/model-file.js';
import { layerShapes, NAMED_SPECS } from '../src/model/spec.js';
import { generateField } from '../src/synth/tissue.js';
import { makeRng, type Sample } from '../src/train/sampling.js';
import { ImageStore, Trainer } from '../src/train/trainer.js';
import { CONV_TILE } from '../engine/ops/conv2d.js';
import { MATMUL_FORM } from '../engine/ops/matmul.js';
import { convWeightsFlag, subgroupsFlag } from './flags.js';
import { printKernelTimes, profileFlag } from './profile.js';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};

const specName = flag('spec') ?? 'DNN1';
const spec = NAMED_SPECS[specName];
if (!spec) {
  console.error(`bench:train: unknown --spec ${specName} (use ${Object.keys(NAMED_SPECS).join(', ')})`);
  process.exit(2);
}
const asked = Number(flag('batch') ?? 256);
const optimizer = (flag('optimizer') ?? 'sgd') as 'sgd' | 'adagrad';
const weightsNote = convWeightsFlag(CONV_TILE);

const e = await createNodeEngine(profileFlag ? { profile: true } : {});
try {
  const maxBinding = e.limits.maxStorageBufferBindingSize;
  // the largest tensor of a training step: the input batch or a layer's output (maps x size^2 per patch)
  const perPatch = Math.max(spec.input.channels * spec.input.size ** 2, ...layerShapes(spec).map((s) => s.maps * s.size * s.size)) * 4;
  let B = asked;
  // the engine's pool rounds sizes up by up to 25%
  while (B > 1 && B * perPatch * 1.25 > maxBinding) B = Math.floor(B / 2);
  const cpu = /llvmpipe|lavapipe|swiftshader|software|warp/i.test(e.adapterName);
  const batches = Number(flag('batches') ?? (cpu ? 3 : 20));
  console.log(`adapter: ${e.adapterName}; ${weightsNote}; ${subgroupsFlag([CONV_TILE, MATMUL_FORM], e.subgroupMinSize)}`);
  console.log(
    `${specName} (${spec.input.size}x${spec.input.size} window), batch ${B}` +
      (B < asked ? ` (reduced from ${asked}: the adapter's max storage binding is ${(maxBinding / 2 ** 20).toFixed(0)} MiB, a batch needs ${((asked * perPatch * 1.25) / 2 ** 20).toFixed(0)} MiB)` : '') +
      `, ${batches} timed batches${cpu ? ' (CPU adapter: few batches)' : ''}, ${optimizer}`,
  );

  // two procedural fields on the GPU; random centres, random labels
  const size = 512;
  const images = [1, 2].map((seed) => generateField({ width: size, height: size, seed, mpp: 0.2456 }).image);
  const store = ImageStore.upload(e, images);
  const rng = makeRng(7);
  const samples = (n: number): Sample[] =>
    Array.from({ length: n }, () => ({ image: Math.floor(rng() * 2), x: Math.floor(rng() * size), y: Math.floor(rng() * size), label: rng() < 0.5 ? 1 : 0 }));
  const model = { spec, normalisation: DEFAULT_NORMALISATION, params: initModel(spec, 1).params };
  const opts = { batch: B, epochs: 1, optimizer, patience: 0, lr: 0.001 };

  // warm-up: one batch compiles every kernel
  let t0 = performance.now();
  const warm = Trainer.create(e, model, store, samples(B), [], { ...opts, progressEvery: 1 });
  await warm.run();
  warm.destroy();
  console.log(`warm-up batch (compiles the kernels): ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (profileFlag) await e.kernelTimes(); // resets them: the profile covers the timed batches only

  // timed: the loss is read once, at the end of the epoch (as in training with a large progressEvery)
  const t = Trainer.create(e, model, store, samples(B * batches), [], { ...opts, progressEvery: batches });
  t0 = performance.now();
  const r = await t.run();
  const sec = (performance.now() - t0) / 1000;
  t.destroy();
  store.destroy();
  if (profileFlag) await printKernelTimes(e, sec * 1000);
  console.log(`${batches * B} patches in ${sec.toFixed(2)} s: ${((batches * B) / sec).toFixed(1)} patches/s (${((sec * 1000) / batches).toFixed(0)} ms per batch); loss ${r.history[0].trainLoss.toFixed(4)}`);
} finally {
  e.destroy();
}

// npm run bench:peers [-- --size 128 --reps 3 --batch 64]
// mitoscan against a peer WebGPU engine, tfjs-backend-webgpu 4.22.0 (installed into .peers/ by
// scripts/install-peers.sh, not a project dependency), on the same Dawn adapter in the same process:
//   1. dense forward of DNN1 (DNNf1's per-net work): mitoscan's denseLogits (src/model/dense.ts, the
//      "a trous" form: stride-1 pooling, later layers dilated by 2, 4, 8, ...; the FC layers as
//      dilated / 1x1 convolutions) against the same graph in tfjs (tf.fused.conv2d with dilations
//      and bias, tf.tanh, tf.pool 'max' with dilations), on one padded, normalised input of
//      (size + 100)^2 pixels -> size^2 logits. Timed: upload, the net, readback of the logits.
//      Not timed, in neither: normalisation, padding, the per-pixel softmax and the detector's
//      post-processing (disk smoothing, suppression).
//   2. one training step of DNN1 on a fixed batch of random normalised 3x101x101 patches with random
//      labels: forward, softmax cross-entropy, backward, SGD with momentum 0.9 (lr 0.01, no weight
//      decay) of every weight, the loss read back. mitoscan: Network.lossAndGradients + sgdStep +
//      sumAll (the Trainer's step without its patch gather); tfjs: optimizer.minimize with
//      tf.train.momentum over tf.variables.
// Both start from the same weights (initModel(DNN1, 1), converted to tfjs's NHWC / HWIO layouts).
// The two probability maps must agree (max |diff| <= 1e-3) and so must the training losses, or the
// run fails: the same computation is timed on both sides. Times are the best of --reps after one
// warm-up run (which compiles the pipelines); the two engines alternate per task.
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { create } from 'webgpu';
import { createNodeEngine } from '../engine/node.js';
import type { Engine, Tensor } from '../engine/engine.js';
import { sumAll } from '../engine/ops/reduce.js';
import { denseLogits, normaliseImage } from '../src/model/dense.js';
import { DEFAULT_NORMALISATION, initModel } from '../src/model/model-file.js';
import { Network, releaseParams } from '../src/model/network.js';
import { describeSpec, DNN1, layerShapes } from '../src/model/spec.js';
import { mulberry32 } from '../src/rng.js';
import { generateField } from '../src/synth/tissue.js';
import { CONV_TILE } from '../engine/ops/conv2d.js';
import { MATMUL_FORM } from '../engine/ops/matmul.js';
import { convWeightsFlag, subgroupsFlag, intFlag } from './flags.js';


const size = intFlag('size', 128, 1);
const reps = intFlag('reps', 3, 1);
const batch = intFlag('batch', 64, 1);
const TOL = 1e-3;
const LR = 0.01;
const MOMENTUM = 0.9;

// ---- the peer: a narrow, local view of the tfjs API used here (tfjs is loaded untyped at run time) ----

interface TfTensor {
  shape: number[];
  data(): Promise<Float32Array>;
  dispose(): void;
}
type Rank4 = [number, number, number, number];
interface TfVariable extends TfTensor {
  assign(t: TfTensor): void;
}
interface TfOptimizer {
  minimize(f: () => TfTensor, returnCost: boolean, varList: TfVariable[]): TfTensor | null;
  dispose(): void;
}
interface TfBackend {
  device?: GPUDevice;
  adapterInfo?: { vendor?: string; architecture?: string };
}
interface Tf {
  version_core: string;
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
  backend(): TfBackend;
  removeBackend(name: string): void;
  tidy<T>(f: () => T): T;
  tensor(data: Float32Array | Int32Array, shape: number[], dtype?: 'float32' | 'int32'): TfTensor;
  variable(t: TfTensor): TfVariable;
  reshape(x: TfTensor, shape: number[]): TfTensor;
  tanh(x: TfTensor): TfTensor;
  maxPool(x: TfTensor, filterSize: number, strides: number, pad: 'valid'): TfTensor;
  pool(x: TfTensor, window: [number, number], type: 'max', pad: 'valid', dilations: [number, number], strides: [number, number]): TfTensor;
  oneHot(indices: TfTensor, depth: number): TfTensor;
  fused: {
    conv2d(a: { x: TfTensor; filter: TfTensor; strides: number; pad: 'valid'; dilations?: [number, number]; bias?: TfTensor }): TfTensor;
    matMul(a: { a: TfTensor; b: TfTensor; bias?: TfTensor }): TfTensor;
  };
  losses: { softmaxCrossEntropy(onehot: TfTensor, logits: TfTensor): TfTensor };
  train: { momentum(lr: number, momentum: number): TfOptimizer };
  memory(): { numTensors: number };
}

/** The folder scripts/install-peers.sh installs into: <repo>/.peers (this file runs from dist/run/). */
function peersDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const root of [process.cwd(), resolve(here, '../..'), resolve(here, '..')]) {
    const p = resolve(root, '.peers');
    if (existsSync(resolve(p, 'node_modules/@tensorflow/tfjs-backend-webgpu/package.json'))) return p;
  }
  throw new Error('bench:peers: tfjs is not installed in .peers/: run `bash scripts/install-peers.sh` (npm run bench:peers does it first)');
}

/**
 * tfjs-core's CommonJS build (its package `main`) leaves the gradients out (the union package
 * @tensorflow/tfjs adds them by importing register_all_gradients, an ES module with extensionless
 * imports that Node cannot load): bundle tfjs-core (ESM), its gradients and tfjs-backend-webgpu into
 * one ES module with esbuild, once (.peers/tfjs-webgpu.bundle.mjs), as an application would.
 */
async function bundleTf(dir: string): Promise<string> {
  const out = resolve(dir, 'tfjs-webgpu.bundle.mjs');
  if (existsSync(out)) return out;
  await build({
    stdin: {
      contents:
        "import * as tf from '@tensorflow/tfjs-core';\n" +
        "import '@tensorflow/tfjs-core/dist/register_all_gradients';\n" +
        "import '@tensorflow/tfjs-backend-webgpu';\n" +
        'export default tf;\n',
      resolveDir: dir,
      loader: 'js',
    },
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    mainFields: ['module', 'main'],
    logLevel: 'warning',
    // tfjs-core's Node platform calls require('util') (and require('node-fetch') for tf.fetch)
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return out;
}

/** Dawn's adapter, seen the way tfjs sees it (navigator.gpu); the adapter tfjs opens is recorded. */
let tfAdapter: GPUAdapter | null = null;
async function loadTf(): Promise<Tf> {
  // The same Dawn as engine/node.ts (create([]): default instance, the Vulkan driver the process sees).
  // Kept reachable for the life of the process (Dawn tears the instance down when it is collected).
  const dawn = create([]) as unknown as GPU;
  const gpu = {
    requestAdapter: async (o?: GPURequestAdapterOptions) => (tfAdapter = await dawn.requestAdapter(o)),
    getPreferredCanvasFormat: () => 'rgba8unorm' as GPUTextureFormat,
    get wgslLanguageFeatures() {
      return dawn.wgslLanguageFeatures;
    },
    dawn,
  };
  // Node 20 has no navigator; Node >= 21 has one without gpu. tfjs-backend-webgpu registers its
  // backend at load time only when navigator.gpu exists: set it before loading.
  const g = globalThis as { navigator?: object };
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  const tf = (await import(pathToFileURL(await bundleTf(peersDir())).href)).default as Tf;
  if (!(await tf.setBackend('webgpu'))) throw new Error('bench:peers: tf.setBackend("webgpu") failed (see the messages above)');
  await tf.ready();
  if (tf.getBackend() !== 'webgpu') throw new Error(`bench:peers: tfjs runs on '${tf.getBackend()}', not webgpu`);
  return tf;
}

// ---- layouts ----

/** PyTorch [Cout, Cin, K, K] (or FC [Out, Cin*K*K] viewed so) -> tfjs HWIO [K, K, Cin, Cout]. */
function toHwio(w: Float32Array, cout: number, cin: number, k: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let co = 0; co < cout; co++)
    for (let ci = 0; ci < cin; ci++)
      for (let ky = 0; ky < k; ky++)
        for (let kx = 0; kx < k; kx++) out[((ky * k + kx) * cin + ci) * cout + co] = w[((co * cin + ci) * k + ky) * k + kx];
  return out;
}

/** Planar [N, C, H, W] -> interleaved [N, H, W, C]. */
function toNhwc(x: Float32Array, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h * w; i++) out[(b * h * w + i) * c + ch] = x[(b * c + ch) * h * w + i];
  return out;
}

// ---- timing ----

async function best(label: string, f: () => Promise<unknown>): Promise<{ warm: number; best: number }> {
  let t0 = performance.now();
  await f();
  const warm = performance.now() - t0;
  let b = Infinity;
  for (let r = 0; r < reps; r++) {
    t0 = performance.now();
    await f();
    b = Math.min(b, performance.now() - t0);
  }
  console.log(`  ${label.padEnd(34)} warm-up ${(warm / 1000).toFixed(2).padStart(7)} s, best of ${reps} ${b.toFixed(1).padStart(9)} ms`);
  return { warm, best: b };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`bench:peers: ${a.length} vs ${b.length} values`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// ---- the run ----

const spec = DNN1;
const S = spec.input.size;
const shapes = layerShapes(spec);
const model = initModel(spec, 1);
const last = spec.layers.length - 1;

// tfjs weights: every conv/FC layer as an HWIO filter (dense form) and its bias; for the patch net the
// FC filters are the same numbers viewed as [K*K*Cin, Out] (NHWC flatten order).
interface PeerLayer {
  filter: Float32Array;
  fshape: Rank4;
  bias: Float32Array;
}
const peerLayers: (PeerLayer | null)[] = [];
{
  let p = 0;
  let flat = false;
  for (const s of shapes) {
    const l = s.layer;
    if (l.type === 'maxpool') {
      peerLayers.push(null);
      continue;
    }
    const w = model.params[p++];
    const k = l.type === 'conv' ? l.k : flat ? 1 : s.inSize;
    const cout = s.maps;
    const cin = s.inMaps;
    peerLayers.push({ filter: toHwio(w.weight, cout, cin, k), fshape: [k, k, cin, cout], bias: w.bias });
    if (l.type === 'fc') flat = true;
  }
}

// Dense input: a procedural H&E field of (size + 100)^2 pixels, normalised as the model says. It
// stands for the mirror-padded input of a size x size field (the padding is not timed on either side).
const Hp = size + S - 1;
const field = generateField({ width: Hp, height: Hp, seed: 2084, mpp: 0.2456 });
const denseIn = normaliseImage(field.image, model.normalisation); // [3, Hp, Hp]
const denseInNhwc = toNhwc(denseIn, 1, 3, Hp, Hp);

// Training batch: random normalised patches in [-1, 1], random labels.
const rng = mulberry32(7);
const patches = new Float32Array(batch * 3 * S * S);
for (let i = 0; i < patches.length; i++) patches[i] = 2 * rng() - 1;
const labels = new Uint32Array(batch);
for (let i = 0; i < batch; i++) labels[i] = rng() < 0.5 ? 1 : 0;
const patchesNhwc = toNhwc(patches, batch, 3, S, S);

/** Per-pixel mitosis probability from 2-channel logits: planar [2, n] (mitoscan) or interleaved [n, 2] (tfjs). */
function probabilities(z: Float32Array, planar: boolean): Float32Array {
  const n = z.length / 2;
  const p = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const z0 = planar ? z[i] : z[2 * i];
    const z1 = planar ? z[n + i] : z[2 * i + 1];
    p[i] = 1 / (1 + Math.exp(z0 - z1));
  }
  return p;
}

let e: Engine | null = null;
let tf: Tf | null = null;
let failed = false;
try {
  e = await createNodeEngine();
  tf = await loadTf();
  const info = (tfAdapter as GPUAdapter | null)?.info;
  const tfName = info
    ? [info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(' / ') || 'unknown adapter'
    : 'unknown (tfjs opened no adapter through navigator.gpu)';
  console.log(`mitoscan adapter:             ${e.adapterName}; ${convWeightsFlag(CONV_TILE)}; ${subgroupsFlag([CONV_TILE, MATMUL_FORM], e.subgroupMinSize)}`);
  console.log(`tfjs-backend-webgpu adapter:  ${tfName} (tfjs-core ${tf.version_core}, backend '${tf.getBackend()}')`);
  console.log(`net: ${describeSpec(spec)}, weights initModel(DNN1, 1) in both`);
  console.log(
    `dense: ${Hp}x${Hp} padded input -> ${size}x${size} map (--size ${size}); training: batch ${batch} (--batch), ` +
      `SGD momentum ${MOMENTUM}, lr ${LR}; best of ${reps} (--reps) after one warm-up\n`,
  );

  // ---- 1. dense forward ----
  const net = Network.fromModel(e, model);
  const mitoDense = async (): Promise<Float32Array> => {
    const x = e!.tensor([1, 3, Hp, Hp], denseIn);
    const z = denseLogits(e!, net, x);
    x.release();
    const out = await z.read();
    z.release();
    return out;
  };
  const tfw = peerLayers.map((l) => (l ? { filter: tf!.tensor(l.filter, l.fshape), bias: tf!.tensor(l.bias, [l.bias.length]) } : null));
  const tfDenseGraph = (x: TfTensor): TfTensor => {
    const t = tf!;
    let d = 1;
    let flat = false;
    let h = x;
    spec.layers.forEach((l, li) => {
      if (l.type === 'maxpool') {
        h = t.pool(h, [l.k, l.k], 'max', 'valid', [d, d], [1, 1]);
        d *= l.k;
        return;
      }
      const w = tfw[li]!;
      h = t.fused.conv2d({ x: h, filter: w.filter, bias: w.bias, strides: 1, pad: 'valid', dilations: l.type === 'fc' && flat ? [1, 1] : [d, d] });
      if (li !== last) h = t.tanh(h);
      if (l.type === 'fc') flat = true;
    });
    return h;
  };
  const tfDense = async (): Promise<Float32Array> => {
    const t = tf!;
    const x = t.tensor(denseInNhwc, [1, Hp, Hp, 3]);
    const z = t.tidy(() => tfDenseGraph(x));
    x.dispose();
    const out = await z.data();
    if (z.shape.join() !== [1, size, size, 2].join()) throw new Error(`bench:peers: tfjs dense output [${z.shape}], expected [1,${size},${size},2]`);
    z.dispose();
    return out;
  };
  console.log('dense forward of DNN1 (DNNf1 per net and variant; no post-processing in either):');
  let zm: Float32Array = new Float32Array(0);
  let zt: Float32Array = new Float32Array(0);
  const dm = await best('mitoscan denseLogits', async () => (zm = await mitoDense()));
  const dt = await best('tfjs fused.conv2d + tf.pool', async () => (zt = await tfDense()));
  net.destroy();
  const pm = probabilities(zm, true);
  const pt = probabilities(zt, false);
  const zNhwc = toNhwc(zm, 1, 2, size, size);
  const dProb = maxAbsDiff(pm, pt);
  const dLogit = maxAbsDiff(zNhwc, zt);
  console.log(`  agreement: max |p_mitoscan - p_tfjs| = ${dProb.toExponential(2)}, max |logit diff| = ${dLogit.toExponential(2)} (limit ${TOL} on p)\n`);
  if (!(dProb <= TOL)) {
    failed = true;
    console.error(`bench:peers: FAIL: the probability maps differ by ${dProb} > ${TOL}: the two dense forwards do not compute the same thing`);
  }

  // ---- 2. one training step ----
  const tnet = Network.fromModel(e, model);
  const xb: Tensor = e.tensor([batch, 3, S, S], patches);
  const lb: Tensor = e.tensor([batch], labels);
  const mitoLosses: number[] = [];
  const mitoStep = async (): Promise<number> => {
    const r = tnet.lossAndGradients(xb, lb);
    tnet.sgdStep(r.grads, { lr: LR, momentum: MOMENTUM, weightDecay: 0 });
    const s = sumAll(e!, r.loss);
    releaseParams(r.grads);
    r.loss.release();
    r.probs.release();
    const loss = (await s.read())[0] / batch;
    s.release();
    mitoLosses.push(loss);
    return loss;
  };
  const vars = peerLayers.map((l, li) => {
    if (!l) return null;
    const t = tf!;
    const fshape = spec.layers[li].type === 'fc' ? [l.fshape[0] * l.fshape[1] * l.fshape[2], l.fshape[3]] : l.fshape;
    return { w: t.variable(t.tensor(l.filter, fshape)), b: t.variable(t.tensor(l.bias, [l.bias.length])) };
  });
  const varList = vars.flatMap((v) => (v ? [v.w, v.b] : []));
  const xt = tf.tensor(patchesNhwc, [batch, S, S, 3]);
  const yt = tf.tidy(() => tf!.oneHot(tf!.tensor(Int32Array.from(labels), [batch], 'int32'), 2));
  const opt = tf.train.momentum(LR, MOMENTUM);
  const tfForward = (x: TfTensor): TfTensor => {
    const t = tf!;
    let h = x;
    spec.layers.forEach((l, li) => {
      if (l.type === 'maxpool') {
        h = t.maxPool(h, l.k, l.k, 'valid');
        return;
      }
      const v = vars[li]!;
      if (l.type === 'conv') h = t.fused.conv2d({ x: h, filter: v.w, bias: v.b, strides: 1, pad: 'valid' });
      else {
        if (h.shape.length !== 2) h = t.reshape(h, [batch, -1]);
        h = t.fused.matMul({ a: h, b: v.w, bias: v.b });
      }
      if (li !== last) h = t.tanh(h);
    });
    return h;
  };
  const tfLosses: number[] = [];
  const tfStep = async (): Promise<number> => {
    const cost = opt.minimize(() => tf!.losses.softmaxCrossEntropy(yt, tfForward(xt)), true, varList);
    const loss = (await cost!.data())[0];
    cost!.dispose();
    tfLosses.push(loss);
    return loss;
  };
  console.log(`one DNN1 training step, batch ${batch} (forward, cross-entropy, backward, SGD momentum; loss read back):`);
  const tm = await best('mitoscan lossAndGradients+sgdStep', mitoStep);
  const tt = await best('tfjs optimizer.minimize', tfStep);
  const n = Math.min(mitoLosses.length, tfLosses.length);
  let dLoss = 0;
  for (let i = 0; i < n; i++) dLoss = Math.max(dLoss, Math.abs(mitoLosses[i] - tfLosses[i]));
  console.log(
    `  agreement: losses of steps 1..${n} mitoscan ${mitoLosses.map((v) => v.toFixed(5)).join(' ')}, tfjs ${tfLosses.map((v) => v.toFixed(5)).join(' ')}; ` +
      `max |diff| = ${dLoss.toExponential(2)} (limit ${TOL})\n`,
  );
  if (!(dLoss <= TOL)) {
    failed = true;
    console.error(`bench:peers: FAIL: the training losses differ by ${dLoss} > ${TOL}: the two training steps do not compute the same thing`);
  }
  xb.release();
  lb.release();
  tnet.destroy();
  xt.dispose();
  yt.dispose();
  opt.dispose();
  varList.forEach((v) => v.dispose());
  tfw.forEach((w) => {
    w?.filter.dispose();
    w?.bias.dispose();
  });

  // ---- table ----
  const rows: [string, number, number][] = [
    [`DNN1 dense forward ${size}x${size} (ms)`, dm.best, dt.best],
    [`DNN1 training step, batch ${batch} (ms)`, tm.best, tt.best],
  ];
  const cols = ['task', 'mitoscan ms', 'tfjs-backend-webgpu ms', 'ratio tfjs/mitoscan'];
  const w0 = Math.max(cols[0].length, ...rows.map((r) => r[0].length));
  const line = (c: string[]) => console.log([c[0].padEnd(w0), c[1].padStart(12), c[2].padStart(23), c[3].padStart(20)].join('  '));
  line(cols);
  for (const [name, a, b] of rows) line([name, a.toFixed(1), b.toFixed(1), (b / a).toFixed(2)]);
  console.log(
    `\ndense: ${((size * size) / (dm.best / 1000)).toFixed(0)} px/s mitoscan, ${((size * size) / (dt.best / 1000)).toFixed(0)} px/s tfjs (output pixels); ` +
      `training: ${((batch * 1000) / tm.best).toFixed(1)} patches/s mitoscan, ${((batch * 1000) / tt.best).toFixed(1)} patches/s tfjs`,
  );
  console.log(
    'ratio > 1: mitoscan is faster. Dense form in tfjs: tf.fused.conv2d (bias fused; dilations), tf.tanh, ' +
      "tf.pool('max', dilations, strides 1); training: fused.conv2d, tf.maxPool, fused.matMul, losses.softmaxCrossEntropy.",
  );
} catch (err) {
  failed = true;
  console.error(`bench:peers: ${(err as Error).stack ?? err}`);
} finally {
  // Node does not exit while a Dawn device lives: destroy both.
  e?.destroy();
  if (tf) {
    const dev = tf.backend().device;
    try {
      tf.removeBackend('webgpu');
    } catch {
      // the device is destroyed below either way
    }
    dev?.destroy();
  }
}
if (failed) process.exitCode = 1;

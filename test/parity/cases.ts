// Kernel cases run identically in Node (Dawn) and in Chromium (its own WebGPU): the parity test
// compares the two result sets element by element. Inputs are generated from fixed seeds.
import type { Engine, Tensor } from '../../engine/engine.js';
import { activationBackward } from '../../engine/ops/activation.js';
import { conv2dBackward, conv2dForward } from '../../engine/ops/conv2d.js';
import { dihedral, diskFilter, nonMaxSuppression, padMirror } from '../../engine/ops/image.js';
import { linearBackward, linearForward, matmul } from '../../engine/ops/matmul.js';
import { adagradStep, sgdStep } from '../../engine/ops/optim.js';
import { gatherPatches, packRgba } from '../../engine/ops/patches.js';
import { maxPool, maxPoolBackward, maxPoolForward } from '../../engine/ops/pool.js';
import { argmaxRows, reduceRows, sumAll } from '../../engine/ops/reduce.js';
import { softmaxCrossEntropy } from '../../engine/ops/softmax.js';

function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

export type ParityResults = Record<string, number[]>;

export async function runParityCases(e: Engine): Promise<ParityResults> {
  const out: ParityResults = {};
  const keep = async (name: string, t: Tensor) => {
    out[name] = Array.from(await t.read());
  };
  const t = (shape: number[], seed: number, lo = -1, hi = 1) => e.tensor(shape, rand(shape.reduce((a, b) => a * b), seed, lo, hi));

  const y = t([3, 5, 7], 1, -0.99, 0.99);
  const dy = t([3, 5, 7], 2);
  await keep('activation_backward.tanh', activationBackward(e, y, dy, 'tanh'));
  await keep('activation_backward.relu', activationBackward(e, y, dy, 'relu'));

  // conv2d forward/backward with dilation, batch 2, odd sizes
  const x = t([2, 3, 13, 11], 3);
  const w = t([5, 3, 3, 3], 4, -0.5, 0.5);
  const b = t([5], 5, -0.1, 0.1);
  const cy = conv2dForward(e, x, w, b, { dilation: 2, activation: 'tanh' });
  await keep('conv2d_forward', cy);
  const cg = conv2dBackward(e, x, w, cy, t(cy.shape as number[], 6), { dilation: 2, activation: 'tanh' });
  await keep('conv2d_backward_input', cg.dx);
  await keep('conv2d_backward_weight', cg.dw);
  await keep('conv2d_backward_bias', cg.db);

  // the forward as im2col + matmul (chosen on a CPU adapter for one image when Cout >= Cin*K*K at
  // dilation > 1: 8 taps, 9 outputs), and a layer whose packed weights exceed the 64 KiB uniform
  // buffer (30 -> 40 channels, 4x4: read from a storage binding)
  await keep('conv2d_forward.gemm_shape', conv2dForward(e, t([1, 2, 12, 14], 30), t([9, 2, 2, 2], 31, -0.5, 0.5), t([9], 32), { dilation: 3, activation: 'tanh' }));
  await keep('conv2d_forward.storage_weights', conv2dForward(e, t([1, 30, 7, 6], 33), t([40, 30, 4, 4], 34, -0.2, 0.2), t([40], 35), { activation: 'tanh' }));
  // max-pool without argmax (inference)
  await keep('maxpool.inference.k2s1d2', maxPool(e, x, { k: 2, stride: 1, dilation: 2 }));

  // max-pool forward/backward (paper and a trous forms)
  for (const [tag, p] of [['k2s2', { k: 2 }], ['k2s1d2', { k: 2, stride: 1, dilation: 2 }]] as const) {
    const { y: py, argmax } = maxPoolForward(e, x, p);
    await keep(`maxpool_forward.${tag}`, py);
    out[`maxpool_argmax.${tag}`] = Array.from(await e.readU32(argmax));
    await keep(`maxpool_backward.${tag}`, maxPoolBackward(e, t(py.shape as number[], 7), argmax, x.shape, p));
  }

  // matmul (tiled) and the FC layer
  await keep('matmul.tn', matmul(e, t([70, 37], 8), t([70, 53], 9), { transA: true }));
  const fx = t([9, 67], 10), fw = t([11, 67], 11, -0.3, 0.3), fb = t([11], 12);
  const fy = linearForward(e, fx, fw, fb, 'relu');
  await keep('linear_forward', fy);
  const lg = linearBackward(e, fx, fw, fy, t([9, 11], 13), 'relu');
  await keep('linear_backward.dx', lg.dx);
  await keep('linear_backward.dw', lg.dw);
  await keep('linear_backward.db', lg.db);

  // softmax + cross-entropy
  const labels = e.tensor([9], Uint32Array.from([0, 1, 1, 0, 1, 0, 0, 1, 1]));
  const sm = softmaxCrossEntropy(e, t([9, 2], 14, -8, 8), labels);
  await keep('softmax_xent.loss', sm.loss);
  await keep('softmax_xent.grad', sm.grad);

  // optimisers
  const pw = t([40], 15), pg = t([40], 16), pv = e.zeros([40]);
  sgdStep(e, pw, pg, pv, { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 });
  sgdStep(e, pw, pg, pv, { lr: 0.05, momentum: 0.9, weightDecay: 1e-3 });
  await keep('sgd', pw);
  const aw = t([40], 17), ah = e.zeros([40]);
  adagradStep(e, aw, pg, ah, { lr: 0.1, eps: 1e-8, weightDecay: 1e-3 });
  adagradStep(e, aw, pg, ah, { lr: 0.1, eps: 1e-8, weightDecay: 1e-3 });
  await keep('adagrad', aw);

  // reductions
  const rx = t([5, 300], 18);
  await keep('reduce_rows.sum', reduceRows(e, rx, 'sum'));
  await keep('reduce_rows.max', reduceRows(e, rx, 'max'));
  await keep('sum_all', sumAll(e, rx));
  out['argmax_rows'] = Array.from(await e.readU32(argmaxRows(e, rx)));

  // image ops, patch gathering and GPU non-maxima suppression
  const img = t([1, 1, 31, 29], 19, 0, 1);
  await keep('pad_mirror', padMirror(e, img, { top: 3, bottom: 4, left: 5, right: 2 }));
  await keep('dihedral.5', dihedral(e, img, 5));
  const mf = diskFilter(e, img, 3);
  await keep('disk_filter', mf);
  const dets = await nonMaxSuppression(e, mf, { radius: 6, threshold: 0.45 });
  out['nms'] = dets.flatMap((d) => [d.x, d.y, d.score]);
  const rgba = new Uint8Array(17 * 15 * 4).map((_, i) => (i * 37 + 11) % 256);
  const images = e.tensor([17 * 15], packRgba(rgba));
  const patches = gatherPatches(
    e,
    images,
    [
      { offset: 0, width: 17, height: 15, cx: 2, cy: 3, angle: 0, mirror: false },
      { offset: 0, width: 17, height: 15, cx: 9, cy: 7, angle: 0.6, mirror: true },
    ],
    7,
    { scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
  );
  await keep('gather_patches', patches);
  return out;
}

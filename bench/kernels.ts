// npm run bench:kernels [-- --batch 256 --reps 3 --only conv --dense 700 --mini-batch 64 --subgroups never --min-ms 300]
// Throughput of every kernel at the shapes of DNN1 (Cireşan et al. 2013, Table 1) at batch 256,
// of the small nets (mini20x, and wide20x: the shipped real-tissue net, on 31x31 windows) and of the dense detection form
// (batch 1, a big map, dilations 1..16), printed with the adapter it ran on. First it measures
// the adapter's ceilings: an FMA-only kernel (GFLOP/s) and a copy kernel (GB/s); every row also
// prints its rate as a % of that ceiling. `--only a,b` keeps the rows whose kernel name contains
// one of the words (the ceilings always run). Each row is the mean of at least --reps calls
// spanning at least --min-ms. The VM's speed drifts during a run (steal time: ±30% within minutes
// here), so each row's share is taken against the ceiling measured around it: an FMA probe (over
// --min-ms, like a row) and a copy probe (--probe-ms) after every row, the mean of the probes before
// and after the row. (The start's best of 3 overstates the ceiling a row meets: single timings
// scatter by ±15% here.) A benchmark, not a test: it asserts nothing.
import type { Activation } from '../engine/activation.js';
import type { Engine, Tensor } from '../engine/engine.js';
import { createNodeEngine } from '../engine/node.js';
import { subgroupsFlag } from './flags.js';
import ceilingCopySource from '../shaders/ceiling_copy.wgsl';
import ceilingFmaSource from '../shaders/ceiling_fma.wgsl';
import { grid1d } from '../engine/dispatch.js';
import { CONV_TILE, conv2dBackwardBias, conv2dBackwardInput, conv2dBackwardWeight, conv2dForward } from '../engine/ops/conv2d.js';
import { diskFilter, nonMaxSuppression } from '../engine/ops/image.js';
import { linearBackward, linearForward, matmul, MATMUL_FORM } from '../engine/ops/matmul.js';
import { adagradStep, sgdStep } from '../engine/ops/optim.js';
import { gatherPatches, packRgba } from '../engine/ops/patches.js';
import { maxPoolBackward, maxPoolForward } from '../engine/ops/pool.js';
import { reduceRows } from '../engine/ops/reduce.js';
import { softmaxCrossEntropy } from '../engine/ops/softmax.js';

const argv = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const onlyArg = argv.indexOf('--only') >= 0 ? argv[argv.indexOf('--only') + 1].split(',') : null;
const want = (kernel: string) => !onlyArg || onlyArg.some((w) => kernel.includes(w));

function fill(e: Engine, shape: number[], lo = -1, hi = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = lo + ((hi - lo) * (s >>> 8)) / 16777216;
  }
  return e.tensor(shape, a);
}

interface Row {
  kernel: string;
  shape: string;
  ms: number;
  /** Floating-point operations of one call (a GFLOP/s row), or bytes moved (a GB/s row), or a rate already written out. */
  flop?: number;
  bytes?: number;
  rate?: string;
}

// Mean time of one call: at least `reps` calls and at least MIN_SPAN_MS of them, recorded back to
// back and synced once, so that a sync's fixed cost (~0.1-6 ms here) does not swamp a small kernel.
const MIN_SPAN_MS = flag('min-ms', 300);
async function time(e: Engine, reps: number, body: () => Tensor[] | void, minMs = MIN_SPAN_MS): Promise<number> {
  const once = async () => {
    const t0 = performance.now();
    body()?.forEach((t) => t.release());
    await e.sync();
    return performance.now() - t0;
  };
  await once(); // compiles the pipelines
  const n = Math.max(reps, Math.min(2000, Math.ceil(minMs / Math.max(await once(), 1e-3))));
  const t0 = performance.now();
  for (let r = 0; r < n; r++) body()?.forEach((t) => t.release());
  await e.sync();
  return (performance.now() - t0) / n;
}

const e = await createNodeEngine();
try {
  const reps = flag('reps', 3);
  const maxBinding = e.limits.maxStorageBufferBindingSize;
  // The largest map of DNN1 is conv1's output [B,16,100,100]: pick the largest batch <= the asked one that fits.
  let B = flag('batch', 256);
  while (B > 1 && B * 16 * 100 * 100 * 4 > maxBinding) B = Math.floor(B / 2);
  console.log(`adapter: ${e.adapterName}; ${subgroupsFlag([CONV_TILE, MATMUL_FORM], e.subgroupMinSize)}`);
  console.log(`max storage binding: ${(maxBinding / 2 ** 20).toFixed(0)} MiB; batch ${B}${B < flag('batch', 256) ? ' (reduced to fit)' : ''}; ${reps} reps\n`);
  // Rows print as they are measured (the whole run takes minutes on a CPU adapter).
  // Ceilings: the best of 3 timings of an FMA-only kernel and of a copy kernel; then, after every
  // row, one short timing of each (the probe) for the row's share.
  const wg = 64, iter = 2048, groups = flag('ceiling-groups', 2048);
  const out = e.empty([groups * wg]);
  const fmaProg = { name: 'ceiling_fma', source: ceilingFmaSource, constants: { ITER: iter, WG: wg }, workgroups: [groups] };
  const fmaFlop = groups * wg * iter * 8 * 2;
  const count = (32 << 20) / 16; // 32 MiB copied
  const src = e.zeros([count * 4]), dst = e.empty([count * 4]);
  const copyProg = { name: 'ceiling_copy', source: ceilingCopySource, constants: { COUNT: count, WG: wg }, workgroups: grid1d(count, wg) };
  const copyBytes = 2 * 16 * count;
  let fmaCeiling = 0, copyCeiling = 0;
  for (let r = 0; r < 3; r++) {
    const ms = await time(e, 1, () => e.run(fmaProg, [out]));
    fmaCeiling = Math.max(fmaCeiling, fmaFlop / ms / 1e6);
  }
  for (let r = 0; r < 3; r++) {
    const ms = await time(e, 1, () => e.run(copyProg, [src, dst]));
    copyCeiling = Math.max(copyCeiling, copyBytes / ms / 1e6);
  }
  console.log(`ceiling_fma   ${fmaCeiling.toFixed(2)} GFLOP/s  (${groups * wg} invocations x ${iter} x 8 independent FMA chains, registers only)`);
  console.log(`ceiling_copy  ${copyCeiling.toFixed(2)} GB/s  (32 MiB read + 32 MiB written as vec4f)\n`);
  const probeMs = flag('probe-ms', 100);
  const probe = async () => ({
    fma: fmaFlop / (await time(e, 1, () => e.run(fmaProg, [out]))) / 1e6,
    copy: copyBytes / (await time(e, 1, () => e.run(copyProg, [src, dst]), probeMs)) / 1e6,
  });
  let before = await probe();
  const probes: number[] = [before.fma];
  const pct = (v: number, c: number) => `${((100 * v) / c).toFixed(1).padStart(5)}% of ${c.toFixed(1)}`;
  const emit = async (r: Row) => {
    if (!want(r.kernel)) return;
    let rate = r.rate ?? '';
    if (r.flop !== undefined || r.bytes !== undefined) {
      const after = await probe();
      probes.push(after.fma);
      const fma = (before.fma + after.fma) / 2, copy = (before.copy + after.copy) / 2;
      before = after;
      rate = r.flop !== undefined
        ? `${(r.flop / r.ms / 1e6).toFixed(2).padStart(7)} GFLOP/s ${pct(r.flop / r.ms / 1e6, fma)}`
        : `${(r.bytes! / r.ms / 1e6).toFixed(2).padStart(7)} GB/s    ${pct(r.bytes! / r.ms / 1e6, copy)}`;
    }
    console.log(`${r.kernel.padEnd(24)}  ${r.shape.padEnd(30)}  ${r.ms.toFixed(2).padStart(10)}  ${rate}`);
  };
  console.log(`${'kernel'.padEnd(24)}  ${'shape'.padEnd(30)}  ${'ms'.padStart(10)}  rate (% of the ceiling measured around the row, GFLOP/s or GB/s)`);
  // Times `body` only when a row named `kernel` is wanted.
  const timed = async (kernel: string, body: () => Tensor[] | void) => (want(kernel) ? time(e, reps, body) : NaN);

  // Convolution layers: [batch, input maps, size, output maps, kernel, dilation, label]
  const MB = flag('mini-batch', 64), dense = flag('dense', 700);
  const convs: [number, number, number, number, number, number, string][] = [
    [B, 3, 101, 16, 2, 1, 'DNN1'],
    [B, 16, 50, 16, 3, 1, 'DNN1'],
    [B, 16, 24, 16, 3, 1, 'DNN1'],
    [B, 16, 11, 16, 2, 1, 'DNN1'],
    [B, 16, 5, 16, 2, 1, 'DNN1'],
    [MB, 3, 31, 12, 4, 1, 'mini20x'],
    [MB, 12, 14, 16, 3, 1, 'mini20x'],
    [MB, 16, 6, 24, 3, 1, 'mini20x'],
    // the shipped real-tissue net (models/default.mitoscan, src/model/spec.ts)
    [MB, 3, 31, 32, 4, 1, 'wide20x'],
    [MB, 32, 14, 48, 3, 1, 'wide20x'],
    [MB, 48, 6, 48, 3, 1, 'wide20x'],
  ];
  if (dense > 0) for (const d of [1, 4, 16]) convs.push([1, 16, dense, 16, 3, d, 'dense']);
  for (const [n, cin, size, cout, k, dil, label] of convs) {
    if (!['conv2d_forward', 'conv2d_backward_input', 'conv2d_backward_weight', 'conv2d_backward_bias', 'maxpool_forward', 'maxpool_backward'].some(want)) break;
    const x = fill(e, [n, cin, size, size]);
    const w = fill(e, [cout, cin, k, k], -0.3, 0.3);
    const b = fill(e, [cout]);
    const o = size - dil * (k - 1);
    const flop = 2 * n * cout * o * o * cin * k * k;
    const shape = `${label} ${n}x${cin}x${size}²*${cout}x${k}²${dil > 1 ? ` d${dil}` : ''}`;
    const act: Activation = 'tanh';
    const y = conv2dForward(e, x, w, b, { activation: act, dilation: dil });
    let ms = await timed('conv2d_forward', () => [conv2dForward(e, x, w, b, { activation: act, dilation: dil })]);
    await emit({ kernel: 'conv2d_forward', shape, ms, flop });
    ms = await timed('conv2d_backward_input', () => [conv2dBackwardInput(e, y, w, x.shape, dil)]);
    await emit({ kernel: 'conv2d_backward_input', shape, ms, flop });
    ms = await timed('conv2d_backward_weight', () => [conv2dBackwardWeight(e, x, y, k, dil)]);
    await emit({ kernel: 'conv2d_backward_weight', shape, ms, flop });
    ms = await timed('conv2d_backward_bias', () => [conv2dBackwardBias(e, y)]);
    await emit({ kernel: 'conv2d_backward_bias', shape, ms, bytes: y.bytes });
    // the max-pool that follows (DNN1)
    if (label === 'DNN1' && o % 2 === 0 && want('maxpool')) {
      const p = { k: 2 };
      const { y: py, argmax } = maxPoolForward(e, y, p);
      const bytes = y.bytes + 2 * py.bytes;
      ms = await timed('maxpool_forward', () => {
        const r = maxPoolForward(e, y, p);
        return [r.y, r.argmax];
      });
      await emit({ kernel: 'maxpool_forward', shape: `${n}x16x${o}²`, ms, bytes });
      ms = await timed('maxpool_backward', () => [maxPoolBackward(e, py, argmax, y.shape, p)]);
      await emit({ kernel: 'maxpool_backward', shape: `${n}x16x${o}²`, ms, bytes: bytes + y.bytes });
      py.release();
      argmax.release();
    }
    [x, w, b, y].forEach((t) => t.release());
  }

  // DNN1's first FC layer in the dense path (16 maps of 2x2 taps 32 px apart -> 100), both forms of
  // the forward: the direct register-tiled kernel and im2col + matmul (CONV_TILE.gemm)
  if (dense > 0 && want('conv2d_forward')) {
    // its 100-channel output must fit one binding (the detector runs this layer in row strips)
    const side = Math.min(dense, Math.floor(Math.sqrt(e.limits.maxStorageBufferBindingSize / 1.25 / (100 * 4))));
    const size = side + 32;
    const x = fill(e, [1, 16, size, size]), w = fill(e, [100, 16, 2, 2], -0.3, 0.3), b = fill(e, [100]);
    const flop = 2 * 100 * side * side * 16 * 4;
    const shape = `dense FC1 1x16x${size}²*100x2² d32`;
    for (const form of ['never', 'always'] as const) {
      CONV_TILE.gemm = form;
      const ms = await timed('conv2d_forward', () => [conv2dForward(e, x, w, b, { activation: 'tanh', dilation: 32 })]);
      await emit({ kernel: form === 'never' ? 'conv2d_forward direct' : 'conv2d_forward im2col+mm', shape, ms, flop });
    }
    CONV_TILE.gemm = 'auto';
    [x, w, b].forEach((t) => t.release());
  }

  // FC layers 64 -> 100 -> 2
  if (want('linear')) for (const [fin, fout] of [
    [64, 100],
    [100, 2],
  ]) {
    const x = fill(e, [B, fin]), w = fill(e, [fout, fin]), b = fill(e, [fout]);
    const flop = 2 * B * fin * fout;
    const y = linearForward(e, x, w, b, 'tanh');
    let ms = await timed('linear_forward (matmul)', () => [linearForward(e, x, w, b, 'tanh')]);
    await emit({ kernel: 'linear_forward (matmul)', shape: `${B}x${fin} -> ${fout}`, ms, flop });
    ms = await timed('linear_backward', () => {
      const g = linearBackward(e, x, w, y, y, 'tanh');
      return [g.dx, g.dw, g.db];
    });
    await emit({ kernel: 'linear_backward', shape: `${B}x${fin} -> ${fout}`, ms, flop: 2 * flop });
    [x, w, b, y].forEach((t) => t.release());
  }

  // the matmul itself on a square problem: both kernels (the engine picks one per adapter, MATMUL_FORM)
  const M = flag('matmul', e.isCpuAdapter ? 512 : 4096);
  if (want('matmul')) {
    const a = fill(e, [M, M]), bm = fill(e, [M, M]);
    const chosen = e.isCpuAdapter ? 'registers' : 'tiled';
    for (const form of ['tiled', 'registers'] as const) {
      MATMUL_FORM.form = form;
      const name = `matmul ${form}${form === chosen ? ' *' : ''}`;
      const ms = await timed(name, () => [matmul(e, a, bm)]);
      await emit({ kernel: name, shape: `${M}x${M}x${M}`, ms, flop: 2 * M ** 3 });
    }
    MATMUL_FORM.form = 'auto';
    a.release();
    bm.release();
  }

  // softmax + cross-entropy, optimisers, reductions
  if (['softmax', 'sgd', 'adagrad', 'reduce'].some(want)) {
    const z = fill(e, [B, 2]);
    const labels = e.tensor([B], Uint32Array.from({ length: B }, (_, i) => i % 2));
    const ms = await timed('softmax_cross_entropy', () => {
      const r = softmaxCrossEntropy(e, z, labels);
      return [r.probs, r.loss, r.grad];
    });
    await emit({ kernel: 'softmax_cross_entropy', shape: `${B}x2`, ms, bytes: B * 2 * 4 * 3 });
    const n = 13_630; // DNN1's weights
    const w = fill(e, [n]), g = fill(e, [n]), v = e.zeros([n]);
    let msO = await timed('sgd', () => sgdStep(e, w, g, v, { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 }));
    await emit({ kernel: 'sgd', shape: `${n} weights`, ms: msO, bytes: n * 4 * 5 });
    msO = await timed('adagrad', () => adagradStep(e, w, g, v, { lr: 0.01, eps: 1e-8, weightDecay: 1e-4 }));
    await emit({ kernel: 'adagrad', shape: `${n} weights`, ms: msO, bytes: n * 4 * 5 });
    const big = fill(e, [B * 16, 2500]);
    msO = await timed('reduce_rows (sum)', () => [reduceRows(e, big, 'sum')]);
    await emit({ kernel: 'reduce_rows (sum)', shape: `${B * 16}x2500`, ms: msO, bytes: big.bytes });
    [z, labels, w, g, v, big].forEach((t) => t.release());
  }

  // training-patch gathering (101x101, rotated, from a 2084x2084 field) and the post-processing
  if (want('gather_patches') || want('disk_filter') || want('nms')) {
    const side = 2084;
    const rgba = new Uint8Array(side * side * 4).map((_, i) => (i * 31) & 255);
    const img = e.tensor([side * side], packRgba(rgba));
    const reqs = Array.from({ length: B }, (_, i) => ({ offset: 0, width: side, height: side, cx: (i * 97) % side, cy: (i * 211) % side, angle: i * 0.1, mirror: i % 2 === 1 }));
    const ms = await timed('gather_patches', () => [gatherPatches(e, img, reqs, 101, { scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] })]);
    await emit({ kernel: 'gather_patches', shape: `${B}x3x101² from ${side}²`, ms, rate: `${((B / ms) * 1000).toFixed(0)} patches/s` });
    img.release();
    const mside = flag('map', 1024);
    const map = fill(e, [mside, mside], 0, 1);
    const msD = await timed('disk_filter (d=10)', () => [diskFilter(e, map, 10)]);
    await emit({ kernel: 'disk_filter (d=10)', shape: `${mside}²`, ms: msD, rate: `${((mside * mside) / msD / 1e3).toFixed(1)} Mpx/s` });
    if (want('nms')) {
      const mf = diskFilter(e, map, 10);
      const t0 = performance.now();
      const dets = await nonMaxSuppression(e, mf, { radius: 20, threshold: 0.5 });
      const msN = performance.now() - t0;
      await emit({ kernel: 'nms (2d=20, t=0.5)', shape: `${mside}², ${dets.length} dets`, ms: msN, rate: `${((mside * mside) / msN / 1e3).toFixed(1)} Mpx/s` });
    }
  }

  if (probes.length) console.log(`\nceiling probes around the rows: ${Math.min(...probes).toFixed(1)}-${Math.max(...probes).toFixed(1)} GFLOP/s (start: ${fmaCeiling.toFixed(1)})`);
  [out, src, dst].forEach((t) => t.release());
} finally {
  e.destroy();
}

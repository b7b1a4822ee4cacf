import backwardBiasSource from '../../shaders/conv2d_backward_bias.wgsl';
import backwardInputSource from '../../shaders/conv2d_backward_input.wgsl';
import backwardInputSubgroupSource from '../../shaders/conv2d_backward_input_subgroup.wgsl';
import backwardWeightSource from '../../shaders/conv2d_backward_weight.wgsl';
import backwardWeightSubgroupSource from '../../shaders/conv2d_backward_weight_subgroup.wgsl';
import backwardWeightSumSource from '../../shaders/conv2d_backward_weight_sum.wgsl';
import forwardSource from '../../shaders/conv2d_forward.wgsl';
import forwardSubgroupSource from '../../shaders/conv2d_forward_subgroup.wgsl';
import packWeightsSource from '../../shaders/conv2d_pack_weights.wgsl';
import im2colSource from '../../shaders/im2col.wgsl';
import { activationCode, type Activation } from '../activation.js';
import { grid1d } from '../dispatch.js';
import type { Engine, Program, Tensor } from '../engine.js';
import { activationBackward } from './activation.js';
import { matmul } from './matmul.js';
import { subgroupFormsOn, type SubgroupMode } from './subgroups.js';

export interface Conv2dParams {
  dilation?: number;
  activation?: Activation;
}

function dims(xShape: readonly number[], wShape: readonly number[], dilation: number, op: string) {
  if (xShape.length !== 4) throw new Error(`${op}: input must be [N,C,H,W], got [${xShape}]`);
  if (wShape.length !== 4 || wShape[2] !== wShape[3]) throw new Error(`${op}: weights must be [Cout,Cin,K,K], got [${wShape}]`);
  const [N, CIN, H, W] = xShape;
  const [COUT, cin, K] = wShape;
  if (cin !== CIN) throw new Error(`${op}: input has ${CIN} channels, weights expect ${cin}`);
  if (!Number.isInteger(dilation) || dilation < 1) throw new Error(`${op}: dilation must be an integer >= 1, got ${dilation}`);
  const HO = H - dilation * (K - 1);
  const WO = W - dilation * (K - 1);
  if (HO < 1 || WO < 1) throw new Error(`${op}: a ${K}x${K} kernel with dilation ${dilation} does not fit a ${H}x${W} input`);
  return { N, CIN, H, W, COUT, K, D: dilation, HO, WO };
}

/**
 * Register tile of the forward kernel: CG vec4s of output channels x PX pixels (D apart in their
 * row) per invocation. Measured on lavapipe (docs/PERFORMANCE.md): at dilation > 1 (the dense
 * detection path) 4 x 4 (16 channels x 4 pixels) ran 1.5-2.3x faster than 1 x 4, measured when
 * every tap of every pixel was its own load (before the pixels were spaced D apart so that the
 * window slides at every dilation). At dilation 1 (training's batched maps) 1 x 4
 * was best while the weights came from a storage binding (each weight vec4 a load per invocation);
 * read from a uniform buffer (a cheaper gather than from storage) 4 x 4 is as fast or faster at every
 * DNN1 shape (up to 1.3x at 16 -> 16 3x3). No GPU has been measured yet, so every adapter gets
 * these until one is.
 */
export const CONV_TILE = {
  CG: 4,
  PX: 4,
  dilated: { CG: 4, PX: 4 },
  /** > 0: use this many weight-gradient splits (tests) */
  forceWeightSplits: 0,
  /** The forward as im2col + matrix product: 'auto' (see useGemm), 'always' where it applies (one
   * image), 'never' (tests and A/B benchmarks set it). */
  gemm: 'auto' as 'auto' | 'always' | 'never',
  /** Where the forward and backward-input kernels read the packed weights: 'auto' (a uniform
   * buffer when they fit in 64 KiB, else storage), or either forced (tests, A/B benchmarks). */
  weights: 'auto' as 'auto' | 'uniform' | 'storage',
  /** The forms that share loads through the subgroup (conv2d_forward_subgroup.wgsl,
   * conv2d_backward_input_subgroup.wgsl from 8 input channels on, both for kernels up to 4x4;
   * conv2d_backward_weight_subgroup.wgsl): 'auto' (see useSubgroups), 'always' where they apply (an error on a device
   * without subgroups of >= 8 lanes), 'never' (tests, A/B benchmarks). */
  subgroups: 'auto' as SubgroupMode,
  /** The subgroup forward stores its 4 pixels as one vec4 per channel where they are an aligned
   * vec4 of the row (dilation 1, 4 pixels, WO a multiple of 4); false forces the scalar stores
   * (tests, A/B benchmarks). */
  vec4Stores: true,
  /** The subgroup backward-input takes 3 or 5 pixels of a row per invocation where that fills the
   * row's blocks better than 4 (rowPixels); false keeps CONV_TILE.PX (tests, A/B benchmarks). */
  fitRows: true,
  /** > 0: rows per invocation of the backward-input without subgroups (1 or 2; 2 applies at
   * dilation 1 only), else chosen by backwardInputRows (tests, A/B benchmarks). */
  backwardRows: 0,
};

/**
 * Pixels of a row per invocation of the subgroup backward-input: CONV_TILE.PX, or 3 or 5 where
 * 3- or 5-pixel blocks fill the row better than 4-pixel ones (DNN1's 5x5 map: 5 of 5 slots against
 * 5 of 8; the 20x nets' 6x6: 6 of 6 against 6 of 8); ties keep 4, then 5. Measured on lavapipe,
 * interleaved in one process (docs/PERFORMANCE.md): 5 is faster where it fills better (5x5 1.6x,
 * 10x10 1.5x, 14x14 1.1-1.3x, 50x50 1.2x) and slower where it fills worse (24x24, 11x11); 3 is
 * faster where it fills better (6x6 1.3x, 18x18 1.15x, 21x21 1.05x) and slower where it fills worse
 * (7x7 0.8x), so the rule is the fill.
 */
function rowPixels(W: number): number {
  const px = CONV_TILE.PX;
  if (px !== 4 || !CONV_TILE.fitRows) return px;
  const fill = (p: number) => W / (p * Math.ceil(W / p));
  let best = 4;
  for (const p of [5, 3]) if (fill(p) > fill(best)) best = p;
  return best;
}

/**
 * Input rows per invocation of conv2d_backward_input.wgsl (the form without subgroups: on
 * lavapipe the first layer's 3 channels, everywhere else every layer): 2 at dilation 1 on a CPU
 * adapter, where the two rows share the g rows they both read; 1 elsewhere (no GPU measured yet).
 * CONV_TILE.backwardRows forces it (tests, A/B benchmarks).
 */
function backwardInputRows(e: Engine, D: number): number {
  const forced = CONV_TILE.backwardRows;
  if (D !== 1) return 1;
  if (forced > 0) return forced;
  return e.isCpuAdapter ? 2 : 1;
}

/** The packed-weight array the conv shaders declare: 4096 vec4s, 64 KiB, WebGPU's guaranteed
 * maxUniformBufferBindingSize. Larger layers get the declaration rewritten to a storage binding. */
const UNIFORM_WEIGHTS = 'var<uniform> w: array<vec4f, 4096>;';
const UNIFORM_WEIGHT_FLOATS = 4096 * 4;
const STORAGE_WEIGHTS = 'var<storage, read> w: array<vec4f>;';

function weightsUniform(floats: number): boolean {
  if (CONV_TILE.weights === 'storage') return false;
  const fits = floats <= UNIFORM_WEIGHT_FLOATS;
  if (CONV_TILE.weights === 'uniform' && !fits) throw new Error(`conv2d: ${floats} packed weights do not fit the ${UNIFORM_WEIGHT_FLOATS} of a uniform buffer`);
  return fits;
}

/** A conv shader in both weight bindings, derived once: as written (uniform) and with storage. */
function weightBindings(source: string): { uniform: string; storage: string } {
  if (!source.includes(UNIFORM_WEIGHTS)) throw new Error(`conv2d: the shader no longer declares '${UNIFORM_WEIGHTS}'`);
  return { uniform: source, storage: source.replace(UNIFORM_WEIGHTS, STORAGE_WEIGHTS) };
}
const FORWARD = weightBindings(forwardSource);
const FORWARD_SUBGROUP = weightBindings(outputForm(forwardSubgroupSource, 'scalars'));
const FORWARD_SUBGROUP_VEC4 = weightBindings(outputForm(forwardSubgroupSource, 'vec4s'));
const BACKWARD_INPUT = weightBindings(backwardInputSource);
const BACKWARD_INPUT_SUBGROUP = weightBindings(backwardInputSubgroupSource);

/** The subgroup forward with one of its two output blocks ("y as scalars", "y as vec4s"): the
 * shader holds both, each declaring y and its store(); one is cut out, checked at load. */
function outputForm(source: string, form: 'scalars' | 'vec4s'): string {
  const marks = ['// ---- y as scalars', '// ---- y as vec4s', '// ---- end of y'].map((m) => source.indexOf(m));
  if (marks.some((m) => m < 0) || !(marks[0] < marks[1] && marks[1] < marks[2])) {
    throw new Error('conv2d: conv2d_forward_subgroup.wgsl no longer marks its two output blocks');
  }
  const [scalars, vec4s, end] = marks;
  return form === 'scalars' ? source.slice(0, vec4s) + source.slice(end) : source.slice(0, scalars) + source.slice(vec4s);
}

/**
 * Whether the forward runs as im2col + the matrix product (shaders/im2col.wgsl, then
 * matmul W [COUT, CIN*K*K] x cols). For a layer with at least as many output channels as CIN*K*K
 * taps (DNN1's first FC layer in the dense path: 64 taps, 100 channels) the column matrix is no
 * larger than the output, so the per-buffer budget of the dense tiles still holds. Only for one
 * image (the product's [COUT, HO*WO] result is then the NCHW output). 'auto' picks it on CPU
 * adapters where the direct kernel runs in its plain form (there the register matmul was 1.2x
 * faster at FC1's shape, docs/PERFORMANCE.md); where the subgroup forward runs, the direct kernel
 * is faster: a whole 2084² field, interleaved in one process, 3-8% faster in 4 of 4 pairs (2026-12-04).
 */
function useGemm(e: Engine, d: ReturnType<typeof dims>): boolean {
  // the tiled matmul (GPU form) launches ceil(HO*WO / 64) workgroups along x, at most 65535
  if (d.N !== 1 || d.K === 1 || CONV_TILE.gemm === 'never' || Math.ceil((d.HO * d.WO) / 64) > 65535) return false;
  if (CONV_TILE.gemm === 'always') return true;
  return e.isCpuAdapter && !useSubgroups(e, d) && d.D > 1 && d.CIN * d.K * d.K <= d.COUT;
}

/**
 * Whether the forward, backward-input and backward-weight run in their subgroup forms
 * (conv2d_*_subgroup.wgsl): on CPU adapters whose subgroups have at least 8 lanes; the forward and
 * backward-input for kernels up to 4x4 (their taps are written out; `maxK`). Measured on lavapipe
 * (docs/PERFORMANCE.md): 1.5-3x the plain forms at DNN1's shapes. GPUs read shared values from
 * their caches and keep the plain forms until one is measured.
 */
function useSubgroups(e: Engine, d: ReturnType<typeof dims>, maxK = 4): boolean {
  return subgroupFormsOn(e, CONV_TILE.subgroups, 'conv2d', 'CONV_TILE.subgroups') && d.K <= maxK;
}

/** y = act(W cols + b) for one image: the forward as a matrix product. */
function conv2dForwardGemm(e: Engine, x: Tensor, w: Tensor, b: Tensor, d: ReturnType<typeof dims>, activation: Activation): Tensor {
  const taps = d.CIN * d.K * d.K;
  const P = d.HO * d.WO;
  const cols = e.empty([taps, P]);
  e.run(
    {
      name: 'im2col',
      source: im2colSource,
      constants: { CIN: d.CIN, H: d.H, W: d.W, K: d.K, D: d.D },
      workgroups: grid1d(taps * P, 64),
    },
    [x, cols],
  );
  const y = e.empty([1, d.COUT, d.HO, d.WO]);
  matmul(e, w.view([d.COUT, taps]), cols, { bias: b, biasRows: true, activation }, y);
  cols.release();
  return y;
}

/** w [Cout,Cin,K,K] repacked with output (innerOut: the forward) or input channels innermost
 * (backward-input), zero-padded to cp, and the shader source that reads them: from a 64 KiB
 * uniform buffer (the tensor padded to that size) when they fit, else from a storage binding. */
function packWeights(e: Engine, w: Tensor, innerOut: boolean, cp: number, shader: { uniform: string; storage: string }): { packed: Tensor; source: string } {
  const [COUT, CIN, K] = w.shape;
  const outer = innerOut ? CIN : COUT;
  const floats = outer * K * K * cp;
  const uniform = weightsUniform(floats);
  const packed = uniform ? e.empty([UNIFORM_WEIGHT_FLOATS], { uniform: true }) : e.empty([floats]);
  e.run(
    {
      name: 'conv2d_pack_weights',
      source: packWeightsSource,
      constants: { COUT, CIN, KK: K * K, CP: cp, INNER_OUT: innerOut ? 1 : 0 },
      workgroups: grid1d(outer * K * K * cp, 64),
    },
    [w, packed],
  );
  return { packed, source: uniform ? shader.uniform : shader.storage };
}

/** y = act(conv(x, w) + b): valid, stride 1, dilated. x [N,Cin,H,W], w [Cout,Cin,K,K] -> [N,Cout,HO,WO]. */
export function conv2dForward(e: Engine, x: Tensor, w: Tensor, b: Tensor, p: Conv2dParams = {}): Tensor {
  const d = dims(x.shape, w.shape, p.dilation ?? 1, 'conv2dForward');
  if (b.size !== d.COUT) throw new Error(`conv2dForward: bias has ${b.size} values, expected ${d.COUT}`);
  if (useGemm(e, d)) return conv2dForwardGemm(e, x, w, b, d, p.activation ?? 'none');
  const subgroup = useSubgroups(e, d);
  // the subgroup form always computes 16 channels (CG = 4) per invocation
  const { CG, PX } = subgroup ? { CG: 4, PX: (d.D > 1 ? CONV_TILE.dilated : CONV_TILE).PX } : d.D > 1 ? CONV_TILE.dilated : CONV_TILE;
  const cb = 4 * CG, blocks = Math.ceil(d.COUT / cb);
  const vec4 = subgroup && CONV_TILE.vec4Stores && d.D === 1 && PX === 4 && d.WO % 4 === 0;
  const { packed, source } = packWeights(e, w, true, blocks * cb, vec4 ? FORWARD_SUBGROUP_VEC4 : subgroup ? FORWARD_SUBGROUP : FORWARD);
  const y = e.empty([d.N, d.COUT, d.HO, d.WO]);
  // pixel blocks per output row: D residue classes of ceil(WO / D) columns, PX per block (the shader's WXB)
  const rowBlocks = d.D * Math.ceil(Math.ceil(d.WO / d.D) / PX);
  const [gx, gy] = grid1d(d.N * d.HO * rowBlocks, 64);
  const constants: Record<string, number> = { N: d.N, CIN: d.CIN, H: d.H, W: d.W, COUT: d.COUT, K: d.K, D: d.D, ACT: activationCode(p.activation ?? 'none'), PX };
  if (!subgroup) constants.CG = CG;
  e.run({ name: vec4 ? 'conv2d_forward_subgroup_vec4' : subgroup ? 'conv2d_forward_subgroup' : 'conv2d_forward', source, constants, workgroups: [gx, gy, blocks] }, [x, packed, b, y]);
  packed.release();
  return y;
}

/** dx from g = dL/d(pre-activation output) [N,Cout,HO,WO]; inputShape = x's shape. */
export function conv2dBackwardInput(e: Engine, g: Tensor, w: Tensor, inputShape: readonly number[], dilation = 1): Tensor {
  const [N, CIN, H, W] = inputShape;
  const d = dims(inputShape, w.shape, dilation, 'conv2dBackwardInput');
  if (g.size !== N * d.COUT * d.HO * d.WO) throw new Error(`conv2dBackwardInput: gradient [${g.shape}] does not match output [${N},${d.COUT},${d.HO},${d.WO}]`);
  // the subgroup form computes 16 input channels per invocation: used from 8 channels on (fewer
  // would waste most of its multiply-adds on padding)
  const subgroup = CIN >= 8 && useSubgroups(e, d);
  const cb = subgroup ? 16 : 4, cp = cb * Math.ceil(CIN / cb);
  const { packed, source } = packWeights(e, w, false, cp, subgroup ? BACKWARD_INPUT_SUBGROUP : BACKWARD_INPUT);
  const dx = e.empty([N, CIN, H, W]);
  const PX = subgroup ? rowPixels(W) : CONV_TILE.PX;
  const PY = subgroup ? 1 : backwardInputRows(e, d.D);
  const [gx, gy] = grid1d(N * Math.ceil(H / PY) * Math.ceil(W / PX), 64);
  e.run(
    {
      name: subgroup ? 'conv2d_backward_input_subgroup' : 'conv2d_backward_input',
      source,
      constants: { N, CIN, H, W, COUT: d.COUT, K: d.K, D: d.D, PX, ...(subgroup ? {} : { PY }) },
      workgroups: [gx, gy, cp / cb],
    },
    [g, packed, dx],
  );
  packed.release();
  return dx;
}

/** The register tile of conv2d_backward_weight.wgsl (its TCO and TJ constants). */
export const WEIGHT_TILE = { co: 4, j: 8 } as const;

/**
 * Splits of the N*HO*WO positions for the weight gradient: enough (tile, split) invocations to
 * fill the adapter (256 on a CPU adapter: a few workgroups per core; 16384 elsewhere), each
 * split at least 64 positions long. `force` (tests) overrides the rule.
 */
export function weightSplits(positions: number, tiles: number, cpuAdapter: boolean, force = CONV_TILE.forceWeightSplits): number {
  if (force > 0) return Math.min(force, positions);
  const target = cpuAdapter ? 256 : 16384;
  return Math.max(1, Math.min(Math.ceil(target / tiles), Math.floor(positions / 64)));
}

/**
 * Columns per invocation (TJ, 1..4) of conv2d_backward_weight_subgroup.wgsl for J = CIN*K*K columns:
 * each position costs 2 + TJ loads for 16*TJ multiply-adds, but the column tiles fill workgroups
 * of 8, so few columns (DNN1's first layer: J = 12) waste lanes at TJ = 4. Picks the TJ with the
 * most useful multiply-adds per load.
 */
function subgroupColumnTile(J: number): number {
  let best = 4, bestScore = 0;
  for (const tj of [4, 3, 2, 1]) {
    const lanes = 8 * Math.ceil(Math.ceil(J / tj) / 8);
    const score = ((16 * tj) / (2 + tj)) * (J / (lanes * tj));
    if (score > bestScore + 1e-9) [best, bestScore] = [tj, score];
  }
  return best;
}

/** dw [Cout,Cin,K,K] from the input x and g = dL/d(pre-activation output). */
export function conv2dBackwardWeight(e: Engine, x: Tensor, g: Tensor, K: number, dilation = 1): Tensor {
  const [N, CIN, H, W] = x.shape;
  const COUT = g.shape[1];
  const d = dims(x.shape, [COUT, CIN, K, K], dilation, 'conv2dBackwardWeight');
  if (g.shape.length !== 4 || g.shape[0] !== N || g.shape[2] !== d.HO || g.shape[3] !== d.WO) {
    throw new Error(`conv2dBackwardWeight: gradient [${g.shape}] does not match output [${N},${COUT},${d.HO},${d.WO}]`);
  }
  const dw = e.empty([COUT, CIN, K, K]);
  const J = CIN * K * K, P = N * d.HO * d.WO;
  let S: number, program: Program;
  if (useSubgroups(e, d, Infinity)) {
    // 16 channels x TJ columns per invocation, workgroups of 8 column tiles of one split
    const TJ = subgroupColumnTile(J);
    const xGroups = Math.ceil(Math.ceil(J / TJ) / 8), coBlocks = Math.ceil(COUT / 16);
    S = Math.min(weightSplits(P, 8 * xGroups * coBlocks, e.isCpuAdapter), e.limits.maxComputeWorkgroupsPerDimension);
    program = { name: 'conv2d_backward_weight_subgroup', source: backwardWeightSubgroupSource, constants: { N, CIN, H, W, COUT, K, D: d.D, S, TJ }, workgroups: [xGroups, S, coBlocks] };
  } else {
    const tiles = Math.ceil(COUT / WEIGHT_TILE.co) * Math.ceil(J / WEIGHT_TILE.j);
    S = weightSplits(P, tiles, e.isCpuAdapter);
    program = { name: 'conv2d_backward_weight', source: backwardWeightSource, constants: { N, CIN, H, W, COUT, K, D: d.D, S }, workgroups: grid1d(tiles * S, 64) };
  }
  const part = S > 1 ? e.empty([S, COUT, CIN, K, K]) : dw;
  e.run(program, [x, g, part]);
  if (S > 1) {
    const M = COUT * CIN * K * K;
    e.run({ name: 'conv2d_backward_weight_sum', source: backwardWeightSumSource, constants: { M, S }, workgroups: grid1d(M, 64) }, [part, dw]);
    part.release();
  }
  return dw;
}

/** db [Cout] = sum of g over batch and positions. */
export function conv2dBackwardBias(e: Engine, g: Tensor): Tensor {
  if (g.shape.length !== 4) throw new Error(`conv2dBackwardBias: gradient must be [N,C,H,W], got [${g.shape}]`);
  const [N, COUT, HO, WO] = g.shape;
  const db = e.empty([COUT]);
  e.run({ name: 'conv2d_backward_bias', source: backwardBiasSource, constants: { N, COUT, HW: HO * WO }, workgroups: [COUT] }, [g, db]);
  return db;
}

/** All three gradients of y = act(conv(x, w) + b), from the layer's output y and dL/dy. */
export function conv2dBackward(
  e: Engine,
  x: Tensor,
  w: Tensor,
  y: Tensor,
  dy: Tensor,
  p: Conv2dParams = {},
): { dx: Tensor; dw: Tensor; db: Tensor } {
  const dilation = p.dilation ?? 1;
  const g = activationBackward(e, y, dy, p.activation ?? 'none');
  const dx = conv2dBackwardInput(e, g, w, x.shape, dilation);
  const dw = conv2dBackwardWeight(e, x, g, w.shape[2], dilation);
  const db = conv2dBackwardBias(e, g);
  g.release();
  return { dx, dw, db };
}

import backwardSource from '../../shaders/maxpool_backward.wgsl';
import forwardSource from '../../shaders/maxpool_forward.wgsl';
import { activationCode, type Activation } from '../activation.js';
import { grid1d } from '../dispatch.js';
import type { Engine, Tensor } from '../engine.js';

export interface PoolParams {
  k: number;
  /** Default k (non-overlapping windows). */
  stride?: number;
  dilation?: number;
}

function dims(shape: readonly number[], p: PoolParams, op: string) {
  if (shape.length !== 4) throw new Error(`${op}: input must be [N,C,H,W], got [${shape}]`);
  const [N, C, H, W] = shape;
  const K = p.k, S = p.stride ?? p.k, D = p.dilation ?? 1;
  for (const [name, v] of [['k', K], ['stride', S], ['dilation', D]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${op}: ${name} must be an integer >= 1, got ${v}`);
  }
  const span = D * (K - 1) + 1;
  if (span > H || span > W) throw new Error(`${op}: a ${K}x${K} window with dilation ${D} does not fit a ${H}x${W} input`);
  const HO = Math.floor((H - span) / S) + 1;
  const WO = Math.floor((W - span) / S) + 1;
  return { N, C, H, W, K, S, D, HO, WO };
}

/** y = window maxima; argmax = flat index into x of each maximum (u32), both [N,C,HO,WO]. */
export function maxPoolForward(e: Engine, x: Tensor, p: PoolParams): { y: Tensor; argmax: Tensor } {
  return runForward(e, x, p, true, 'maxPoolForward');
}

/** `perOutput`: force one invocation per output for the inference pool too (tests, A/B). */
export const POOL_FORWARD = { perOutput: false };

/** y = window maxima only, [N,C,HO,WO]: inference, where nothing goes backward (no argmax tensor,
 * which in the dense path would be as large as the map itself). 2x2 windows at stride 1 run as
 * 2x2 output blocks (9 reads for 4 outputs). */
export function maxPool(e: Engine, x: Tensor, p: PoolParams): Tensor {
  const { y, argmax: placeholder } = runForward(e, x, p, false, 'maxPool');
  placeholder.release();
  return y;
}

/** Records the pool; without keepArgmax the argmax binding is a 1-element placeholder never written. */
function runForward(e: Engine, x: Tensor, p: PoolParams, keepArgmax: boolean, op: string): { y: Tensor; argmax: Tensor } {
  const d = dims(x.shape, p, op);
  if (x.size >= 2 ** 32) throw new Error(`${op}: input too large for u32 indices`);
  const y = e.empty([d.N, d.C, d.HO, d.WO]);
  const argmax = e.empty(keepArgmax ? y.shape : [1]);
  // inference with 2x2 windows at stride 1 (the dense path): 2x2 output blocks (the shader's BLOCKS)
  const blocks = !keepArgmax && d.K === 2 && d.S === 1 && !POOL_FORWARD.perOutput;
  const blocksPer = (n: number) => d.D * Math.ceil(Math.ceil(n / d.D) / 2);
  const launch = blocks ? d.N * d.C * blocksPer(d.HO) * blocksPer(d.WO) : y.size;
  e.run(
    {
      name: 'maxpool_forward',
      source: forwardSource,
      constants: { NC: d.N * d.C, H: d.H, W: d.W, K: d.K, S: d.S, D: d.D, ARGMAX: keepArgmax ? 1 : 0, BLOCKS: blocks ? 1 : 0 },
      workgroups: grid1d(launch, 64),
    },
    [x, y, argmax],
  );
  return { y, argmax };
}

/** `perElement`: force the per-element form of the backward for non-overlapping windows too (tests). */
export const POOL_BACKWARD = { perElement: false };

/**
 * dx [N,C,H,W]: each dy goes to the input element its window's maximum came from. With `fused`
 * (x = the pool's input, the output of activation `fused.activation`), dx is also multiplied by
 * that activation's derivative: the gradient of the pre-activation, in one pass.
 */
export function maxPoolBackward(
  e: Engine, dy: Tensor, argmax: Tensor, inputShape: readonly number[], p: PoolParams,
  fused?: { x: Tensor; activation: Activation },
): Tensor {
  const d = dims(inputShape, p, 'maxPoolBackward');
  if (dy.size !== d.N * d.C * d.HO * d.WO || argmax.size !== dy.size) {
    throw new Error(`maxPoolBackward: dy [${dy.shape}] / argmax [${argmax.shape}] do not match output [${d.N},${d.C},${d.HO},${d.WO}]`);
  }
  if (fused && fused.x.size !== d.N * d.C * d.H * d.W) throw new Error(`maxPoolBackward: x [${fused.x.shape}] does not match the input [${inputShape}]`);
  const dx = e.empty(inputShape);
  // non-overlapping windows: one invocation per K x K cell (the shader's CELLS), else per element
  const cells = d.S === d.K && d.D === 1 && !POOL_BACKWARD.perElement;
  const launch = cells ? d.N * d.C * Math.ceil(d.H / d.K) * Math.ceil(d.W / d.K) : dx.size;
  e.run(
    {
      name: 'maxpool_backward',
      source: backwardSource,
      constants: { NC: d.N * d.C, H: d.H, W: d.W, K: d.K, S: d.S, D: d.D, ACT: activationCode(fused?.activation ?? 'none'), CELLS: cells ? 1 : 0 },
      workgroups: grid1d(launch, 64),
    },
    [dy, argmax, dx, fused?.x ?? dy],
  );
  return dx;
}

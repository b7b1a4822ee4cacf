import backwardBiasSource from '../../shaders/conv2d_backward_bias.wgsl';
import backwardInputSource from '../../shaders/conv2d_backward_input.wgsl';
import backwardWeightSource from '../../shaders/conv2d_backward_weight.wgsl';
import forwardSource from '../../shaders/conv2d_forward.wgsl';
import { activationCode, type Activation } from '../activation.js';
import { grid1d } from '../dispatch.js';
import type { Engine, Tensor } from '../engine.js';
import { activationBackward } from './activation.js';

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

/** y = act(conv(x, w) + b): valid, stride 1, dilated. x [N,Cin,H,W], w [Cout,Cin,K,K] -> [N,Cout,HO,WO]. */
export function conv2dForward(e: Engine, x: Tensor, w: Tensor, b: Tensor, p: Conv2dParams = {}): Tensor {
  const d = dims(x.shape, w.shape, p.dilation ?? 1, 'conv2dForward');
  if (b.size !== d.COUT) throw new Error(`conv2dForward: bias has ${b.size} values, expected ${d.COUT}`);
  const y = e.empty([d.N, d.COUT, d.HO, d.WO]);
  const threads = d.N * Math.ceil(d.COUT / 4) * d.HO * d.WO;
  e.run(
    {
      name: 'conv2d_forward',
      source: forwardSource,
      constants: { N: d.N, CIN: d.CIN, H: d.H, W: d.W, COUT: d.COUT, K: d.K, D: d.D, ACT: activationCode(p.activation ?? 'none') },
      workgroups: grid1d(threads, 64),
    },
    [x, w, b, y],
  );
  return y;
}

/** dx from g = dL/d(pre-activation output) [N,Cout,HO,WO]; inputShape = x's shape. */
export function conv2dBackwardInput(e: Engine, g: Tensor, w: Tensor, inputShape: readonly number[], dilation = 1): Tensor {
  const [N, CIN, H, W] = inputShape;
  const d = dims(inputShape, w.shape, dilation, 'conv2dBackwardInput');
  if (g.size !== N * d.COUT * d.HO * d.WO) throw new Error(`conv2dBackwardInput: gradient [${g.shape}] does not match output [${N},${d.COUT},${d.HO},${d.WO}]`);
  const dx = e.empty([N, CIN, H, W]);
  e.run(
    {
      name: 'conv2d_backward_input',
      source: backwardInputSource,
      constants: { N, CIN, H, W, COUT: d.COUT, K: d.K, D: d.D },
      workgroups: grid1d(N * Math.ceil(CIN / 4) * H * W, 64),
    },
    [g, w, dx],
  );
  return dx;
}

/** dw [Cout,Cin,K,K] from the input x and g = dL/d(pre-activation output). */
export function conv2dBackwardWeight(e: Engine, x: Tensor, g: Tensor, K: number, dilation = 1): Tensor {
  const [N, CIN, H, W] = x.shape;
  const COUT = g.shape[1];
  const d = dims(x.shape, [COUT, CIN, K, K], dilation, 'conv2dBackwardWeight');
  if (g.shape.length !== 4 || g.shape[0] !== N || g.shape[2] !== d.HO || g.shape[3] !== d.WO) {
    throw new Error(`conv2dBackwardWeight: gradient [${g.shape}] does not match output [${N},${COUT},${d.HO},${d.WO}]`);
  }
  if (K * K > 64) throw new Error(`conv2dBackwardWeight: kernels up to 8x8 are supported, got ${K}x${K}`);
  if (COUT * CIN > 65535) throw new Error(`conv2dBackwardWeight: Cout*Cin = ${COUT * CIN} is over 65535`);
  const dw = e.empty([COUT, CIN, K, K]);
  e.run(
    {
      name: 'conv2d_backward_weight',
      source: backwardWeightSource,
      constants: { N, CIN, H, W, COUT, K, D: d.D },
      workgroups: [COUT * CIN],
    },
    [x, g, dw],
  );
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

import adagradSource from '../../shaders/adagrad.wgsl';
import sgdSource from '../../shaders/sgd.wgsl';
import { grid1d } from '../dispatch.js';
import type { Engine, Tensor } from '../engine.js';

export interface SgdParams {
  lr: number;
  momentum: number;
  weightDecay: number;
}

export interface AdagradParams {
  lr: number;
  /** Added to sqrt(h) in the denominator (e.g. 1e-8). */
  eps: number;
  weightDecay: number;
}

function sameSize(fn: string, w: Tensor, g: Tensor, s: Tensor, sName: string): void {
  if (g.size !== w.size || s.size !== w.size) {
    throw new Error(`${fn}: w [${w.shape}], g [${g.shape}] and ${sName} [${s.shape}] must have the same number of elements`);
  }
}

/** SGD with momentum and weight decay, in place on w and velocity: v = mu v - lr (g + wd w); w += v. */
export function sgdStep(e: Engine, w: Tensor, g: Tensor, velocity: Tensor, p: SgdParams): void {
  sameSize('sgdStep', w, g, velocity, 'velocity');
  e.run(
    { name: 'sgd', source: sgdSource, constants: { N: w.size }, workgroups: grid1d(w.size, 256) },
    [w, g, velocity, { uniform: new Float32Array([p.lr, p.momentum, p.weightDecay, 0]) }],
  );
}

/** Adagrad, in place on w and accum, with q = g + wd w: h += q^2; w -= lr q / (sqrt(h) + eps)
 * (Caffe's and PyTorch's convention: weight decay is part of the accumulated gradient). */
export function adagradStep(e: Engine, w: Tensor, g: Tensor, accum: Tensor, p: AdagradParams): void {
  sameSize('adagradStep', w, g, accum, 'accum');
  e.run(
    { name: 'adagrad', source: adagradSource, constants: { N: w.size }, workgroups: grid1d(w.size, 256) },
    [w, g, accum, { uniform: new Float32Array([p.lr, p.eps, p.weightDecay, 0]) }],
  );
}

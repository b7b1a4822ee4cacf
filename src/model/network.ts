// A mitosis net on the GPU, for batches of patches [N, C, S, S]: forward (keeping what backward
// needs), softmax cross-entropy, backward (gradients of every parameter), SGD and Adagrad steps,
// and the optimizer's state (velocities or accumulated squared gradients) in and out, so that a
// training run can be checkpointed and resumed bit for bit.
//
// Layer by layer (spec in ./spec.ts):
//   conv k:    y = act(conv2d(x, W[Cout,Cin,k,k]) + b)                      (valid, stride 1)
//   maxpool k: y = max over non-overlapping k x k blocks (stride k), argmax kept for backward
//   fc:        y = act(x W^T + b) with x = the previous maps flattened per sample in NCHW order
//              (index c*s*s + i*s + j, as PyTorch's flatten); the last FC layer has no activation
//   output:    logits [N, 2]; probabilities = softmax(logits); loss = mean cross-entropy.
// Parameter tensors live on the GPU; readWeights/writeWeights move them to/from Float32Arrays.
import type { Activation } from '../../engine/activation.js';
import type { Engine, Tensor } from '../../engine/engine.js';
import { activationBackward } from '../../engine/ops/activation.js';
import { conv2dBackward, conv2dBackwardBias, conv2dBackwardWeight, conv2dForward } from '../../engine/ops/conv2d.js';
import { linearBackward, linearForward } from '../../engine/ops/matmul.js';
import { maxPool, maxPoolBackward, maxPoolForward } from '../../engine/ops/pool.js';
import { softmax, softmaxCrossEntropy } from '../../engine/ops/softmax.js';
import { adagradStep, sgdStep, type AdagradParams, type SgdParams } from '../../engine/ops/optim.js';
import type { LayerParams, Model } from './model-file.js';
import { layerShapes, type LayerShape, type NetSpec } from './spec.js';

/** The GPU tensors of one conv/FC layer: weight [Cout,Cin,K,K] or [Out,In], bias [Out]. */
export interface ParamTensors {
  weight: Tensor;
  bias: Tensor;
}

/** What forward keeps for backward. Release it with `releaseForward` if backward is not called. */
export interface ForwardState {
  N: number;
  input: Tensor;
  /** Output of every layer (after its activation); the last one is the logits [N, 2]. */
  outs: Tensor[];
  /** Argmax of every max-pooling layer (null for other layers). */
  argmax: (Tensor | null)[];
}

export type { AdagradParams, SgdParams };

export type OptimizerKind = 'sgd' | 'adagrad';

/** The optimizer's per-parameter state on the CPU: SGD velocities or Adagrad's sums of squared
 * gradients, one {weight, bias} per conv/FC layer (the layout of `params`). */
export interface OptimizerState {
  kind: OptimizerKind;
  params: LayerParams[];
}

export class Network {
  readonly spec: NetSpec;
  readonly shapes: readonly LayerShape[];
  /** One entry per conv/FC layer, in layer order. */
  readonly params: ParamTensors[];
  /** Index into `params` of each layer (-1 for max-pooling). */
  readonly paramIndex: readonly number[];
  private velocity: ParamTensors[] | null = null;
  private accum: ParamTensors[] | null = null;
  private destroyed = false;

  constructor(
    readonly e: Engine,
    spec: NetSpec,
    weights?: readonly LayerParams[],
  ) {
    this.shapes = layerShapes(spec);
    this.spec = spec;
    const idx: number[] = [];
    this.params = [];
    for (const s of this.shapes) {
      if (s.weights === 0) {
        idx.push(-1);
        continue;
      }
      idx.push(this.params.length);
      this.params.push({ weight: e.zeros(s.weightShape), bias: e.zeros([s.weightShape[0]]) });
    }
    this.paramIndex = idx;
    if (weights) this.writeWeights(weights);
  }

  static fromModel(e: Engine, model: Model): Network {
    return new Network(e, model.spec, model.params);
  }

  get window(): number {
    return this.spec.input.size;
  }

  /** Activation applied after layer `li` (the last layer gives logits: none). */
  activationOf(li: number): Activation {
    const l = this.spec.layers[li];
    if (l.type === 'maxpool' || li === this.spec.layers.length - 1) return 'none';
    return this.spec.activation;
  }

  /** Uploads parameters (one {weight, bias} per conv/FC layer, sizes as the spec says). */
  writeWeights(weights: readonly LayerParams[]): void {
    this.check();
    if (weights.length !== this.params.length) {
      throw new Error(`Network.writeWeights: ${weights.length} parameter layers given, ${this.spec.name} has ${this.params.length}`);
    }
    weights.forEach((w, i) => {
      const p = this.params[i];
      if (w.weight.length !== p.weight.size || w.bias.length !== p.bias.size) {
        throw new Error(
          `Network.writeWeights: parameter layer ${i} has ${w.weight.length}+${w.bias.length} values, ` +
            `needs [${p.weight.shape}]=${p.weight.size} + ${p.bias.size}`,
        );
      }
      this.e.write(p.weight, w.weight);
      this.e.write(p.bias, w.bias);
    });
  }

  /** Reads the parameters back (one {weight, bias} per conv/FC layer). */
  async readWeights(): Promise<LayerParams[]> {
    this.check();
    return readParams(this.params);
  }

  /** A Model holding this network's current weights, with the metadata of `base`. */
  async toModel(base: Omit<Model, 'params' | 'spec'>): Promise<Model> {
    return { ...base, spec: this.spec, params: await this.readWeights() };
  }

  private checkInput(x: Tensor): number {
    const { channels, size } = this.spec.input;
    const [N, C, H, W] = x.shape;
    if (x.shape.length !== 4 || C !== channels || H !== size || W !== size) {
      throw new Error(`${this.spec.name}: input must be [N, ${channels}, ${size}, ${size}], got [${x.shape}]`);
    }
    return N;
  }

  /**
   * Runs the net on x [N, C, S, S]. With keep = true every layer's output (and the pools' argmax)
   * is kept for backward; otherwise intermediates are released as soon as possible and only the
   * logits are returned in `outs` (outs[last]). x itself is never released.
   */
  forward(x: Tensor, keep = true): ForwardState {
    this.check();
    const N = this.checkInput(x);
    const e = this.e;
    const outs: Tensor[] = [];
    const argmax: (Tensor | null)[] = [];
    let cur = x;
    this.spec.layers.forEach((l, li) => {
      const s = this.shapes[li];
      let y: Tensor;
      let am: Tensor | null = null;
      if (l.type === 'conv') {
        const p = this.params[this.paramIndex[li]];
        y = conv2dForward(e, cur, p.weight, p.bias, { dilation: 1, activation: this.activationOf(li) });
      } else if (l.type === 'maxpool') {
        if (keep) {
          const r = maxPoolForward(e, cur, { k: l.k, stride: l.k, dilation: 1 });
          y = r.y;
          am = r.argmax;
        } else {
          y = maxPool(e, cur, { k: l.k, stride: l.k, dilation: 1 });
        }
      } else {
        const p = this.params[this.paramIndex[li]];
        const flat = cur.shape.length === 2 ? cur : cur.view([N, s.inMaps * s.inSize * s.inSize]);
        y = linearForward(e, flat, p.weight, p.bias, this.activationOf(li));
      }
      if (keep) {
        outs.push(y);
        argmax.push(am);
      } else {
        if (cur !== x) cur.release();
      }
      cur = y;
    });
    if (!keep) outs.push(cur);
    return { N, input: x, outs, argmax };
  }

  /** Logits [N, 2] (intermediates released). */
  logits(x: Tensor): Tensor {
    const st = this.forward(x, false);
    return st.outs[st.outs.length - 1];
  }

  /** Class probabilities [N, 2] (column 1: mitosis). */
  probabilities(x: Tensor): Tensor {
    const z = this.logits(x);
    const p = softmax(this.e, z);
    z.release();
    return p;
  }

  /**
   * Backward from d loss / d logits [N, 2]. Consumes (releases) the forward state's outputs and
   * argmax and `dlogits`; returns new gradient tensors shaped like `params` (caller releases).
   */
  backward(st: ForwardState, dlogits: Tensor): ParamTensors[] {
    this.check();
    const e = this.e;
    const N = st.N;
    const grads: ParamTensors[] = new Array(this.params.length);
    let dy = dlogits;
    // true when dy is already the gradient of layer li's pre-activation (the pool above it applied
    // the activation's derivative in its backward pass)
    let preActivation = false;
    for (let li = this.spec.layers.length - 1; li >= 0; li--) {
      const l = this.spec.layers[li];
      const s = this.shapes[li];
      const y = st.outs[li];
      const x = li === 0 ? st.input : st.outs[li - 1];
      const inShape = li === 0 ? st.input.shape : x.shape;
      let dx: Tensor | null = null;
      const pre = preActivation;
      preActivation = false;
      if (l.type === 'maxpool') {
        // a conv layer's activation below: fold its derivative into this pass (saves one over the largest maps)
        const below = li > 0 && this.spec.layers[li - 1].type === 'conv' ? this.activationOf(li - 1) : 'none';
        dx = maxPoolBackward(e, dy, st.argmax[li]!, [...inShape], { k: l.k, stride: l.k, dilation: 1 }, below === 'none' ? undefined : { x, activation: below });
        preActivation = below !== 'none';
      } else if (l.type === 'fc') {
        const p = this.params[this.paramIndex[li]];
        const flat = x.shape.length === 2 ? x : x.view([N, s.inMaps * s.inSize * s.inSize]);
        const r = linearBackward(e, flat, p.weight, y, dy, this.activationOf(li));
        grads[this.paramIndex[li]] = { weight: r.dw, bias: r.db };
        if (li === 0) r.dx.release();
        else dx = r.dx; // [N, In]: the previous layer's output has the same elements (views share buffers)
      } else {
        const p = this.params[this.paramIndex[li]];
        const act = pre ? 'none' : this.activationOf(li);
        if (li === 0) {
          // the input needs no gradient: skip the backward-input convolution
          const dz = act === 'none' ? dy : activationBackward(e, y, dy, act);
          grads[this.paramIndex[li]] = { weight: conv2dBackwardWeight(e, x, dz, l.k, 1), bias: conv2dBackwardBias(e, dz) };
          if (dz !== dy) dz.release();
        } else {
          const r = conv2dBackward(e, x, p.weight, y, dy, { dilation: 1, activation: act });
          grads[this.paramIndex[li]] = { weight: r.dw, bias: r.db };
          dx = r.dx;
        }
      }
      dy.release();
      y.release();
      st.argmax[li]?.release();
      if (dx) dy = dx.shape.length === x.shape.length ? dx : dx.view(x.shape);
    }
    return grads;
  }

  /**
   * One training pass on a batch: forward, softmax cross-entropy against labels (u32 [N], 1 =
   * mitosis), backward. Returns per-sample losses [N], probabilities [N, 2] and the gradients of
   * the mean loss (all new tensors; the caller releases them, e.g. with releaseParams).
   */
  lossAndGradients(x: Tensor, labels: Tensor): { loss: Tensor; probs: Tensor; grads: ParamTensors[] } {
    const st = this.forward(x, true);
    const logits = st.outs[st.outs.length - 1];
    const ce = softmaxCrossEntropy(this.e, logits, labels);
    const grads = this.backward(st, ce.grad);
    return { loss: ce.loss, probs: ce.probs, grads };
  }

  /** SGD with momentum and weight decay on every parameter (velocities kept here, start at 0). */
  sgdStep(grads: readonly ParamTensors[], p: SgdParams): void {
    this.check();
    if (this.accum) throw new Error(`Network ${this.spec.name}: sgdStep after adagradStep (call resetOptimizer() to switch optimizers)`);
    if (!this.velocity) {
      this.velocity = this.params.map((q) => ({ weight: this.e.zeros(q.weight.shape), bias: this.e.zeros(q.bias.shape) }));
    }
    this.params.forEach((q, i) => {
      sgdStep(this.e, q.weight, grads[i].weight, this.velocity![i].weight, p);
      sgdStep(this.e, q.bias, grads[i].bias, this.velocity![i].bias, p);
    });
  }

  /**
   * Adagrad on every parameter, with q = g + wd w: h += q^2; w -= lr q / (sqrt(h) + eps) (the
   * accumulators h are kept here and start at 0; engine/ops/optim.ts adagradStep).
   */
  adagradStep(grads: readonly ParamTensors[], p: AdagradParams): void {
    this.check();
    if (this.velocity) throw new Error(`Network ${this.spec.name}: adagradStep after sgdStep (call resetOptimizer() to switch optimizers)`);
    if (!this.accum) {
      this.accum = this.params.map((q) => ({ weight: this.e.zeros(q.weight.shape), bias: this.e.zeros(q.bias.shape) }));
    }
    this.params.forEach((q, i) => {
      adagradStep(this.e, q.weight, grads[i].weight, this.accum![i].weight, p);
      adagradStep(this.e, q.bias, grads[i].bias, this.accum![i].bias, p);
    });
  }

  /** Reads the optimizer's state back (null before the first step or after resetOptimizer). */
  async readOptimizerState(): Promise<OptimizerState | null> {
    this.check();
    if (this.velocity) return { kind: 'sgd', params: await readParams(this.velocity) };
    if (this.accum) return { kind: 'adagrad', params: await readParams(this.accum) };
    return null;
  }

  /** Restores an optimizer state read by readOptimizerState (null: forget it, as resetOptimizer). */
  writeOptimizerState(state: OptimizerState | null): void {
    this.check();
    this.resetOptimizer();
    if (!state) return;
    if (state.kind !== 'sgd' && state.kind !== 'adagrad') throw new Error(`Network.writeOptimizerState: unknown optimizer '${String(state.kind)}'`);
    if (state.params.length !== this.params.length) {
      throw new Error(`Network.writeOptimizerState: ${state.params.length} parameter layers given, ${this.spec.name} has ${this.params.length}`);
    }
    const ts = this.params.map((q, i) => {
      const s = state.params[i];
      if (s.weight.length !== q.weight.size || s.bias.length !== q.bias.size) {
        throw new Error(`Network.writeOptimizerState: parameter layer ${i} has ${s.weight.length}+${s.bias.length} values, needs ${q.weight.size} + ${q.bias.size}`);
      }
      return { weight: this.e.tensor(q.weight.shape, s.weight), bias: this.e.tensor(q.bias.shape, s.bias) };
    });
    if (state.kind === 'sgd') this.velocity = ts;
    else this.accum = ts;
  }

  /** Forgets the optimizer's state: SGD velocities or Adagrad accumulators (e.g. when the learning
   * rate schedule restarts). */
  resetOptimizer(): void {
    if (this.velocity) releaseParams(this.velocity);
    this.velocity = null;
    if (this.accum) releaseParams(this.accum);
    this.accum = null;
  }

  /** Releases the parameter tensors; the network must not be used afterwards. */
  destroy(): void {
    if (this.destroyed) return;
    this.resetOptimizer();
    releaseParams(this.params);
    this.destroyed = true;
  }

  private check(): void {
    if (this.destroyed) throw new Error(`Network ${this.spec.name}: used after destroy()`);
  }
}

/** Releases what forward kept (when backward is not called). */
export function releaseForward(st: ForwardState): void {
  st.outs.forEach((t) => t.release());
  st.argmax.forEach((t) => t?.release());
}

export function releaseParams(ps: readonly ParamTensors[]): void {
  for (const p of ps) {
    p.weight.release();
    p.bias.release();
  }
}

/** Reads parameter (or gradient) tensors back to the CPU. */
export async function readParams(ps: readonly ParamTensors[]): Promise<LayerParams[]> {
  const out: LayerParams[] = [];
  for (const p of ps) out.push({ weight: await p.weight.read(), bias: await p.bias.read() });
  return out;
}

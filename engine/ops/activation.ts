import source from '../../shaders/activation_backward.wgsl';
import { activationCode, type Activation } from '../activation.js';
import { grid1d } from '../dispatch.js';
import type { Engine, Tensor } from '../engine.js';

/** dz = dy * f'(z), computed from the activation's output y. Returns a new tensor shaped like y. */
export function activationBackward(e: Engine, y: Tensor, dy: Tensor, act: Activation): Tensor {
  if (y.size !== dy.size) throw new Error(`activationBackward: y has ${y.size} elements, dy ${dy.size}`);
  const dz = e.empty(y.shape);
  e.run(
    { name: 'activation_backward', source, constants: { N: y.size, ACT: activationCode(act) }, workgroups: grid1d(y.size, 256) },
    [y, dy, dz],
  );
  return dz;
}

import source from '../../shaders/softmax.wgsl';
import xentSource from '../../shaders/softmax_cross_entropy.wgsl';
import { grid1d } from '../dispatch.js';
import type { Engine, Tensor } from '../engine.js';

function rows(logits: Tensor, fn: string): { N: number; C: number } {
  if (logits.shape.length !== 2) throw new Error(`${fn}: logits must be [N, C], got [${logits.shape}]`);
  const [N, C] = logits.shape;
  if (C < 1) throw new Error(`${fn}: no classes in [${logits.shape}]`);
  return { N, C };
}

/** Row-wise softmax of logits [N, C] (max subtracted first). Returns [N, C]. */
export function softmax(e: Engine, logits: Tensor): Tensor {
  const { N, C } = rows(logits, 'softmax');
  const p = e.empty([N, C]);
  e.run({ name: 'softmax', source, constants: { N, C }, workgroups: grid1d(N, 64) }, [logits, p]);
  return p;
}

/** Softmax cross-entropy of logits [N, C] against u32 labels [N]: probs [N, C], per-sample loss
 * -log p[label] [N] (computed as logsumexp - z[label]), and grad = (p - onehot) / N, the gradient of
 * the mean loss with respect to the logits. A label >= C gives NaN loss and gradient for its row. */
export function softmaxCrossEntropy(e: Engine, logits: Tensor, labels: Tensor): { probs: Tensor; loss: Tensor; grad: Tensor } {
  const { N, C } = rows(logits, 'softmaxCrossEntropy');
  if (labels.size !== N) throw new Error(`softmaxCrossEntropy: ${labels.size} labels for ${N} rows`);
  const probs = e.empty([N, C]);
  const loss = e.empty([N]);
  const grad = e.empty([N, C]);
  e.run(
    { name: 'softmax_cross_entropy', source: xentSource, constants: { N, C }, workgroups: grid1d(N, 64) },
    [logits, labels, probs, loss, grad],
  );
  return { probs, loss, grad };
}

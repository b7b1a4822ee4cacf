// The untrained compact20x of the page tests, its output layer scaled x6 so that its probabilities
// spread over 0..1 (an untrained net's sit near 0.5): cheap on SwiftShader, with detections to compare.
import { initModel, type Model } from '../../src/model/model-file.js';
import { compact20x } from '../../src/model/spec.js';

export function tinyPageModel(umPerPixel: number, note: string): Model {
  const m = initModel(compact20x, 3, { umPerPixel, provenance: { seed: 3, note: `${note}: untrained, output layer x6` } });
  const last = m.params[m.params.length - 1];
  for (let i = 0; i < last.weight.length; i++) last.weight[i] *= 6;
  return m;
}

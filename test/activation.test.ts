import { describe, it } from 'vitest';
import { activationBackward } from '../engine/ops/activation.js';
import { useEngine } from './helpers/gpu.js';
import { expectClose, randomArray } from './helpers/reference.js';

const ctx = useEngine();

describe('activation_backward', () => {
  for (const act of ['none', 'tanh', 'relu'] as const) {
    it(`matches the float64 derivative for ${act}`, async () => {
      const n = 1037;
      const z = randomArray(n, 1, -3, 3);
      const y = z.map((v) => (act === 'tanh' ? Math.tanh(v) : act === 'relu' ? Math.max(0, v) : v));
      const dy = randomArray(n, 2);
      const want = dy.map((g, i) => g * (act === 'tanh' ? 1 - y[i] ** 2 : act === 'relu' ? (y[i] > 0 ? 1 : 0) : 1));
      const e = ctx.e;
      const got = await activationBackward(e, e.tensor([n], y), e.tensor([n], dy), act).read();
      expectClose(got, want, 1e-6, 1e-6, `dz (${act})`);
    });
  }
});

// Kernel cases run identically in Node (Dawn) and in Chromium (its own WebGPU): the parity test
// compares the two result sets element by element. Inputs are generated from fixed seeds.
import type { Engine, Tensor } from '../../engine/engine.js';
import { activationBackward } from '../../engine/ops/activation.js';

function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

export type ParityResults = Record<string, number[]>;

export async function runParityCases(e: Engine): Promise<ParityResults> {
  const out: ParityResults = {};
  const keep = async (name: string, t: Tensor) => {
    out[name] = Array.from(await t.read());
  };
  const t = (shape: number[], seed: number, lo = -1, hi = 1) => e.tensor(shape, rand(shape.reduce((a, b) => a * b), seed, lo, hi));

  const y = t([3, 5, 7], 1, -0.99, 0.99);
  const dy = t([3, 5, 7], 2);
  await keep('activation_backward.tanh', activationBackward(e, y, dy, 'tanh'));
  await keep('activation_backward.relu', activationBackward(e, y, dy, 'relu'));
  return out;
}

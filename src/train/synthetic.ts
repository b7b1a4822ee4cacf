// Training and test images from the procedural H&E generator (src/synth/tissue.ts): how the
// embedded default model is made (`mitoscan train --synthetic N`) and how it is scored.
import { generateField } from '../synth/tissue.js';
import type { TrainingImage } from './training-set.js';

/** Field seeds of a synthetic training set (seed base + index); held-out test fields use other bases. */
export const SYNTHETIC_TRAIN_SEED_BASE = 1_000_000;

/**
 * n procedural fields of size x size pixels at `mpp` µm/px, with their mitoses as labels. Field i
 * has generator seed seedBase + i and is its own "patient" (so validation splits whole fields).
 */
export function syntheticImages(n: number, size: number, mpp: number, seedBase = SYNTHETIC_TRAIN_SEED_BASE, onField?: (done: number, total: number) => void): TrainingImage[] {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`synthetic: the number of fields must be a positive integer, got ${n}`);
  if (!Number.isInteger(size) || size < 16) throw new RangeError(`synthetic: the field size must be an integer >= 16, got ${size}`);
  const out: TrainingImage[] = [];
  for (let i = 0; i < n; i++) {
    const f = generateField({ width: size, height: size, seed: seedBase + i, mpp });
    out.push({ id: `synthetic-${seedBase + i}`, patient: `field-${seedBase + i}`, image: f.image, mitoses: f.mitoses.map((m) => ({ x: m.x, y: m.y })) });
    onField?.(i + 1, n);
  }
  return out;
}

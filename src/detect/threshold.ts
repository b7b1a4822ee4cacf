// The one rule for the operating threshold t (detections need Mf > t), shared by the library's
// detectMitoses default, `mitoscan detect`/`eval`/`demo`/`crossval` and the web page. Browser-safe
// (no node: imports). A model file records the threshold that `train` chose on its validation
// images (provenance.threshold); without one, the paper's t0 = 0.35 (chosen on T2).

import type { Model } from '../model/model-file.js';

/** The paper's t0, chosen on T2: the threshold of a model that records none. */
export const DEFAULT_THRESHOLD = 0.35;

/**
 * A usable threshold: a number in [0, 1). Mf is a probability in [0, 1] and detections need
 * Mf > t, so t = 1 keeps nothing and t < 0 keeps every local maximum of noise. `--threshold`
 * accepts the same range.
 */
export function isValidThreshold(t: unknown): t is number {
  return typeof t === 'number' && Number.isFinite(t) && t >= 0 && t < 1;
}

/** The threshold a model records (provenance.threshold), when it is a valid one; else undefined. */
export function recordedThreshold(model: Model): number | undefined {
  const t = model.provenance?.threshold;
  return isValidThreshold(t) ? t : undefined;
}

/** The operating threshold of `model`: the one it records, else DEFAULT_THRESHOLD. */
export function modelThreshold(model: Model): number {
  return recordedThreshold(model) ?? DEFAULT_THRESHOLD;
}

/**
 * Why a model's recorded threshold is unusable, or undefined when it is usable or absent (then
 * DEFAULT_THRESHOLD applies). The CLI refuses such a model; the page reports it.
 */
export function badRecordedThreshold(model: Model): string | undefined {
  const t = model.provenance?.threshold;
  if (t === undefined || isValidThreshold(t)) return undefined;
  let shown: string;
  try {
    shown = typeof t === 'number' ? String(t) : (JSON.stringify(t) ?? String(t));
  } catch {
    shown = String(t);
  }
  shown = shown.replace(/[^\x20-\x7e]/g, '?');
  if (shown.length > 40) shown = `${shown.slice(0, 40)}...`;
  return `the model records the threshold ${shown}, which is not a number in [0, 1)`;
}

// The library's front door: the detector's arguments checked before any work, so that a wrong
// call fails at once with a message naming the argument (models[1], image.data, opts.threshold)
// instead of a NaN map, an empty result or an error from deep inside WebGPU. Hand-built and
// edited Model objects get the checks a model file gets on loading (checkModel).
import { checkModel, stainError, type Model } from '../model/model-file.js';
import type { RgbaImage } from '../model/dense.js';
import { describeValue } from '../printable.js';
import { badRecordedThreshold, isValidThreshold } from './threshold.js';

/** The models of a call: a non-empty array of complete models of one resolution. */
export function checkModels(models: unknown, fn: string, opts: { threshold?: number } = {}): readonly Model[] {
  if (!Array.isArray(models)) throw new TypeError(`${fn}: models must be an array of models, got ${describeValue(models)} (one model: [model])`);
  if (!models.length) throw new Error(`${fn}: no model given`);
  models.forEach((m: Model, i) => {
    const name = `${fn}: models[${i}]`;
    if (!m || typeof m !== 'object' || !m.spec || !Array.isArray(m.params)) throw new TypeError(`${name} is not a model (got ${describeValue(m)}; load one with loadModel or decodeModel)`);
    m.params.forEach((p, j) => {
      if (!(p?.weight instanceof Float32Array) || !(p?.bias instanceof Float32Array)) throw new TypeError(`${name}: params[${j}] needs Float32Array weight and bias`);
    });
    checkModel(m, name);
    const stain = stainError(m.stain);
    if (stain) throw new Error(`${name}: ${stain}`);
    // the CLI refuses such a file; the library too, unless the call names its own threshold
    const bad = opts.threshold === undefined ? badRecordedThreshold(m) : undefined;
    if (bad && i === 0) throw new Error(`${name}: ${bad}; pass opts.threshold or fix the model`);
  });
  const mpp = models[0].umPerPixel;
  models.forEach((m: Model, i) => {
    if (Math.abs(m.umPerPixel - mpp) > 1e-9) throw new Error(`${fn}: the nets of an ensemble must share one resolution (models[0] ${mpp} vs models[${i}] ${m.umPerPixel} µm/px)`);
  });
  return models;
}

/** An RGBA image: positive integer size, bytes (Uint8Array or Uint8ClampedArray) of width * height * 4. */
export function checkImage(image: unknown, name: string): asserts image is RgbaImage {
  const im = image as RgbaImage;
  if (!im || typeof im !== 'object') throw new TypeError(`${name} must be an image {width, height, data}, got ${describeValue(image)}`);
  const { width: w, height: h } = im;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) {
    throw new RangeError(`${name}: width and height must be positive integers, got ${JSON.stringify(w)} x ${JSON.stringify(h)}`);
  }
  if (!(im.data instanceof Uint8Array || im.data instanceof Uint8ClampedArray)) {
    throw new TypeError(`${name}.data must be RGBA bytes (Uint8ClampedArray or Uint8Array, 0-255), got ${describeValue(im.data)}`);
  }
  if (im.data.length !== w * h * 4) throw new RangeError(`${name}.data holds ${im.data.length} bytes; a ${w}x${h} RGBA image needs ${w * h * 4}`);
}

/** The engine argument: what createNodeEngine / createBrowserEngine return. */
export function checkEngine(e: unknown, fn: string): void {
  const x = e as { run?: unknown; tensor?: unknown };
  if (!x || typeof x !== 'object' || typeof x.run !== 'function' || typeof x.tensor !== 'function') {
    throw new TypeError(`${fn}: the first argument must be an engine (from createNodeEngine or createBrowserEngine), got ${describeValue(e)}`);
  }
}

/** The options every detector call shares: present ones of the right type and range. */
export function checkDetectOptions(o: Record<string, unknown>, fn: string, presets?: Readonly<Record<string, unknown>>): void {
  if (!o || typeof o !== 'object') throw new TypeError(`${fn}: opts must be an object, got ${describeValue(o)}`);
  const num = (k: string, ok: (v: number) => boolean, says: string) => {
    const v = o[k];
    if (v !== undefined && !(typeof v === 'number' && ok(v))) throw new RangeError(`${fn}: opts.${k} must be ${says}, got ${describeValue(v)}`);
  };
  if (o.threshold !== undefined && !isValidThreshold(o.threshold)) throw new RangeError(`${fn}: opts.threshold must be a number >= 0 and < 1, got ${describeValue(o.threshold)}`);
  num('umPerPixel', (v) => v >= 0.01 && v <= 100, 'a number from 0.01 to 100 (µm per pixel; 40x scans are about 0.25)');
  num('mapStride', (v) => v === 1 || v === 2, '1 or 2');
  num('tileSize', () => true, 'a number (pixels)');
  num('maxBytes', () => true, 'a number (bytes)');
  for (const k of ['rescale', 'onProgress']) if (o[k] !== undefined && typeof o[k] !== 'function') throw new TypeError(`${fn}: opts.${k} must be a function, got ${describeValue(o[k])}`);
  if (presets && o.preset !== undefined && !(typeof o.preset === 'string' && Object.hasOwn(presets, o.preset))) {
    throw new RangeError(`${fn}: unknown preset ${describeValue(o.preset)} (use ${Object.keys(presets).join(', ')})`);
  }
}

// A trained net in one self-describing binary file (works in Node and in browsers: no node: imports).
//
// Layout (all integers u32 little-endian):
//   offset 0   8 bytes   magic "MITOSCAN" (ASCII)
//          8   u32       format version (MODEL_FORMAT_VERSION)
//         12   u32       H = byte length of the JSON header (a multiple of 4; padded with spaces)
//         16   H bytes   JSON header, UTF-8: { spec, window, umPerPixel, normalisation, activation,
//                        paramCount, provenance, stain? } (stain only when the model has one)
//     16 + H   u32       P = number of float32 parameters that follow
//     20 + H   4P bytes  float32 little-endian parameters, layer by layer in spec order:
//                        conv: weight [Cout,Cin,K,K] then bias [Cout]; fc: weight [Out,In] then bias [Out]
//  20 + H + 4P u32       CRC-32 (IEEE 802.3, as zlib/PNG) of every byte before it
// Total: 24 + H + 4P bytes.
import type { Normalisation } from '../../engine/ops/patches.js';
import { describeValue } from '../printable.js';
import { mulberry32 } from '../rng.js';
import { cloneSpec, layerShapes, paramCount, paramLayers, type NetSpec } from './spec.js';

export type { Normalisation };

export const MODEL_MAGIC = 'MITOSCAN';
export const MODEL_FORMAT_VERSION = 1;

/** How a model was made (free-form beyond the named fields; kept as JSON). */
export interface Provenance {
  command?: string;
  dataset?: string;
  /** ISO 8601 date of the end of training. */
  date?: string;
  epochs?: number;
  seed?: number;
  /** e.g. { valLoss: 0.12, valF1: 0.71 } */
  metrics?: Record<string, number>;
  [key: string]: unknown;
}

/** The parameters of one conv or FC layer (PyTorch layouts). */
export interface LayerParams {
  /** conv [Cout,Cin,K,K], fc [Out,In], row-major. */
  weight: Float32Array;
  /** [Cout] or [Out]. */
  bias: Float32Array;
}

export interface Model {
  spec: NetSpec;
  /** Micrometres per pixel of the images the net was trained on (apply it at that scale). */
  umPerPixel: number;
  /** Input normalisation: x = (rgb * scale - mean[c]) / std[c], rgb in 0..255. */
  normalisation: Normalisation;
  provenance: Provenance;
  /** Stain normalisation applied to every image before the net sees it (absent: none). */
  stain?: StainNormalisation;
  /** One entry per conv/FC layer, in layer order. */
  params: LayerParams[];
}

interface Header {
  spec: NetSpec;
  window: number;
  umPerPixel: number;
  normalisation: Normalisation;
  activation: string;
  paramCount: number;
  provenance: Provenance;
  stain?: StainNormalisation;
}

/** Reinhard colour transfer to target l-alpha-beta statistics (src/model/stain.ts). */
export interface StainNormalisation {
  method: 'reinhard';
  target: { mean: [number, number, number]; std: [number, number, number] };
}

/** Checks a model's stain field as read from a file (absent is fine); returns an error message or null. */
export function stainError(s: unknown): string | null {
  if (s === undefined) return null;
  const o = s as StainNormalisation;
  const t = o?.target;
  const triple = (v: unknown) => Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!o || typeof o !== 'object' || o.method !== 'reinhard' || !t || !triple(t.mean) || !triple(t.std) || !t.std.every((v) => v > 0)) {
    return `bad stain normalisation ${JSON.stringify(s)} (want {method: 'reinhard', target: {mean[3], std[3]}}, finite numbers, std > 0)`;
  }
  return null;
}

export class ModelFileError extends Error {
  constructor(name: string, msg: string) {
    super(`${name}: ${msg}`);
    this.name = 'ModelFileError';
  }
}

// ---- checksum ----------------------------------------------------------------------------------

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE, reflected polynomial 0xEDB88320), as zlib's crc32(). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// ---- model construction ------------------------------------------------------------------------

export const DEFAULT_NORMALISATION: Normalisation = Object.freeze({
  scale: 1 / 255,
  mean: [0.5, 0.5, 0.5] as const,
  std: [0.5, 0.5, 0.5] as const,
});

/**
 * A freshly initialised model, the same for the same (spec, seed). Weights are uniform in
 * +-sqrt(6 / (fanIn + fanOut)) (Glorot/Xavier, suited to tanh and to the linear output layer) or,
 * for relu nets, +-sqrt(6 / fanIn) (He); fanOut of a conv layer = Cout*K*K. Biases are zero.
 * Default normalisation maps 0..255 to -1..1.
 */
export function initModel(spec: NetSpec, seed: number, meta: Partial<Omit<Model, 'spec' | 'params'>> = {}): Model {
  const shapes = paramLayers(spec);
  const r = mulberry32(seed);
  const params = shapes.map((s, i) => {
    const out = s.weightShape[0];
    const fanOut = s.layer.type === 'conv' ? out * s.layer.k * s.layer.k : out;
    const last = i === shapes.length - 1;
    const a = spec.activation === 'relu' && !last ? Math.sqrt(6 / s.fanIn) : Math.sqrt(6 / (s.fanIn + fanOut));
    const weight = new Float32Array(out * s.fanIn);
    for (let j = 0; j < weight.length; j++) weight[j] = (2 * r() - 1) * a;
    return { weight, bias: new Float32Array(out) };
  });
  return {
    spec: cloneSpec(spec),
    umPerPixel: meta.umPerPixel ?? 0.2456,
    normalisation: meta.normalisation ?? DEFAULT_NORMALISATION,
    provenance: meta.provenance ?? { seed },
    params,
  };
}

/** Checks that a model's parameters have the sizes its spec asks for; throws naming `name`. */
export function checkModel(model: Model, name = 'model'): void {
  let shapes;
  try {
    shapes = paramLayers(model.spec);
  } catch (e) {
    throw new ModelFileError(name, (e as Error).message);
  }
  if (model.params.length !== shapes.length) {
    throw new ModelFileError(name, `has ${model.params.length} parameter layers, the spec has ${shapes.length} conv/FC layers`);
  }
  shapes.forEach((s, i) => {
    const p = model.params[i];
    const nw = s.weightShape.reduce((a, b) => a * b, 1);
    if (p.weight.length !== nw || p.bias.length !== s.weightShape[0]) {
      throw new ModelFileError(
        name,
        `layer ${s.index} (${s.layer.type}) has ${p.weight.length} weights and ${p.bias.length} biases, ` +
          `the spec needs [${s.weightShape}] = ${nw} and ${s.weightShape[0]}`,
      );
    }
  });
  const n = model.normalisation;
  if (!n || typeof n.scale !== 'number' || n.mean?.length !== 3 || n.std?.length !== 3 || n.std.some((v) => !(v > 0) && !(v < 0))) {
    throw new ModelFileError(name, `bad normalisation ${JSON.stringify(n)} (want {scale, mean[3], std[3]}, std non-zero)`);
  }
  // finite numbers only: a NaN or Inf weight (a diverged training) would make every probability NaN
  const norm = [n.scale, ...n.mean, ...n.std];
  if (!norm.every((v) => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= 1e6) || !(n.scale > 0) || n.std.some((v) => Math.abs(v) < 1e-6)) {
    throw new ModelFileError(name, `bad normalisation ${JSON.stringify(n)} (want finite numbers: scale > 0, |mean|, |std| <= 1e6, |std| >= 1e-6)`);
  }
  shapes.forEach((s, i) => {
    for (const [what, a] of [['weight', model.params[i].weight], ['bias', model.params[i].bias]] as const) {
      for (let j = 0; j < a.length; j++) {
        if (!Number.isFinite(a[j])) throw new ModelFileError(name, `layer ${s.index} ${what} holds ${a[j]} (at index ${j}); the model is corrupt or its training diverged`);
      }
    }
  });
  // 0.01..100 µm/px: beyond any microscope at one end, a 1x thumbnail at the other (a 40x scan is 0.25)
  if (!(typeof model.umPerPixel === 'number' && model.umPerPixel >= 0.01 && model.umPerPixel <= 100)) {
    throw new ModelFileError(name, `bad umPerPixel ${model.umPerPixel} (want 0.01..100 µm per pixel; 40x scans are about 0.25)`);
  }
}

/** All parameters in file order, as one array. */
export function flattenParams(model: Model): Float32Array {
  const total = model.params.reduce((a, p) => a + p.weight.length + p.bias.length, 0);
  const out = new Float32Array(total);
  let o = 0;
  for (const p of model.params) {
    out.set(p.weight, o);
    o += p.weight.length;
    out.set(p.bias, o);
    o += p.bias.length;
  }
  return out;
}

/** Splits a flat parameter array (file order) into per-layer weight/bias arrays (copies). */
export function unflattenParams(spec: NetSpec, flat: Float32Array): LayerParams[] {
  let o = 0;
  return paramLayers(spec).map((s) => {
    const nw = s.weightShape.reduce((a, b) => a * b, 1);
    const weight = flat.slice(o, o + nw);
    o += nw;
    const bias = flat.slice(o, o + s.weightShape[0]);
    o += s.weightShape[0];
    return { weight, bias };
  });
}

// ---- encode / decode ---------------------------------------------------------------------------

const LE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A JSON header as UTF-8, padded with spaces to a multiple of 4 bytes (so float32 data after it stay aligned). */
export function paddedJson(value: unknown): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(value));
  const padded = new Uint8Array(Math.ceil(json.length / 4) * 4).fill(0x20);
  padded.set(json);
  return padded;
}

/** Serialises a model (see the layout at the top of this file). */
export function encodeModel(model: Model, name = 'model'): Uint8Array {
  checkModel(model, name);
  const badStain = stainError(model.stain);
  if (badStain) throw new ModelFileError(name, badStain);
  const count = paramCount(model.spec);
  const header: Header = {
    spec: model.spec,
    window: model.spec.input.size,
    umPerPixel: model.umPerPixel,
    normalisation: { scale: model.normalisation.scale, mean: [...model.normalisation.mean] as [number, number, number], std: [...model.normalisation.std] as [number, number, number] },
    activation: model.spec.activation,
    paramCount: count,
    provenance: model.provenance ?? {},
    ...(model.stain ? { stain: { method: model.stain.method, target: { mean: [...model.stain.target.mean], std: [...model.stain.target.std] } } } : {}),
  };
  const json = paddedJson(header);
  const H = json.length;
  const total = 24 + H + 4 * count;
  const bytes = new Uint8Array(total);
  const dv = new DataView(bytes.buffer);
  for (let i = 0; i < 8; i++) bytes[i] = MODEL_MAGIC.charCodeAt(i);
  dv.setUint32(8, MODEL_FORMAT_VERSION, true);
  dv.setUint32(12, H, true);
  bytes.set(json, 16);
  dv.setUint32(16 + H, count, true);
  const flat = flattenParams(model);
  if (LE) bytes.set(new Uint8Array(flat.buffer, flat.byteOffset, flat.byteLength), 20 + H);
  else for (let i = 0; i < count; i++) dv.setFloat32(20 + H + 4 * i, flat[i], true);
  dv.setUint32(20 + H + 4 * count, crc32(bytes.subarray(0, 20 + H + 4 * count)), true);
  return bytes;
}

/**
 * Reads a model file. `name` (a path or URL) is used in error messages, which say what is wrong:
 * not a mitoscan model, unsupported version, truncated (expected N bytes, got M), corrupt
 * (checksum mismatch), or parameters that do not match the spec.
 */
export function decodeModel(bytes: Uint8Array | ArrayBuffer, name = 'model'): Model {
  // a string, a DataView or another typed array would be read as zero or garbled bytes
  if (!(bytes instanceof Uint8Array || bytes instanceof ArrayBuffer)) {
    throw new ModelFileError(name, `decodeModel takes the file's bytes (a Uint8Array or ArrayBuffer), got ${describeValue(bytes)}`);
  }
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const fail = (msg: string): never => {
    throw new ModelFileError(name, msg);
  };
  for (let i = 0; i < Math.min(8, b.length); i++) {
    if (b[i] !== MODEL_MAGIC.charCodeAt(i)) fail(`not a mitoscan model (the file does not start with "${MODEL_MAGIC}")`);
  }
  if (b.length < 16) fail(`truncated file: expected at least 16 bytes, got ${b.length}`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== MODEL_FORMAT_VERSION) {
    fail(`unsupported model format version ${version} (this mitoscan reads version ${MODEL_FORMAT_VERSION})`);
  }
  const H = dv.getUint32(12, true);
  if (b.length < 20 + H) fail(`truncated file: expected at least ${20 + H} bytes, got ${b.length}`);
  const count = dv.getUint32(16 + H, true);
  const total = 24 + H + 4 * count;
  if (b.length < total) fail(`truncated file: expected ${total} bytes, got ${b.length}`);
  if (b.length > total) fail(`expected ${total} bytes, got ${b.length} (trailing data: corrupt or not one model)`);
  const stored = dv.getUint32(total - 4, true);
  const actual = crc32(b.subarray(0, total - 4));
  if (stored !== actual) {
    fail(`corrupt: checksum mismatch (stored CRC-32 ${hex(stored)}, computed ${hex(actual)})`);
  }
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(16, 16 + H))) as Header;
  } catch (e) {
    return fail(`corrupt: the header is not valid JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || !header.spec) fail('corrupt: the header has no net spec');
  try {
    layerShapes(header.spec);
  } catch (e) {
    fail(`invalid net spec in header: ${(e as Error).message}`);
  }
  if (header.activation !== undefined && header.activation !== header.spec.activation) {
    fail(`header activation '${header.activation}' differs from the spec's '${header.spec.activation}'`);
  }
  if (header.window !== undefined && header.window !== header.spec.input.size) {
    fail(`header window ${header.window} differs from the spec's input size ${header.spec.input.size}`);
  }
  const want = paramCount(header.spec);
  if (count !== want) fail(`the file holds ${count} parameters, but its spec ${header.spec.name} needs ${want}`);
  if (header.paramCount !== undefined && header.paramCount !== want) {
    fail(`header paramCount ${header.paramCount} does not match the spec (${want})`);
  }
  const badStain = stainError(header.stain);
  if (badStain) fail(badStain);
  const flat = new Float32Array(count);
  if (LE && (b.byteOffset + 20 + H) % 4 === 0) flat.set(new Float32Array(b.buffer, b.byteOffset + 20 + H, count));
  else for (let i = 0; i < count; i++) flat[i] = dv.getFloat32(20 + H + 4 * i, true);
  const model: Model = {
    spec: header.spec,
    umPerPixel: header.umPerPixel,
    normalisation: header.normalisation,
    provenance: header.provenance ?? {},
    ...(header.stain !== undefined ? { stain: header.stain } : {}),
    params: unflattenParams(header.spec, flat),
  };
  checkModel(model, name);
  return model;
}

function hex(v: number): string {
  return '0x' + v.toString(16).padStart(8, '0');
}

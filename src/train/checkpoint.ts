// A training checkpoint: everything needed to continue a run exactly where it stopped, in one
// versioned, checksummed file (works in Node and browsers: no node: imports; the CLI writes it with
// writeFileAtomic after every epoch, so a killed run leaves the previous complete checkpoint).
//
// Layout (integers u32 little-endian), like the model file (src/model/model-file.ts):
//   offset 0   8 bytes   magic "MITOCKPT" (ASCII)
//          8   u32       format version (CHECKPOINT_FORMAT_VERSION)
//         12   u32       H = byte length of the JSON header (a multiple of 4; padded with spaces)
//         16   H bytes   JSON header, UTF-8: { run, model: {spec, umPerPixel, normalisation,
//                        provenance}, options, epoch, badEpochs, finished, stoppedEarly, history,
//                        optimizer: kind | null, best: {valLoss, epoch} | null, blobs: [{name, count}] }
//     16 + H   ...       the blobs in header order, 4 bytes per element, little-endian:
//                          params     float32, the current weights in model-file order
//                          optimizer  float32, SGD velocities or Adagrad sums, same order (if any)
//                          best       float32, the best validation weights (if any)
//                          train      uint32, 4 per sample: image, x, y, label
//                          val        uint32, 4 per sample
//   end - 4    u32       CRC-32 of every byte before it (crc32 of model-file.ts)
// The RNG state is (options.seed, epoch): every epoch's random stream is derived from them.
import { crc32, flattenParams, paddedJson, unflattenParams, type LayerParams, type Model, type Normalisation, type Provenance } from '../model/model-file.js';
import { layerShapes, paramCount, type NetSpec } from '../model/spec.js';
import type { Sample } from './sampling.js';
import { trainOptions, type EpochRecord, type TrainOptions, type TrainState } from './trainer.js';

export const CHECKPOINT_MAGIC = 'MITOCKPT';
export const CHECKPOINT_FORMAT_VERSION = 1;

export interface Checkpoint {
  /** What the run was made from (command settings, dataset fingerprint); compared on resume. */
  run: Record<string, unknown>;
  model: { spec: NetSpec; umPerPixel: number; normalisation: Normalisation; provenance?: Provenance };
  options: TrainOptions;
  state: TrainState;
  train: Sample[];
  val: Sample[];
}

export class CheckpointError extends Error {
  constructor(name: string, msg: string) {
    super(`${name}: ${msg}`);
    this.name = 'CheckpointError';
  }
}

interface Header {
  run: Record<string, unknown>;
  model: Checkpoint['model'];
  options: TrainOptions;
  epoch: number;
  badEpochs: number;
  finished: boolean;
  stoppedEarly: boolean;
  history: EpochRecord[];
  optimizer: 'sgd' | 'adagrad' | null;
  best: { valLoss: number; epoch: number } | null;
  blobs: { name: string; count: number }[];
}

const LE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function flat(spec: NetSpec, params: LayerParams[]): Float32Array {
  return flattenParams({ params } as unknown as Model);
}

function packSamples(s: readonly Sample[]): Uint32Array {
  const out = new Uint32Array(4 * s.length);
  s.forEach((p, i) => out.set([p.image, p.x, p.y, p.label], 4 * i));
  return out;
}

function unpackSamples(u: Uint32Array): Sample[] {
  const out: Sample[] = new Array(u.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = { image: u[4 * i], x: u[4 * i + 1], y: u[4 * i + 2], label: u[4 * i + 3] as 0 | 1 };
  return out;
}

/** Serialises a checkpoint (layout at the top of this file). */
export function encodeCheckpoint(c: Checkpoint): Uint8Array {
  const spec = c.model.spec;
  layerShapes(spec);
  const blobs: { name: string; data: Float32Array | Uint32Array }[] = [{ name: 'params', data: flat(spec, c.state.params) }];
  if (c.state.optimizer) blobs.push({ name: 'optimizer', data: flat(spec, c.state.optimizer.params) });
  if (c.state.best) blobs.push({ name: 'best', data: flat(spec, c.state.best.params) });
  blobs.push({ name: 'train', data: packSamples(c.train) }, { name: 'val', data: packSamples(c.val) });
  const n = paramCount(spec);
  for (const b of blobs.slice(0, blobs.length - 2)) {
    if (b.data.length !== n) throw new Error(`encodeCheckpoint: ${b.name} holds ${b.data.length} values, ${spec.name} has ${n} parameters`);
  }
  const header: Header = {
    run: c.run,
    model: c.model,
    options: c.options,
    epoch: c.state.epoch,
    badEpochs: c.state.badEpochs,
    finished: c.state.finished,
    stoppedEarly: c.state.stoppedEarly,
    history: c.state.history,
    optimizer: c.state.optimizer ? c.state.optimizer.kind : null,
    best: c.state.best ? { valLoss: c.state.best.valLoss, epoch: c.state.best.epoch } : null,
    blobs: blobs.map((b) => ({ name: b.name, count: b.data.length })),
  };
  const json = paddedJson(header);
  const H = json.length;
  const body = blobs.reduce((a, b) => a + 4 * b.data.length, 0);
  const bytes = new Uint8Array(16 + H + body + 4);
  const dv = new DataView(bytes.buffer);
  for (let i = 0; i < 8; i++) bytes[i] = CHECKPOINT_MAGIC.charCodeAt(i);
  dv.setUint32(8, CHECKPOINT_FORMAT_VERSION, true);
  dv.setUint32(12, H, true);
  bytes.set(json, 16);
  let o = 16 + H;
  for (const b of blobs) {
    if (LE) bytes.set(new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength), o);
    else if (b.data instanceof Float32Array) b.data.forEach((v, i) => dv.setFloat32(o + 4 * i, v, true));
    else b.data.forEach((v, i) => dv.setUint32(o + 4 * i, v, true));
    o += 4 * b.data.length;
  }
  dv.setUint32(o, crc32(bytes.subarray(0, o)), true);
  return bytes;
}

/** Reads a checkpoint; errors name `name` and say what is wrong and what to do. */
export function decodeCheckpoint(bytes: Uint8Array | ArrayBuffer, name = 'checkpoint'): Checkpoint {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const fail = (msg: string): never => {
    throw new CheckpointError(name, msg);
  };
  const restart = 'delete it (or run without --resume) to start the training again';
  for (let i = 0; i < Math.min(8, b.length); i++) {
    if (b[i] !== CHECKPOINT_MAGIC.charCodeAt(i)) fail(`not a mitoscan training checkpoint (the file does not start with "${CHECKPOINT_MAGIC}")`);
  }
  if (b.length < 20) fail(`truncated checkpoint (${b.length} bytes); ${restart}`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== CHECKPOINT_FORMAT_VERSION) fail(`unsupported checkpoint format version ${version} (this mitoscan reads version ${CHECKPOINT_FORMAT_VERSION}); ${restart}`);
  const H = dv.getUint32(12, true);
  if (b.length < 20 + H) fail(`truncated checkpoint: expected at least ${20 + H} bytes, got ${b.length}; ${restart}`);
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(16, 16 + H))) as Header;
  } catch (e) {
    return fail(`corrupt: the header is not valid JSON (${(e as Error).message}); ${restart}`);
  }
  if (!header || !Array.isArray(header.blobs) || !header.model?.spec) fail(`corrupt: incomplete header; ${restart}`);
  const total = 16 + H + header.blobs.reduce((a, x) => a + 4 * x.count, 0) + 4;
  if (b.length !== total) fail(`${b.length < total ? 'truncated' : 'trailing data'}: expected ${total} bytes, got ${b.length}; ${restart}`);
  const stored = dv.getUint32(total - 4, true);
  const actual = crc32(b.subarray(0, total - 4));
  if (stored !== actual) fail(`corrupt: checksum mismatch (stored CRC-32 ${stored.toString(16)}, computed ${actual.toString(16)}); ${restart}`);
  const spec = header.model.spec;
  try {
    layerShapes(spec);
  } catch (e) {
    fail(`invalid net spec: ${(e as Error).message}`);
  }
  const data = new Map<string, { f: Float32Array; u: Uint32Array }>();
  let o = 16 + H;
  for (const x of header.blobs) {
    const raw = new Uint8Array(4 * x.count);
    raw.set(b.subarray(o, o + 4 * x.count));
    if (!LE) {
      for (let i = 0; i < raw.length; i += 4) raw.subarray(i, i + 4).reverse();
    }
    data.set(x.name, { f: new Float32Array(raw.buffer), u: new Uint32Array(raw.buffer) });
    o += 4 * x.count;
  }
  const n = paramCount(spec);
  const params = (key: string): LayerParams[] => {
    const d = data.get(key);
    if (!d) return fail(`corrupt: no ${key} data; ${restart}`);
    if (d.f.length !== n) fail(`corrupt: ${key} holds ${d.f.length} values, ${spec.name} has ${n} parameters; ${restart}`);
    return unflattenParams(spec, d.f);
  };
  const samples = (key: string): Sample[] => {
    const d = data.get(key);
    if (!d || d.u.length % 4) return fail(`corrupt: no ${key} samples; ${restart}`);
    return unpackSamples(d.u);
  };
  let options: TrainOptions;
  try {
    options = trainOptions(header.options);
  } catch (e) {
    return fail(`bad training options: ${(e as Error).message}`);
  }
  const state: TrainState = {
    epoch: header.epoch,
    params: params('params'),
    optimizer: header.optimizer ? { kind: header.optimizer, params: params('optimizer') } : null,
    best: header.best ? { params: params('best'), valLoss: header.best.valLoss, epoch: header.best.epoch } : null,
    badEpochs: header.badEpochs,
    history: header.history ?? [],
    finished: !!header.finished,
    stoppedEarly: !!header.stoppedEarly,
  };
  return { run: header.run ?? {}, model: header.model, options, state, train: samples('train'), val: samples('val') };
}

/**
 * Differences between the run settings of a checkpoint and those of the command that wants to
 * resume it (empty when they match): "key: saved vs now" lines.
 */
export function runDifferences(saved: Record<string, unknown>, now: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(saved), ...Object.keys(now)]);
  const out: string[] = [];
  for (const k of [...keys].sort()) {
    const a = JSON.stringify(saved[k]);
    const c = JSON.stringify(now[k]);
    if (a !== c) out.push(`${k}: ${short(a)} (checkpoint) vs ${short(c)} (now)`);
  }
  return out;
}

function short(s: string | undefined): string {
  if (s === undefined) return '(none)';
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}

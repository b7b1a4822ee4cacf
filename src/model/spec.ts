// Layer specifications of the mitosis nets (Ciresan et al. 2013, Table 1) and their shapes.
//
// A net is: an input window (channels x size x size), a list of layers, each a convolution
// (`maps` output maps, k x k filters, valid, stride 1), a max-pooling (k x k, non-overlapping,
// stride k) or a fully connected layer (`units` outputs), then a 2-way softmax. The last layer
// must be the FC layer with 2 units that feeds the softmax. Every convolution and every FC layer
// but the last is followed by the net's activation (a model setting: tanh by default); max-pooling
// has none (tanh and relu are monotonic, so pooling before or after them gives the same maps).
//
// Layer numbers in messages and in `layerShapes` follow Table 1: the input is layer 0, the first
// entry of `layers` is layer 1.
import type { Activation } from '../../engine/activation.js';

export type { Activation };

export type LayerSpec =
  | { type: 'conv'; maps: number; k: number }
  | { type: 'maxpool'; k: number }
  | { type: 'fc'; units: number };

export interface NetSpec {
  /** A short name (e.g. 'DNN1'), kept in model files. */
  name: string;
  input: { channels: number; size: number };
  layers: LayerSpec[];
  /** Activation after every conv and hidden FC layer (default 'tanh'). */
  activation: Activation;
}

/** Output shape and parameters of one layer. */
export interface LayerShape {
  /** Layer number as in Table 1 (input = 0, first layer = 1). */
  index: number;
  layer: LayerSpec;
  /** Shape of the layer's input: maps x size x size (size 1 for the output of an FC layer). */
  inMaps: number;
  inSize: number;
  /** Output maps (units for FC) and map size (1 for FC). */
  maps: number;
  size: number;
  /** Weight tensor shape: conv [Cout,Cin,K,K], fc [Out,In]; [] for max-pooling. */
  weightShape: number[];
  /** Number of parameters (weights + biases): 0 for max-pooling. */
  weights: number;
  /** Inputs feeding one output unit (for initialisation); 0 for max-pooling. */
  fanIn: number;
}

export class SpecError extends Error {
  constructor(spec: { name?: unknown }, msg: string) {
    super(`net spec${typeof spec?.name === 'string' && spec.name ? ` '${spec.name}'` : ''}: ${msg}`);
    this.name = 'SpecError';
  }
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

const conv = (maps: number, k: number): LayerSpec => ({ type: 'conv', maps, k });
const mp = (k = 2): LayerSpec => ({ type: 'maxpool', k });
const fc = (units: number): LayerSpec => ({ type: 'fc', units });

/** DNN1 of Table 1: 13 layers (with the input), 101x101 window, 2x2 max-pooling five times. */
export const DNN1: NetSpec = deepFreeze({
  name: 'DNN1',
  input: { channels: 3, size: 101 },
  layers: [conv(16, 2), mp(), conv(16, 3), mp(), conv(16, 3), mp(), conv(16, 2), mp(), conv(16, 2), mp(), fc(100), fc(2)],
  activation: 'tanh',
});

/** DNN2 of Table 1: 11 layers (with the input), 101x101 window, 4x4 and 3x3 filters. */
export const DNN2: NetSpec = deepFreeze({
  name: 'DNN2',
  input: { channels: 3, size: 101 },
  layers: [conv(16, 4), mp(), conv(16, 4), mp(), conv(16, 4), mp(), conv(16, 3), mp(), fc(100), fc(2)],
  activation: 'tanh',
});

/**
 * A small net in the style of the tutorial's (Janowczyk & Madabhushi, use case 5) for patches at
 * 20x apparent magnification: a 31x31 window (odd, so that every window has a centre pixel and the
 * 8 dihedral variants map windows onto windows), 31 -C4-> 28 -MP-> 14 -C3-> 12 -MP-> 6 -C3-> 4
 * -MP-> 2 -> FC 64 -> FC 2. About 23,000 parameters.
 */
export const compact20x: NetSpec = deepFreeze({
  name: 'compact20x',
  input: { channels: 3, size: 31 },
  layers: [conv(16, 4), mp(), conv(32, 3), mp(), conv(32, 3), mp(), fc(64), fc(2)],
  activation: 'tanh',
});

/**
 * compact20x with twice the maps and a larger FC layer: the same 31x31 window and resolution, about
 * 2.4x the parameters (54,946) and 3x the work per window. C32k4 MP2 C48k3 MP2 C48k3 MP2 FC96 FC2.
 */
export const wide20x: NetSpec = deepFreeze({
  name: 'wide20x',
  input: { channels: 3, size: 31 },
  layers: [conv(32, 4), mp(), conv(48, 3), mp(), conv(48, 3), mp(), fc(96), fc(2)],
  activation: 'tanh',
});

export const NAMED_SPECS: Readonly<Record<string, NetSpec>> = Object.freeze({ DNN1, DNN2, compact20x, wide20x });

const ACTIVATIONS: readonly string[] = ['tanh', 'relu', 'none'];

function posInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

function describe(l: LayerSpec): string {
  if (l.type === 'conv') return `conv ${l.k}x${l.k}, ${l.maps} maps`;
  if (l.type === 'maxpool') return `max-pool ${l.k}x${l.k}`;
  return `FC ${l.units}`;
}

/** Bounds a spec must keep (a typo's 4000 maps or 20001 px window fails here, not in an allocation). */
export const MAX_WINDOW = 1024;
export const MAX_CHANNELS = 16;
export const MAX_PARAMS = 2 ** 26;

/**
 * Checks a spec and returns the shape of every layer (Table 1's "maps x size" and "weights").
 * Throws a SpecError naming the layer and the problem.
 */
export function layerShapes(spec: NetSpec): LayerShape[] {
  if (!spec || typeof spec !== 'object') throw new SpecError({}, 'not an object');
  const input = spec.input;
  if (!input || !posInt(input.channels) || !posInt(input.size)) {
    throw new SpecError(spec, `input must be {channels, size} with positive integers, got ${JSON.stringify(input)}`);
  }
  if (input.size > MAX_WINDOW || input.channels > MAX_CHANNELS) {
    throw new SpecError(spec, `input ${input.channels} x ${input.size}x${input.size} is beyond what mitoscan trains (at most ${MAX_CHANNELS} channels and a ${MAX_WINDOW}x${MAX_WINDOW} window; the paper's DNN1 has 3 x 101x101)`);
  }
  if (!ACTIVATIONS.includes(spec.activation)) {
    throw new SpecError(spec, `activation '${String(spec.activation)}' is not one of tanh, relu, none`);
  }
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) throw new SpecError(spec, 'no layers');
  const out: LayerShape[] = [];
  let maps = input.channels;
  let size = input.size;
  let flat = false; // after an FC layer the data are a vector
  spec.layers.forEach((l, i) => {
    const index = i + 1;
    const where = `layer ${index}`;
    if (!l || typeof l !== 'object') throw new SpecError(spec, `${where} is not an object`);
    if (l.type === 'conv') {
      if (!posInt(l.maps) || !posInt(l.k)) throw new SpecError(spec, `${where} (conv) needs positive integer maps and k, got ${JSON.stringify(l)}`);
      if (flat) throw new SpecError(spec, `${where} (${describe(l)}) follows an FC layer: convolutions and max-pooling must come before the FC layers`);
      if (l.k > size) {
        throw new SpecError(spec, `${where} (${describe(l)}) gets a ${size}x${size} map, smaller than its filter: the window is too small for this net`);
      }
      const fanIn = maps * l.k * l.k;
      out.push({ index, layer: l, inMaps: maps, inSize: size, maps: l.maps, size: size - l.k + 1, weightShape: [l.maps, maps, l.k, l.k], weights: l.maps * fanIn + l.maps, fanIn });
      maps = l.maps;
      size = size - l.k + 1;
    } else if (l.type === 'maxpool') {
      if (!posInt(l.k) || l.k < 2) throw new SpecError(spec, `${where} (max-pool) needs an integer k >= 2, got ${JSON.stringify(l)}`);
      if (flat) throw new SpecError(spec, `${where} (${describe(l)}) follows an FC layer: convolutions and max-pooling must come before the FC layers`);
      if (l.k > size) {
        throw new SpecError(spec, `${where} (${describe(l)}) gets a ${size}x${size} map, smaller than its window: the window is too small for this net`);
      }
      if (size % l.k !== 0) {
        throw new SpecError(
          spec,
          `${where} (${describe(l)}) gets a ${size}x${size} map: every MP halves an even-sized map ` +
            `(the map size must be a multiple of ${l.k}, so that no row or column is dropped)`,
        );
      }
      out.push({ index, layer: l, inMaps: maps, inSize: size, maps, size: size / l.k, weightShape: [], weights: 0, fanIn: 0 });
      size = size / l.k;
    } else if (l.type === 'fc') {
      if (!posInt(l.units)) throw new SpecError(spec, `${where} (FC) needs a positive integer number of units, got ${JSON.stringify(l)}`);
      const fanIn = maps * size * size;
      out.push({ index, layer: l, inMaps: maps, inSize: size, maps: l.units, size: 1, weightShape: [l.units, fanIn], weights: l.units * fanIn + l.units, fanIn });
      maps = l.units;
      size = 1;
      flat = true;
    } else {
      throw new SpecError(spec, `${where} has unknown type '${String((l as { type?: unknown }).type)}' (use conv, maxpool or fc)`);
    }
  });
  const total = out.reduce((a, l) => a + l.weights, 0);
  if (total > MAX_PARAMS) {
    throw new SpecError(spec, `${total.toLocaleString('en-US')} parameters, more than the ${MAX_PARAMS.toLocaleString('en-US')} mitoscan holds (DNN1 has 13,630)`);
  }
  const last = spec.layers[spec.layers.length - 1];
  if (last.type !== 'fc' || last.units !== 2) {
    throw new SpecError(spec, `the last layer must be FC with 2 units (it feeds the 2-way softmax), got ${describe(last)}`);
  }
  return out;
}

/** Throws a SpecError when the spec is not valid (see layerShapes). */
export function validateSpec(spec: NetSpec): void {
  layerShapes(spec);
}

/** Total number of parameters (weights and biases of every conv and FC layer). */
export function paramCount(spec: NetSpec): number {
  return layerShapes(spec).reduce((a, s) => a + s.weights, 0);
}

/** The layers that hold parameters (conv and FC), in layer order. */
export function paramLayers(spec: NetSpec): LayerShape[] {
  return layerShapes(spec).filter((s) => s.weights > 0);
}

/** Side of the square input window. */
export function windowSize(spec: NetSpec): number {
  return spec.input.size;
}

/**
 * Where the window of a pixel starts: the window of pixel (x, y) covers columns
 * x - windowRadius .. x - windowRadius + size - 1 (rows likewise), with windowRadius = floor(size / 2).
 * For odd sizes (101, 31) the pixel is the exact centre; for even sizes it is the lower-right one of
 * the four middle pixels. Same convention as engine/ops/patches.ts (gatherPatches).
 */
export function windowRadius(spec: NetSpec): number {
  return Math.floor(spec.input.size / 2);
}

/** A deep copy (specs are plain JSON). */
export function cloneSpec(spec: NetSpec): NetSpec {
  return JSON.parse(JSON.stringify(spec)) as NetSpec;
}

/** A one-line description, e.g. "DNN1: 3x101x101 C16k2 MP2 ... FC2 (tanh, 13,630 params)". */
export function describeSpec(spec: NetSpec): string {
  const parts = spec.layers.map((l) => (l.type === 'conv' ? `C${l.maps}k${l.k}` : l.type === 'maxpool' ? `MP${l.k}` : `FC${l.units}`));
  return `${spec.name}: ${spec.input.channels}x${spec.input.size}x${spec.input.size} ${parts.join(' ')} (${spec.activation}, ${paramCount(spec).toLocaleString('en-US')} params)`;
}

// Exact dense evaluation of a net over a whole image, without recomputing overlapping windows
// (Giusti et al. 2013, the "a trous" form; method.md section 3).
//
// The window of pixel (x, y) covers columns x - R .. x - R + S - 1 and rows y - R .. y - R + S - 1,
// R = floor(S / 2) (S = window size; the same convention as gatherPatches: for odd S the pixel is
// the centre, for even S the lower-right of the four middle pixels). Pixels outside the image are
// mirrored without repeating the edge (-1 -> 1). So:
//   1. normalise the image as in the model file, x[c, y, x] = (rgb * scale - mean[c]) / std[c];
//   2. pad it by mirroring: R rows/columns before, S - 1 - R after;
//   3. run every layer on the whole padded map with stride 1, keeping the spacing of the patch
//      net in a dilation d (d = 1 at the input, multiplied by k after each k x k max-pooling):
//        conv k       -> conv k, dilation d
//        maxpool k    -> max-pool k x k, stride 1, dilation d; then d *= k
//        first FC     -> conv with kernel s (the last map size of the patch net), dilation d,
//                        weights [Out, C*s*s] viewed as [Out, C, s, s] (NCHW flatten order)
//        later FCs    -> 1 x 1 convs
//      Each layer shrinks the map by d (k - 1); in total by S - 1, so the output is H x W and its
//      pixel (x, y) holds exactly the logits of the patch net on the window of (x, y);
//   4. 2-way softmax per pixel: p = 1 / (1 + exp(z0 - z1)), the mitosis probability (channel 1).
// The FC head (the first FC layer as a conv and the 1 x 1 convs after it: DNN1's 100 units per
// pixel, six times the 16 maps of the conv layers) runs over row strips of its input map, each
// small enough for the buffer budget, so that its wide output never bounds the tile size: tiles are
// as large as the conv layers' maps allow (4 tiles for a 2084 x 2084 field on a 128 MiB binding
// instead of 25, so the windows' overlap is recomputed far less). Strips change no value either.
// Images of any size (that fit in host memory) are cut into tiles of one shape (the last ones
// shifted back to end at the border, overlapping their neighbours) whose padded inputs overlap by
// at least S - 1, so that no tensor exceeds the adapter's buffer limits; tiles change no value. Each tile's
// padded, normalised input is built on the CPU (steps 1-2 by index arithmetic: the value at a
// padded position is the normalised image pixel that mirroring, then the variant, puts there) and
// only that tile is uploaded: no tensor ever holds the whole image.
// Map stride s = 2 (an option, for speed): the first k x k max-pooling (k = 2) is taken at its own
// stride k, as in the patch net, instead of stride 1, and every later layer keeps the grid's
// spacing (its dilation divided by k). The output is then the exact logits of the windows centred
// on every second pixel of every second row of the tile (tile offsets 0, 2, 4, ...: a
// ceil(h / 2) x ceil(w / 2) grid) for about a quarter of the work after the first pooling; the
// probability map is filled in between grid pixels bilinearly. Each tile is computed one pixel
// longer each way (s - 1 in general), so that its last pixel always has a grid pixel on either side
// (past the image's edge that is the window there, mirrored as above): a tile's values then equal
// the whole image's, and a slide's those of the flat image. Detection runs on that map as on the
// exact one: an approximation, whose cost in figures found is measured in docs/RESULTS.md.
// Variants 0..7 (rotations by k*90 degrees, with and without mirroring; engine/ops/image.ts
// dihedral) are applied to the image before and inverted on the probability map after, both as
// index maps on the CPU (exact permutations, as the GPU dihedral/dihedralInverse kernels).
import type { Engine, Tensor } from '../../engine/engine.js';
import { conv2dForward } from '../../engine/ops/conv2d.js';
import { maxPool } from '../../engine/ops/pool.js';
import type { Model, Normalisation } from './model-file.js';
import { Network } from './network.js';
import { layerShapes, windowRadius, type NetSpec } from './spec.js';

export interface RgbaImage {
  width: number;
  height: number;
  /** RGBA, 4 bytes per pixel, row-major. */
  data: Uint8ClampedArray | Uint8Array;
}

export interface ProbabilityMap {
  width: number;
  height: number;
  /** Mitosis probability per pixel, row-major [height, width]. */
  data: Float32Array;
}

export interface DenseOptions {
  /** Dihedral variant 0..7 (engine/ops/image.ts); default 0 (the image as it is). */
  variant?: number;
  /** Output tile side in pixels (default: the largest that fits the adapter's buffer limits). */
  tileSize?: number;
  /** Called after each tile with (tiles done, tiles in all). */
  onProgress?: (done: number, total: number) => void;
  /** Reuse a network already on the GPU (must hold `model`'s spec); default: upload model.params. */
  net?: Network;
  /** 1 (default): the net at every pixel, exact. 2: at every second pixel of every second row, the
   * map filled in bilinearly (see the top of this file); needs a first max-pooling of k = 2. */
  stride?: number;
  /** The largest tensor (bytes) to allocate; default and upper bound maxTensorBytes(e). Tests set
   * a small one to exercise the tiled paths on small images. */
  maxBytes?: number;
}

/** x = (rgb * scale - mean[c]) / std[c] in float32 arithmetic (as gatherPatches does), planar [3, H, W]. */
export function normaliseImage(image: RgbaImage, norm: Normalisation): Float32Array {
  const { width: W, height: H, data } = image;
  if (data.length !== W * H * 4) throw new Error(`normaliseImage: ${data.length} bytes for a ${W}x${H} RGBA image (needs ${W * H * 4})`);
  const f = Math.fround;
  const scale = f(norm.scale);
  const mean = norm.mean.map(f);
  const std = norm.std.map(f);
  const out = new Float32Array(3 * W * H);
  for (let c = 0; c < 3; c++) {
    const o = c * W * H;
    for (let i = 0; i < W * H; i++) out[o + i] = f(f(data[4 * i + c] * scale) - mean[c]) / std[c];
  }
  return out;
}

/** Checks a map stride for `spec`: 1, or the k of its first max-pooling when no later layer needs
 * more (every layer before that pooling is a conv). */
export function checkMapStride(spec: NetSpec, stride: number): void {
  if (stride === 1) return;
  const first = spec.layers.findIndex((l) => l.type !== 'conv');
  const pool = spec.layers[first];
  if (!(Number.isInteger(stride) && pool?.type === 'maxpool' && pool.k === stride && stride > 1)) {
    const ks = pool?.type === 'maxpool' ? ` or ${pool.k}` : '';
    throw new Error(`map stride ${stride}: ${spec.name} allows 1${ks} (the k of its first max-pooling)`);
  }
}

/**
 * The dense form of the net on x [N, C, h + S - 1, w + S - 1] (an input already padded by the
 * window): logits [N, 2, h, w]; with `stride` 2 (see the top of this file) the logits of every second
 * pixel, [N, 2, ceil(h / 2), ceil(w / 2)]. x is not released. `maxBytes` (default maxTensorBytes(e))
 * bounds the FC head's tensors (it runs in row strips that fit).
 */
export function denseLogits(e: Engine, net: Network, x: Tensor, maxBytes = maxTensorBytes(e), stride = 1): Tensor {
  const spec = net.spec;
  const S = spec.input.size;
  const [N, C, Hp, Wp] = x.shape;
  if (x.shape.length !== 4 || C !== spec.input.channels || Hp < S || Wp < S) {
    throw new Error(`denseLogits: input must be [N, ${spec.input.channels}, >= ${S}, >= ${S}] (padded by the window), got [${x.shape}]`);
  }
  checkMapStride(spec, stride);
  let d = 1;
  let strided = stride > 1;
  let cur = x;
  for (let li = 0; li < spec.layers.length; li++) {
    const l = spec.layers[li];
    let y: Tensor;
    if (l.type === 'conv') {
      const p = net.params[net.paramIndex[li]];
      y = conv2dForward(e, cur, p.weight, p.bias, { dilation: d, activation: net.activationOf(li) });
    } else if (l.type === 'maxpool' && strided) {
      // the first pooling at its own stride: from here on the map is the grid of every k-th
      // window, and the spacing d of the layers above stays in grid units
      y = maxPool(e, cur, { k: l.k, stride: l.k, dilation: 1 });
      strided = false;
    } else if (l.type === 'maxpool') {
      y = maxPool(e, cur, { k: l.k, stride: 1, dilation: d });
      d *= l.k;
    } else {
      y = denseHead(e, net, li, cur, d, maxBytes);
    }
    if (cur !== x) cur.release();
    cur = y;
    if (l.type === 'fc') break; // the head ran every remaining (FC) layer
  }
  const want = [N, 2, Math.ceil((Hp - S + 1) / stride), Math.ceil((Wp - S + 1) / stride)];
  if (cur.shape.join() !== want.join()) throw new Error(`denseLogits: internal error, output [${cur.shape}] instead of [${want}]`);
  return cur;
}

/** The FC layers from `first` on, as convs (the first sees its s x s input maps spaced d apart,
 * later ones one vector per pixel), on one [N, C, Hi, Wi] map. */
function headLayers(e: Engine, net: Network, first: number, x: Tensor, d: number): Tensor {
  let cur = x;
  for (let li = first; li < net.spec.layers.length; li++) {
    const l = net.spec.layers[li];
    if (l.type !== 'fc') throw new Error(`denseLogits: layer ${li} (${l.type}) follows an FC layer`);
    const s = net.shapes[li];
    const p = net.params[net.paramIndex[li]];
    const K = li === first ? s.inSize : 1;
    const w = p.weight.view([l.units, s.inMaps, K, K]);
    const y = conv2dForward(e, cur, w, p.bias, { dilation: li === first ? d : 1, activation: net.activationOf(li) });
    if (cur !== x) cur.release();
    cur = y;
  }
  return cur;
}

/** Floats per output pixel of the widest FC-head tensor: an FC output, or the im2col columns of
 * the first FC layer (C * s * s per pixel) where it runs as a matrix product, which conv2dForward
 * chooses only when those are no more than its units (engine/ops/conv2d.ts useGemm). */
function headWidth(spec: NetSpec): number {
  let most = 0;
  let first = true;
  for (const s of layerShapes(spec)) {
    if (s.layer.type !== 'fc') continue;
    const taps = s.inMaps * s.inSize * s.inSize;
    most = Math.max(most, s.maps, first && taps <= s.maps ? taps : 0);
    first = false;
  }
  return most;
}

/**
 * The FC head of the dense form (layers `first`.. on the map x [N, C, Hi, Wi], the first FC's input
 * spaced d apart): the logits [N, 2, HO, WO], computed in strips of output rows whose tensors fit
 * `maxBytes` (each strip's input rows copied out of x, its logits copied into place). Every output
 * pixel depends only on its own window, so the strips give exactly the values of one pass.
 */
function denseHead(e: Engine, net: Network, first: number, x: Tensor, d: number, maxBytes: number): Tensor {
  const [N, C, Hi, Wi] = x.shape;
  const K = net.shapes[first].inSize;
  const reach = d * (K - 1);
  const HO = Hi - reach, WO = Wi - reach;
  const width = headWidth(net.spec);
  const fit = Math.max(1, Math.floor(maxBytes / (4 * N * width * WO)));
  if (fit >= HO) return headLayers(e, net, first, x, d);
  // strips of a multiple of 8 rows where that fits: then every strip but the last has a multiple of
  // 8 pixels, and the register matmul of a CPU adapter reads them as vec4s
  const rows = fit >= 8 ? fit - (fit % 8) : fit;
  const outC = net.shapes[net.shapes.length - 1].maps;
  const out = e.empty([N, outC, HO, WO]);
  for (let r0 = 0; r0 < HO; r0 += rows) {
    const h = Math.min(rows, HO - r0);
    const strip = e.empty([N, C, h + reach, Wi]);
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++) e.copy(x, strip, ((n * C + c) * Hi + r0) * Wi, (n * C + c) * (h + reach) * Wi, (h + reach) * Wi);
    const z = headLayers(e, net, first, strip, d);
    strip.release();
    for (let n = 0; n < N; n++)
      for (let c = 0; c < outC; c++) e.copy(z, out, (n * outC + c) * h * WO, ((n * outC + c) * HO + r0) * WO, h * WO);
    z.release();
  }
  return out;
}

/** Bytes of the largest tensor the dense form of `spec` makes for an h x w output tile (batch 1):
 * the input and the conv and pool layers' maps, and the FC head's tensors for one output row
 * (the head runs in row strips, see denseHead). */
export function denseTileBytes(spec: NetSpec, h: number, w: number): number {
  const S = spec.input.size;
  let H = h + S - 1;
  let W = w + S - 1;
  let most = spec.input.channels * H * W;
  let d = 1;
  for (const s of layerShapes(spec)) {
    const l = s.layer;
    if (l.type === 'fc') {
      // the head, one output row at a time; every layer from here on is an FC layer
      most = Math.max(most, headWidth(spec) * (W - d * (s.inSize - 1)));
      break;
    }
    H -= d * (l.k - 1);
    W -= d * (l.k - 1);
    most = Math.max(most, s.maps * H * W);
    if (l.type === 'maxpool') d *= l.k;
  }
  return most * 4;
}

/** The largest tensor (bytes) the engine can allocate, with room for its pool's size rounding (+25%). */
export function maxTensorBytes(e: Engine): number {
  return Math.floor(Math.min(e.limits.maxStorageBufferBindingSize, e.limits.maxBufferSize) / 1.25);
}

/** Side of the largest square output tile whose intermediates fit in `maxBytes` (at least 1). */
export function largestTile(spec: NetSpec, maxBytes: number, cap = 4096): number {
  let lo = 1;
  let hi = cap;
  if (denseTileBytes(spec, 1, 1) > maxBytes) {
    throw new Error(`${spec.name}: even a 1x1 dense tile needs ${denseTileBytes(spec, 1, 1)} bytes, over this adapter's ${maxBytes}`);
  }
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (denseTileBytes(spec, mid, mid) <= maxBytes) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Covers [0, n) with k = ceil(n / t) windows of ONE length ceil(n / k) <= t, spread evenly, the
 * last ending at n (neighbours overlap by a pixel or none; overlapped pixels get the same values
 * from either window). One tile shape per image means one set of compiled pipelines. With a map
 * stride a > 1 every window starts at a multiple of a, so that all tiles sample one grid of the
 * image (denseMap computes a - 1 pixels past each window, so that its last pixels interpolate as
 * the whole image's do): the map does not depend on the tiling. Neighbours also overlap by at least
 * a. The length grows by up to 3a - 2 (and denseMap adds a - 1); the count allows for it.
 */
export function windows(n: number, t: number, a = 1): [number, number][] {
  // a > 1: each start rounded down to a multiple of a (a - 1 lost at most) and an overlap of a:
  // the length grows by 2a - 1, then to the parity that makes the last window start at a multiple
  // of a and end at n; with the a - 1 pixels denseMap computes past each window's end, within t.
  // (The overlap predates those extra pixels, which alone make the tiles agree; it costs a few.)
  if (a > 1 && n + a - 1 <= t) return [[0, n]];
  const k = Math.ceil(n / Math.max(1, a > 1 ? t - 3 * a : t));
  let len = Math.ceil(n / k);
  if (k > 1 && a > 1) {
    len = Math.min(n, len + 2 * a - 1);
    len = Math.min(n, len + ((n - len) % a));
  }
  const out: [number, number][] = [];
  for (let i = 0; i < k; i++) {
    const s = k === 1 ? 0 : Math.floor((i * (n - len)) / (k - 1) / a) * a;
    out.push([s, s + len]);
  }
  return out;
}

/**
 * The tiles denseMap cuts an H x W map into: the tile side (`tileSize`, or the largest whose
 * intermediates fit `maxBytes`, with room for the stride's extra pixels) and the row and column
 * windows. Shared with whoever needs the count beforehand (a progress bar).
 */
export function denseTiling(spec: NetSpec, H: number, W: number, maxBytes: number, tileSize?: number, stride = 1): { tile: number; rows: [number, number][]; cols: [number, number][] } {
  const tile = tileSize ?? largestTile(spec, maxBytes, Math.max(H, W) + stride - 1);
  return { tile, rows: windows(H, tile, stride), cols: windows(W, tile, stride) };
}

/** The top-left h x w of a row-major map `cw` wide (the map itself when it is that size). */
function cropRows(m: Float32Array, cw: number, h: number, w: number): Float32Array {
  if (cw === w && m.length === h * w) return m;
  const out = new Float32Array(h * w);
  for (let i = 0; i < h; i++) out.set(m.subarray(i * cw, i * cw + w), i * w);
  return out;
}

/**
 * Mitosis probabilities of a th x tw tile from its logits zz at offset o: [2, gh, gw] for the grid of
 * every s-th pixel (gh = ceil(th / s), gw = ceil(tw / s); s = 1: every pixel). The 2-way softmax per
 * grid pixel (float64, channel 1 = mitosis), then for s > 1 bilinear interpolation between grid
 * pixels (beyond the last grid row or column, its values).
 */
export function tileProbabilities(zz: Float32Array, o: number, th: number, tw: number, s = 1): Float32Array {
  const gh = Math.ceil(th / s), gw = Math.ceil(tw / s), n = gh * gw;
  const g = new Float32Array(n);
  for (let k = 0; k < n; k++) g[k] = 1 / (1 + Math.exp(zz[o + k] - zz[o + n + k]));
  if (s === 1) return g;
  // per output column: the grid columns either side and the weight of the right one
  const c0 = new Int32Array(tw), c1 = new Int32Array(tw), wc = new Float64Array(tw);
  for (let j = 0; j < tw; j++) {
    c0[j] = Math.floor(j / s);
    c1[j] = Math.min(c0[j] + 1, gw - 1);
    wc[j] = c1[j] === c0[j] ? 0 : j / s - c0[j];
  }
  const out = new Float32Array(th * tw);
  for (let i = 0; i < th; i++) {
    const r0 = Math.floor(i / s), r1 = Math.min(r0 + 1, gh - 1);
    const wr = r1 === r0 ? 0 : i / s - r0;
    const a = r0 * gw, b = r1 * gw;
    for (let j = 0; j < tw; j++) {
      const top = g[a + c0[j]] + wc[j] * (g[a + c1[j]] - g[a + c0[j]]);
      const bottom = g[b + c0[j]] + wc[j] * (g[b + c1[j]] - g[b + c0[j]]);
      out[i * tw + j] = top + wr * (bottom - top);
    }
  }
  return out;
}

/** The per-buffer byte budget of an operation: `maxBytes` (when given) capped by maxTensorBytes(e). */
export function tensorBudget(e: Engine, maxBytes?: number): number {
  const hw = maxTensorBytes(e);
  if (maxBytes === undefined) return hw;
  if (!(maxBytes >= 4)) throw new Error(`maxBytes must be a number >= 4, got ${maxBytes}`);
  return Math.min(hw, Math.floor(maxBytes));
}

/**
 * Where dihedral variant k (engine/ops/image.ts dihedral) of an H x W image takes its pixels:
 * variant pixel (i, j) holds original pixel index base + i * di + j * dj (row-major, a * W + b).
 * With q = k mod 4 and c the column before the optional left-right mirror (b = W-1-c for k >= 4):
 *   q = 0: a = i,       c = j        q = 1: a = j,       c = W-1-i
 *   q = 2: a = H-1-i,   c = W-1-j    q = 3: a = H-1-j,   c = i
 * (the inverse of the shader's quarter turns (r, c) -> (w-1-c, r)).
 */
export function variantIndexMap(k: number, H: number, W: number): { base: number; di: number; dj: number; HV: number; WV: number } {
  if (!Number.isInteger(k) || k < 0 || k > 7) throw new Error(`variantIndexMap: variant must be 0..7, got ${k}`);
  // a = a0 + ai i + aj j, c = c0 + ci i + cj j
  const q = k % 4;
  const [a0, ai, aj, c0, ci, cj] =
    q === 0 ? [0, 1, 0, 0, 0, 1] : q === 1 ? [0, 0, 1, W - 1, -1, 0] : q === 2 ? [H - 1, -1, 0, W - 1, 0, -1] : [H - 1, 0, -1, 0, 1, 0];
  // b = c, or W-1-c when mirrored
  const [b0, bi, bj] = k >= 4 ? [W - 1 - c0, -ci, -cj] : [c0, ci, cj];
  const odd = q % 2 === 1;
  return { base: a0 * W + b0, di: ai * W + bi, dj: aj * W + bj, HV: odd ? W : H, WV: odd ? H : W };
}

/** Mirror index without edge repeat (as shaders/pad_mirror.wgsl refl): -1 -> 1, n -> n - 2; n = 1 -> 0. */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let k = i % period;
  if (k < 0) k += period;
  return k >= n ? period - k : k;
}

/** normaliseImage's value of every byte 0..255 per channel (the same float32 arithmetic): [3 * 256]. */
function normalisationTable(norm: Normalisation): Float32Array {
  const f = Math.fround;
  const scale = f(norm.scale);
  const lut = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const mean = f(norm.mean[c]);
    const std = f(norm.std[c]);
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = f(f(v * scale) - mean) / std;
  }
  return lut;
}

/**
 * The padded, normalised input of one output tile of variant k: [3, th + S - 1, tw + S - 1], built
 * on the CPU. Entry (c, r, s) = normalised channel c of the original pixel at variant position
 * (refl(y0 + r - R, HV), refl(x0 + s - R, WV)): exactly what padMirror(dihedral(x, k)) holds at
 * padded row y0 + r, column x0 + s.
 */
function tileInput(
  data: Uint8Array | Uint8ClampedArray, lut: Float32Array, map: ReturnType<typeof variantIndexMap>,
  y0: number, x0: number, ih: number, iw: number, R: number,
): Float32Array {
  const out = new Float32Array(3 * ih * iw);
  const colOff = new Int32Array(iw);
  for (let s = 0; s < iw; s++) colOff[s] = reflectIndex(x0 + s - R, map.WV) * map.dj;
  const plane = ih * iw;
  for (let r = 0; r < ih; r++) {
    const rowBase = map.base + reflectIndex(y0 + r - R, map.HV) * map.di;
    const o = r * iw;
    for (let s = 0; s < iw; s++) {
      const p = 4 * (rowBase + colOff[s]);
      out[o + s] = lut[data[p]];
      out[plane + o + s] = lut[256 + data[p + 1]];
      out[2 * plane + o + s] = lut[512 + data[p + 2]];
    }
  }
  return out;
}

/**
 * Mitosis probability of every pixel of `image`: equal, per pixel, to the net run on the window
 * centred there (mirrored at the borders; see the top of this file), for dihedral variant
 * `opts.variant` (the map is transformed back, so it is always aligned with `image`). Works on any
 * image that fits in host memory: only one tile's input and intermediates live on the GPU at a
 * time, each tensor at most `opts.maxBytes` (default maxTensorBytes(e)).
 */
export async function denseMap(e: Engine, model: Model, image: RgbaImage, opts: DenseOptions = {}): Promise<ProbabilityMap> {
  const spec = model.spec;
  const variant = opts.variant ?? 0;
  if (!Number.isInteger(variant) || variant < 0 || variant > 7) throw new Error(`denseMap: variant must be 0..7, got ${variant}`);
  if (spec.input.channels !== 3) throw new Error(`denseMap: ${spec.name} takes ${spec.input.channels} channels, images have 3`);
  const { width, height, data: rgba } = image;
  if (!(width >= 1 && height >= 1) || rgba.length !== width * height * 4) {
    throw new Error(`denseMap: ${rgba.length} bytes for a ${width}x${height} RGBA image (needs ${width * height * 4})`);
  }
  if (opts.net && JSON.stringify(opts.net.spec) !== JSON.stringify(spec)) throw new Error('denseMap: opts.net does not hold the model\'s spec');
  const maxBytes = tensorBudget(e, opts.maxBytes);
  const stride = opts.stride ?? 1;
  checkMapStride(spec, stride);
  const S = spec.input.size;
  const R = windowRadius(spec);
  const map = variantIndexMap(variant, height, width);
  const H = map.HV;
  const W = map.WV;
  const { tile, rows, cols } = denseTiling(spec, H, W, maxBytes, opts.tileSize, stride);
  if (!Number.isInteger(tile) || tile < 1) throw new Error(`denseMap: tileSize must be a positive integer, got ${tile}`);
  // what each tile computes: its window, and at stride s the s - 1 pixels past it
  const [ch0, cw0] = [rows[0][1] - rows[0][0] + stride - 1, cols[0][1] - cols[0][0] + stride - 1];
  if (denseTileBytes(spec, ch0, cw0) > maxBytes) {
    throw new Error(`denseMap: tiles of ${tile}x${tile} need more than this adapter's ${maxBytes} bytes per buffer; use a smaller tileSize`);
  }
  const net = opts.net ?? Network.fromModel(e, model);
  try {
    const lut = normalisationTable(model.normalisation);
    const total = rows.length * cols.length;
    // the map in the image's orientation: variant pixel (i, j) goes to map.base + i di + j dj
    const prob = new Float32Array(width * height);
    let done = 0;
    for (const [y0, y1] of rows)
      for (const [x0, x1] of cols) {
        const th = y1 - y0;
        const tw = x1 - x0;
        // at stride s the tile is computed s - 1 pixels longer each way (see the top of this file)
        const ch = th + stride - 1, cw = tw + stride - 1;
        // 1-2. the tile's padded input: variant rows y0 - R .. y0 + ch - 1 + S - 1 - R, mirrored
        const ih = ch + S - 1;
        const iw = cw + S - 1;
        const input = e.tensor([1, 3, ih, iw], tileInput(rgba, lut, map, y0, x0, ih, iw, R));
        // 3. the net
        const z = denseLogits(e, net, input, maxBytes, stride);
        input.release();
        const zz = await z.read();
        z.release();
        // 4. per-pixel softmax over the 2 channels (filled in between grid pixels at stride > 1);
        // 5. back to the image's orientation
        const pt = tileProbabilities(zz, 0, ch, cw, stride);
        for (let i = 0; i < th; i++) {
          const rowBase = map.base + (y0 + i) * map.di + x0 * map.dj;
          for (let j = 0; j < tw; j++) prob[rowBase + j * map.dj] = pt[i * cw + j];
        }
        done++;
        opts.onProgress?.(done, total);
      }
    return { width, height, data: prob };
  } finally {
    if (!opts.net) net.destroy();
  }
}

/** Most images per batch in denseMaps: enough to amortise a submission and a readback. */
const MAX_BATCH = 64;

/**
 * denseMap of many images, the same values (variant 0): images of one size that fit in a single
 * tile are stacked into batches [B, 3, h + S - 1, w + S - 1] (as many as `opts.maxBytes` allows, at
 * most 64), so that thousands of small crops cost a few hundred submissions and readbacks instead
 * of thousands; larger images go through denseMap one by one. `onProgress` counts images.
 */
export async function denseMaps(
  e: Engine, model: Model, images: readonly RgbaImage[],
  opts: Pick<DenseOptions, 'net' | 'maxBytes' | 'onProgress' | 'stride'> = {},
): Promise<ProbabilityMap[]> {
  const spec = model.spec;
  if (opts.net && JSON.stringify(opts.net.spec) !== JSON.stringify(spec)) throw new Error('denseMaps: opts.net does not hold the model\'s spec');
  const maxBytes = tensorBudget(e, opts.maxBytes);
  const stride = opts.stride ?? 1;
  checkMapStride(spec, stride);
  const S = spec.input.size;
  const R = windowRadius(spec);
  const out: ProbabilityMap[] = new Array(images.length);
  const net = opts.net ?? Network.fromModel(e, model);
  let done = 0;
  try {
    // same-sized single-tile images, in input order within each size
    const groups = new Map<string, number[]>();
    const single: number[] = [];
    images.forEach((im, i) => {
      const { width: w, height: h } = im;
      if (!(w >= 1 && h >= 1) || im.data.length !== w * h * 4) throw new Error(`denseMaps: image ${i}: ${im.data.length} bytes for a ${w}x${h} RGBA image (needs ${w * h * 4})`);
      if (denseTileBytes(spec, h + stride - 1, w + stride - 1) > maxBytes) return void single.push(i);
      const key = `${w}x${h}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key)!.push(i);
    });
    const lut = normalisationTable(model.normalisation);
    for (const idx of groups.values()) {
      const { width: w, height: h } = images[idx[0]];
      // at stride s each image is computed s - 1 pixels longer each way, as denseMap's tiles
      const ch = h + stride - 1, cw = w + stride - 1;
      const ih = ch + S - 1, iw = cw + S - 1, n = Math.ceil(ch / stride) * Math.ceil(cw / stride);
      const per = denseTileBytes(spec, ch, cw);
      const map = variantIndexMap(0, h, w);
      const B = Math.max(1, Math.min(MAX_BATCH, Math.floor(maxBytes / per)));
      for (let b0 = 0; b0 < idx.length; b0 += B) {
        const batch = idx.slice(b0, b0 + B);
        const data = new Float32Array(batch.length * 3 * ih * iw);
        batch.forEach((i, k) => data.set(tileInput(images[i].data, lut, map, 0, 0, ih, iw, R), k * 3 * ih * iw));
        const input = e.tensor([batch.length, 3, ih, iw], data);
        const z = denseLogits(e, net, input, maxBytes, stride);
        input.release();
        const zz = await z.read();
        z.release();
        // logits [B, 2, gh, gw]: image k's from 2 n k
        batch.forEach((i, k) => (out[i] = { width: w, height: h, data: cropRows(tileProbabilities(zz, 2 * n * k, ch, cw, stride), cw, h, w) }));
        done += batch.length;
        opts.onProgress?.(done, images.length);
      }
    }
    for (const i of single) {
      out[i] = await denseMap(e, model, images[i], { net, maxBytes, stride });
      opts.onProgress?.(++done, images.length);
    }
    return out;
  } finally {
    if (!opts.net) net.destroy();
  }
}

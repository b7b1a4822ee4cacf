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
// Large images are cut into tiles whose padded inputs overlap by S - 1 so that no intermediate
// tensor exceeds the adapter's buffer limits; tiles change no value.
// Variants 0..7 (rotations by k*90 degrees, with and without mirroring; engine/ops/image.ts) are
// applied to the image before and inverted on the probability map after.
import type { Engine, Tensor } from '../../engine/engine.js';
import { conv2dForward } from '../../engine/ops/conv2d.js';
import { dihedral, dihedralInverse, padMirror } from '../../engine/ops/image.js';
import { maxPoolForward } from '../../engine/ops/pool.js';
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

/**
 * The dense form of the net on x [N, C, h + S - 1, w + S - 1] (an input already padded by the
 * window): logits [N, 2, h, w]. x is not released.
 */
export function denseLogits(e: Engine, net: Network, x: Tensor): Tensor {
  const spec = net.spec;
  const S = spec.input.size;
  const [N, C, Hp, Wp] = x.shape;
  if (x.shape.length !== 4 || C !== spec.input.channels || Hp < S || Wp < S) {
    throw new Error(`denseLogits: input must be [N, ${spec.input.channels}, >= ${S}, >= ${S}] (padded by the window), got [${x.shape}]`);
  }
  let d = 1;
  let cur = x;
  let flat = false;
  spec.layers.forEach((l, li) => {
    const s = net.shapes[li];
    let y: Tensor;
    if (l.type === 'conv') {
      const p = net.params[net.paramIndex[li]];
      y = conv2dForward(e, cur, p.weight, p.bias, { dilation: d, activation: net.activationOf(li) });
    } else if (l.type === 'maxpool') {
      const r = maxPoolForward(e, cur, { k: l.k, stride: 1, dilation: d });
      r.argmax.release();
      y = r.y;
      d *= l.k;
    } else {
      const p = net.params[net.paramIndex[li]];
      // the first FC sees s x s maps spaced d apart; later FCs see one vector per pixel
      const K = flat ? 1 : s.inSize;
      const w = p.weight.view([l.units, s.inMaps, K, K]);
      y = conv2dForward(e, cur, w, p.bias, { dilation: flat ? 1 : d, activation: net.activationOf(li) });
      flat = true;
    }
    if (cur !== x) cur.release();
    cur = y;
  });
  const want = [N, 2, Hp - S + 1, Wp - S + 1];
  if (cur.shape.join() !== want.join()) throw new Error(`denseLogits: internal error, output [${cur.shape}] instead of [${want}]`);
  return cur;
}

/** Bytes of the largest tensor the dense form of `spec` makes for an h x w output tile (batch 1). */
export function denseTileBytes(spec: NetSpec, h: number, w: number): number {
  const S = spec.input.size;
  let H = h + S - 1;
  let W = w + S - 1;
  let most = spec.input.channels * H * W;
  let d = 1;
  let flat = false;
  for (const s of layerShapes(spec)) {
    const l = s.layer;
    const K = l.type === 'fc' ? (flat ? 1 : s.inSize) : l.k;
    const dil = l.type === 'fc' && flat ? 1 : d;
    H -= dil * (K - 1);
    W -= dil * (K - 1);
    most = Math.max(most, s.maps * H * W);
    if (l.type === 'maxpool') d *= l.k;
    if (l.type === 'fc') flat = true;
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

/** Splits [0, n) into ceil(n / t) nearly equal parts. */
function splits(n: number, t: number): [number, number][] {
  const k = Math.ceil(n / t);
  const out: [number, number][] = [];
  for (let i = 0; i < k; i++) out.push([Math.floor((i * n) / k), Math.floor(((i + 1) * n) / k)]);
  return out;
}

/**
 * Mitosis probability of every pixel of `image`: equal, per pixel, to the net run on the window
 * centred there (mirrored at the borders; see the top of this file), for dihedral variant
 * `opts.variant` (the map is transformed back, so it is always aligned with `image`).
 */
export async function denseMap(e: Engine, model: Model, image: RgbaImage, opts: DenseOptions = {}): Promise<ProbabilityMap> {
  const spec = model.spec;
  const variant = opts.variant ?? 0;
  if (!Number.isInteger(variant) || variant < 0 || variant > 7) throw new Error(`denseMap: variant must be 0..7, got ${variant}`);
  if (spec.input.channels !== 3) throw new Error(`denseMap: ${spec.name} takes ${spec.input.channels} channels, images have 3`);
  const net = opts.net ?? Network.fromModel(e, model);
  if (opts.net && JSON.stringify(opts.net.spec) !== JSON.stringify(spec)) throw new Error('denseMap: opts.net does not hold the model\'s spec');
  const S = spec.input.size;
  const R = windowRadius(spec);
  const { width, height } = image;
  try {
    const maxBytes = maxTensorBytes(e);
    // 1. normalise (CPU), upload, transform
    const x0 = e.tensor([1, 3, height, width], normaliseImage(image, model.normalisation));
    const xv = variant === 0 ? x0 : dihedral(e, x0, variant);
    if (xv !== x0) x0.release();
    const [, , H, W] = xv.shape;
    // 2. mirror padding
    const padBytes = 3 * (H + S - 1) * (W + S - 1) * 4;
    if (padBytes > maxBytes) {
      xv.release();
      throw new Error(`denseMap: the padded ${width}x${height} image needs ${(padBytes / 2 ** 20).toFixed(0)} MiB, over this adapter's ${(maxBytes / 2 ** 20).toFixed(0)} MiB per buffer; cut the image into parts first`);
    }
    const padded = padMirror(e, xv, { top: R, left: R, bottom: S - 1 - R, right: S - 1 - R });
    xv.release();
    const Hp = H + S - 1;
    const Wp = W + S - 1;
    // 3. tiles
    const tile = opts.tileSize ?? largestTile(spec, maxBytes, Math.max(H, W));
    if (!Number.isInteger(tile) || tile < 1) throw new Error(`denseMap: tileSize must be a positive integer, got ${tile}`);
    if (denseTileBytes(spec, Math.min(tile, H), Math.min(tile, W)) > maxBytes) {
      padded.release();
      throw new Error(`denseMap: tiles of ${tile}x${tile} need more than this adapter's ${maxBytes} bytes per buffer; use a smaller tileSize`);
    }
    const rows = splits(H, tile);
    const cols = splits(W, tile);
    const total = rows.length * cols.length;
    const prob = new Float32Array(H * W);
    let done = 0;
    for (const [y0, y1] of rows)
      for (const [x0c, x1] of cols) {
        const th = y1 - y0;
        const tw = x1 - x0c;
        let input = padded;
        if (total > 1) {
          // crop the padded input of this tile: rows y0 .. y1 + S - 2, columns x0 .. x1 + S - 2
          const ih = th + S - 1;
          const iw = tw + S - 1;
          input = e.empty([1, 3, ih, iw]);
          for (let c = 0; c < 3; c++)
            for (let r = 0; r < ih; r++) e.copy(padded, input, (c * Hp + y0 + r) * Wp + x0c, (c * ih + r) * iw, iw);
        }
        const z = denseLogits(e, net, input);
        if (input !== padded) input.release();
        const zz = await z.read();
        z.release();
        // 4. per-pixel softmax over the 2 channels (float64), channel 1 = mitosis
        const n = th * tw;
        for (let i = 0; i < th; i++)
          for (let j = 0; j < tw; j++) {
            const k = i * tw + j;
            prob[(y0 + i) * W + x0c + j] = 1 / (1 + Math.exp(zz[k] - zz[n + k]));
          }
        done++;
        opts.onProgress?.(done, total);
      }
    padded.release();
    if (variant === 0) return { width, height, data: prob };
    // 5. back to the image's orientation
    const pt = e.tensor([1, 1, H, W], prob);
    const back = dihedralInverse(e, pt, variant);
    pt.release();
    const data = await back.read();
    back.release();
    if (back.shape[2] !== height || back.shape[3] !== width) throw new Error(`denseMap: internal error, inverse variant gave [${back.shape}]`);
    return { width, height, data };
  } finally {
    if (!opts.net) net.destroy();
  }
}

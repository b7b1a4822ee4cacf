import source from '../../shaders/gather_patches.wgsl';
import { grid1d } from '../dispatch.js';
import type { Engine, Tensor } from '../engine.js';

/** Where one training window comes from: an image in a packed-RGBA tensor, a centre, a turn and a flip. */
export interface PatchRequest {
  /** Offset of the image's first pixel in the packed tensor (in pixels). */
  offset: number;
  width: number;
  height: number;
  cx: number;
  cy: number;
  /** Rotation about the centre, radians (0: the exact window, no interpolation). */
  angle: number;
  mirror: boolean;
  /** Scale of the sampling grid about the centre (default 1; > 1 samples a larger area, zooming out). */
  scale?: number;
}

export interface Normalisation {
  /** Multiplies the 0..255 pixel values first (e.g. 1/255). */
  scale: number;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** Packs RGBA8 pixels into one u32 per pixel (R in the low byte), the layout gatherPatches reads. */
export function packRgba(data: Uint8Array | Uint8ClampedArray): Uint32Array {
  if (data.length % 4) throw new Error(`packRgba: ${data.length} bytes is not a whole number of RGBA pixels`);
  const copy = new Uint8Array(data.length);
  copy.set(data);
  return new Uint32Array(copy.buffer);
}

/** Cuts N windows of S x S (mirrored at borders, rotated, scaled, flipped, normalised) into a [N,3,S,S] tensor. */
export function gatherPatches(e: Engine, images: Tensor, requests: readonly PatchRequest[], S: number, norm: Normalisation): Tensor {
  const N = requests.length;
  const req = new Uint32Array(N * 8);
  const f = new Float32Array(2);
  const fu = new Uint32Array(f.buffer);
  requests.forEach((r, n) => {
    if (r.offset + r.width * r.height > images.size) throw new Error(`gatherPatches: request ${n} reads past the image buffer`);
    if (!Number.isInteger(r.cx) || !Number.isInteger(r.cy) || r.cx < 0 || r.cy < 0 || r.cx >= r.width || r.cy >= r.height) {
      throw new Error(`gatherPatches: request ${n} centre (${r.cx}, ${r.cy}) is not a pixel of its ${r.width}x${r.height} image`);
    }
    const k = r.scale ?? 1;
    if (!(k > 0) || !Number.isFinite(k)) throw new Error(`gatherPatches: request ${n} scale must be a finite number > 0, got ${k}`);
    // (c, s) = scale * (cos, sin); exactly (1, 0), the integer window, only for angle 0 and scale 1
    f[0] = r.angle === 0 ? k : k * Math.cos(r.angle);
    f[1] = r.angle === 0 ? 0 : k * Math.sin(r.angle);
    req.set([r.offset, r.width, r.height, r.cx, r.cy, r.mirror ? 1 : 0, fu[0], fu[1]], n * 8);
  });
  const reqT = e.tensor([N * 8], req);
  const out = e.empty([N, 3, S, S]);
  const params = new Float32Array([norm.mean[0], norm.mean[1], norm.mean[2], norm.scale, norm.std[0], norm.std[1], norm.std[2], 1]);
  e.run(
    { name: 'gather_patches', source, constants: { S, N }, workgroups: grid1d(N * S * S, 64) },
    [images, reqT, out, { uniform: params }],
  );
  reqT.release();
  return out;
}
